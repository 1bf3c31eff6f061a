package manager_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/goproc/manager"
)

// TestDictRawPathChecksArguments checks that the Dict methods the server
// calls without reflection check their arguments as the reflective path
// does, and return the same results, through the untyped Call.
func TestDictRawPathChecksArguments(t *testing.T) {
	ctx := testContext(t)
	m := startManager(t)
	d, err := manager.NewDict[string, int](ctx, m)
	require.NoError(t, err)
	t.Cleanup(func() { d.Close() })
	p := d.Proxy()

	tests := []struct {
		name   string
		method string
		args   []any
	}{
		{"Load without a key", "Load", nil},
		{"Load with two keys", "Load", []any{"a", "b"}},
		{"Store with a key only", "Store", []any{"a"}},
		{"Swap with three arguments", "Swap", []any{"a", 1, 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := manager.Call[any](ctx, p, tt.method, tt.args...)
			assert.ErrorIs(t, err, manager.ErrBadArguments)
		})
	}

	_, err = manager.Call[struct{}](ctx, p, "Store", "k", 7)
	require.NoError(t, err)
	type loadResult struct {
		//lint:ignore U1000 msgpack reads this field's tag (as_array), never its value
		_msgpack struct{} `msgpack:",as_array"`
		Value    msgpack.RawMessage
		OK       bool
	}
	got, err := manager.Call[loadResult](ctx, p, "Load", "k")
	require.NoError(t, err)
	assert.True(t, got.OK)
	assert.Equal(t, msgpack.RawMessage{7}, got.Value)
	has, err := manager.Call[bool](ctx, p, "Has", "missing")
	require.NoError(t, err)
	assert.False(t, has)
	deleted, err := manager.Call[bool](ctx, p, "Delete", "k")
	require.NoError(t, err)
	assert.True(t, deleted)
}
