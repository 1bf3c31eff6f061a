package server

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"
)

func mustMarshal(t testing.TB, v any) []byte {
	t.Helper()
	b, err := msgpack.Marshal(v)
	require.NoError(t, err)
	return b
}

func TestRenderArgs(t *testing.T) {
	long := strings.Repeat("é", 300)
	tests := []struct {
		name string
		give []byte
		want string
	}{
		{"scalars", mustMarshal(t, []any{"k", 7, -2, 1.5, true, nil}), `["k", 7, -2, 1.5, true, nil]`},
		{"map", mustMarshal(t, []any{map[string]int{"a": 1}}), `[{"a": 1}]`},
		{"binary", mustMarshal(t, []any{[]byte{1, 2, 3}}), `[<3 bytes>]`},
		{"nested deeper than 8", mustMarshal(t, []any{[]any{[]any{[]any{[]any{[]any{[]any{[]any{[]any{[]any{1}}}}}}}}}}), `[[[[[[[[[…]]]]]]]]]`},
		{"a list claiming 2^32-1 elements", []byte{0xdd, 0xff, 0xff, 0xff, 0xff, 0x01}, `[1 (malformed)`},
		{"a string claiming 4 GiB", []byte{0x91, 0xdb, 0xff, 0xff, 0xff, 0xff, 'a'}, `[ (malformed)`},
		{"cut at 256 bytes on a character boundary", mustMarshal(t, []any{long}), `["` + strings.Repeat("é", 127) + "…"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, renderArgs(tt.give))
		})
	}
}
