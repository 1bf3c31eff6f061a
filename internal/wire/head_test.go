package wire

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"
)

// FuzzCanonical: AppendCanonical never panics, accepts what Scan accepts,
// keeps the value's length, and its output is valid and already
// canonical. (It may accept more than Scan: it copies extension payloads
// as they are, where Scan also checks that a proxy's is well formed.)
func FuzzCanonical(f *testing.F) {
	for _, v := range []any{nil, 1, "abc", []any{1, "x"}, map[string]any{"b": 1, "a": []int{2}}, map[int]string{3: "c", 1: "a"}} {
		b, err := msgpack.Marshal(v)
		require.NoError(f, err)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		out, rest, err := AppendCanonical(nil, b)
		if Scan(b, nil) != nil {
			return
		}
		require.NoError(t, err)
		assert.Empty(t, rest)
		assert.Len(t, out, len(b))
		require.NoError(t, Scan(out, nil))
		again, _, err := AppendCanonical(nil, out)
		require.NoError(t, err)
		assert.Equal(t, out, again)
	})
}

func TestAppendCanonicalSortsMapEntries(t *testing.T) {
	b, err := msgpack.Marshal(map[string]int{"b": 2, "a": 1, "c": 3})
	require.NoError(t, err)
	out, rest, err := AppendCanonical(nil, b)
	require.NoError(t, err)
	assert.Empty(t, rest)
	assert.Equal(t, []byte{0x83, 0xa1, 'a', 1, 0xa1, 'b', 2, 0xa1, 'c', 3}, out)
}
