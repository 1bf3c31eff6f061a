package server

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/goproc/manager/internal/builtin"
)

// TestSetRawMethodsRejectsUnfitMethods checks that only methods taking
// encoded arguments alone can be given a rawMethod.
func TestSetRawMethodsRejectsUnfitMethods(t *testing.T) {
	tests := []struct {
		name   string
		typeid string
		method string
	}{
		{"unregistered type", "rawcall.NoSuchType", "Load"},
		{"no such method", builtin.TypeDict, "NoSuchMethod"},
		{"a typed parameter", builtin.TypeDict, "Update"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Panics(t, func() {
				setRawMethods(tt.typeid, map[string]rawMethod{tt.method: nil})
			})
		})
	}
}

// TestLoadReplyEncodesAsMsgpack checks that a Load's reply, encoded
// without reflection, has the bytes msgpack gives the LoadResult.
func TestLoadReplyEncodesAsMsgpack(t *testing.T) {
	tests := []struct {
		name string
		give builtin.LoadResult
	}{
		{"absent", builtin.LoadResult{}},
		{"present", builtin.LoadResult{Value: msgpack.RawMessage{0xa1, 'x'}, OK: true}},
		{"empty value", builtin.LoadResult{Value: msgpack.RawMessage{}, OK: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want, err := msgpack.Marshal(tt.give)
			require.NoError(t, err)
			var buf bytes.Buffer
			require.NoError(t, loadReply(tt.give).encodeReply(msgpack.NewEncoder(&buf)))
			assert.Equal(t, want, buf.Bytes())
		})
	}
}
