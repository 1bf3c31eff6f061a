package manager

import (
	"github.com/goproc/manager/internal/wire"
	"reflect"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"
)

// TestCanonicalEncoding checks that values equal in Go encode to equal
// bytes, whatever order their maps iterate in.
func TestCanonicalEncoding(t *testing.T) {
	big := map[string]int{}
	for i := 0; i < 64; i++ {
		big[string(rune('A'+i))] = i
	}
	type nested struct {
		M map[int][]map[string]bool
		S []any
	}
	tests := []struct {
		name string
		give any
	}{
		{"flat map", big},
		{"nested maps", nested{
			M: map[int][]map[string]bool{1: {{"a": true, "b": false, "c": true}}, 2: nil, 3: {{}}},
			S: []any{map[string]any{"x": 1, "y": []int{1, 2}, "z": map[string]int{"p": 1, "q": 2}}, "s", 1.5},
		}},
		{"extension inside", map[string]time.Time{"a": time.Unix(1, 0), "b": time.Unix(2, 0), "c": time.Unix(3, 0)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			first, err := canonicalEncoding(tt.give)
			require.NoError(t, err)
			for i := 0; i < 20; i++ {
				again, err := canonicalEncoding(tt.give)
				require.NoError(t, err)
				assert.Equal(t, first, again)
			}
			// The canonical bytes still decode to the same value.
			plain, err := msgpack.Marshal(tt.give)
			require.NoError(t, err)
			assert.Len(t, first, len(plain))
			a := reflect.New(reflect.TypeOf(tt.give))
			b := reflect.New(reflect.TypeOf(tt.give))
			require.NoError(t, msgpack.Unmarshal(first, a.Interface()))
			require.NoError(t, msgpack.Unmarshal(plain, b.Interface()))
			assert.Equal(t, b.Interface(), a.Interface())
		})
	}
}

func TestCanonicalEncodingRejectsCutValues(t *testing.T) {
	whole, err := msgpack.Marshal(map[string][]string{"k": {"abc", "de"}, "l": nil})
	require.NoError(t, err)
	for n := 0; n < len(whole); n++ {
		_, _, err := wire.AppendCanonical(nil, whole[:n])
		assert.Error(t, err, "cut at %d of %d bytes", n, len(whole))
	}
}

func TestNeedsCanonical(t *testing.T) {
	type plain struct {
		A int
		B []string
		C *plain
	}
	type withMap struct{ M map[string]int }
	tests := []struct {
		name string
		give any
		want bool
	}{
		{"int", 0, false},
		{"string", "", false},
		{"recursive struct", plain{}, false},
		{"map", map[string]int{}, true},
		{"struct with map", withMap{}, true},
		{"slice of struct with map", []withMap{}, true},
		{"proxy", (*Proxy)(nil), false},
		{"typed proxy", (*List[int])(nil), false},
		{"self-encoding", time.Time{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, needsCanonical(reflect.TypeOf(tt.give)))
		})
	}
}
