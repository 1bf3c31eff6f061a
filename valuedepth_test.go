package manager_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/goproc/manager"
)

// node is a recursive type: a value can point back to itself.
type node struct {
	Name string
	Next *node
}

// nestedSlices returns []any nested n deep around "leaf".
func nestedSlices(n int) any {
	var v any = "leaf"
	for range n {
		v = []any{v}
	}
	return v
}

// TestCyclicValues stores values that refer to themselves: each call
// returns an error satisfying errors.Is(err, ErrBadArguments) instead of
// overflowing the stack (which kills the process), and the session goes
// on working.
func TestCyclicValues(t *testing.T) {
	ctx := testContext(t)
	m := startManager(t, manager.InProcess())
	cyclicMap := map[string]any{"a": 1}
	cyclicMap["self"] = cyclicMap
	cyclicSlice := []any{1, nil}
	cyclicSlice[1] = cyclicSlice
	cyclicNode := &node{Name: "loop"}
	cyclicNode.Next = cyclicNode

	anyDict, err := manager.NewDict[string, any](ctx, m)
	require.NoError(t, err)
	nodeQueue, err := manager.NewQueue[*node](ctx, m, 0)
	require.NoError(t, err)
	ns, err := manager.NewNamespace(ctx, m)
	require.NoError(t, err)
	tests := []struct {
		name string
		give func() error
	}{
		{"Dict.Store cyclic map", func() error { return anyDict.Store(ctx, "k", cyclicMap) }},
		{"Dict.Store cyclic slice", func() error { return anyDict.Store(ctx, "k", cyclicSlice) }},
		{"Queue.Put cyclic struct pointer", func() error { return nodeQueue.Put(ctx, cyclicNode) }},
		{"Namespace.Set cyclic map", func() error { return ns.Set(ctx, "x", cyclicMap) }},
		{"NewValue cyclic struct pointer", func() error { _, err := manager.NewValue(ctx, m, cyclicNode); return err }},
		{"NewList cyclic map", func() error { _, err := manager.NewList[any](ctx, m, cyclicMap); return err }},
		{"Call cyclic map", func() error { _, err := manager.Call[any](ctx, anyDict.Proxy(), "Store", "k", cyclicMap); return err }},
		{"too deep by one", func() error { return anyDict.Store(ctx, "k", nestedSlices(61)) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.give()
			require.ErrorIs(t, err, manager.ErrBadArguments)
			assert.Contains(t, err.Error(), "cyclic")
		})
	}

	// The deepest value allowed goes and comes back, through the deepest
	// reply (Items wraps each value twice).
	deepest := nestedSlices(60)
	require.NoError(t, anyDict.Store(ctx, "deep", deepest))
	items, err := anyDict.Items(ctx)
	require.NoError(t, err)
	require.Len(t, items, 1)
	assert.Equal(t, deepest, items[0].Value)
}
