package manager

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"
)

// TestEncodeScalarMatchesEncode checks that the typed proxies' unboxed
// encoding of scalars sends the bytes msgpack's Encode would.
func TestEncodeScalarMatchesEncode(t *testing.T) {
	type named int
	tests := []struct {
		name   string
		give   any
		encode func(enc *msgpack.Encoder) error
		scalar bool
	}{
		{"int small", 7, func(enc *msgpack.Encoder) error { return encodeScalar(enc, 7) }, true},
		{"int negative", -100000, func(enc *msgpack.Encoder) error { return encodeScalar(enc, -100000) }, true},
		{"int large", 1 << 40, func(enc *msgpack.Encoder) error { return encodeScalar(enc, 1<<40) }, true},
		{"uint", uint(300), func(enc *msgpack.Encoder) error { return encodeScalar(enc, uint(300)) }, true},
		{"string", "héllo", func(enc *msgpack.Encoder) error { return encodeScalar(enc, "héllo") }, true},
		{"bool", true, func(enc *msgpack.Encoder) error { return encodeScalar(enc, true) }, true},
		{"float32", float32(1.5), func(enc *msgpack.Encoder) error { return encodeScalar(enc, float32(1.5)) }, true},
		{"float64", 2.25, func(enc *msgpack.Encoder) error { return encodeScalar(enc, 2.25) }, true},
		{"named int", named(5), func(enc *msgpack.Encoder) error { return encodeScalar(enc, named(5)) }, false},
		{"slice", []int{1}, func(enc *msgpack.Encoder) error { return encodeScalar(enc, []int{1}) }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want, err := msgpack.Marshal(tt.give)
			require.NoError(t, err)
			var buf bytes.Buffer
			require.NoError(t, tt.encode(msgpack.NewEncoder(&buf)))
			assert.Equal(t, want, buf.Bytes())
			assert.Equal(t, tt.scalar, isScalar(tt.give))
		})
	}
}

// TestVersionedValueDecoder checks versionedValue's decoder on the
// encodings msgpack's own struct decoding accepts (Loaded's decoder,
// which shares ArrayStructLen, is tested in internal/builtin).
func TestVersionedValueDecoder(t *testing.T) {
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
	var v versionedValue[int]
	require.NoError(t, msgpack.Unmarshal(arrayOf(42, uint64(7), true), &v))
	assert.Equal(t, versionedValue[int]{Value: 42, Version: 7, OK: true}, v)
	require.NoError(t, msgpack.Unmarshal(mapOf(map[string]any{"Value": 1, "Version": 2, "OK": false}), &v))
	assert.Equal(t, versionedValue[int]{Value: 1, Version: 2}, v)
	assert.Error(t, msgpack.Unmarshal(arrayOf(1, 2), &v))
}
