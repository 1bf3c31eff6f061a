package builtin

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"
)

// TestLoadedDecodesAsMsgpack checks Loaded's decoder against msgpack's
// own decoding of the same struct, for every encoding msgpack accepts.
func TestLoadedDecodesAsMsgpack(t *testing.T) {
	arrayOf := func(vs ...any) []byte {
		b, err := msgpack.Marshal(vs)
		require.NoError(t, err)
		return b
	}
	mapOf := func(m map[string]any) []byte {
		b, err := msgpack.Marshal(m)
		require.NoError(t, err)
		return b
	}
	tests := []struct {
		name    string
		give    []byte
		want    Loaded[string]
		wantErr bool
	}{
		{"array", arrayOf("v", true), Loaded[string]{Value: "v", OK: true}, false},
		{"nil", []byte{0xc0}, Loaded[string]{}, false},
		{"empty array", arrayOf(), Loaded[string]{}, false},
		{"map", mapOf(map[string]any{"Value": "m", "OK": true}), Loaded[string]{Value: "m", OK: true}, false},
		{"wrong length", arrayOf("v"), Loaded[string]{}, true},
		{"wrong type", arrayOf(1, true), Loaded[string]{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Loaded[string]{Value: "old", OK: true}
			err := msgpack.Unmarshal(tt.give, &r)
			// msgpack's own decoding of the same bytes, for reference.
			ref := loadedFields[string]{Value: "old", OK: true}
			refErr := msgpack.Unmarshal(tt.give, &ref)
			assert.Equal(t, refErr != nil, err != nil)
			if tt.wantErr {
				assert.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, r)
			assert.Equal(t, Loaded[string](ref), r)
		})
	}
}

// TestLoadResultEncodesAsMsgpack checks that a LoadResult, encoded
// without reflection, has the bytes msgpack gives the same struct, and
// decodes back into a Loaded.
func TestLoadResultEncodesAsMsgpack(t *testing.T) {
	tests := []struct {
		name string
		give LoadResult
	}{
		{"absent", LoadResult{}},
		{"present", LoadResult{Value: msgpack.RawMessage{0xa1, 'x'}, OK: true}},
		{"empty value", LoadResult{Value: msgpack.RawMessage{}, OK: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want, err := msgpack.Marshal(loadedFields[msgpack.RawMessage](tt.give))
			require.NoError(t, err)
			var buf bytes.Buffer
			require.NoError(t, tt.give.EncodeMsgpack(msgpack.NewEncoder(&buf)))
			assert.Equal(t, want, buf.Bytes())
			got, err := msgpack.Marshal(tt.give)
			require.NoError(t, err)
			assert.Equal(t, want, got, "msgpack.Marshal uses EncodeMsgpack")
		})
	}
}
