package manager_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/goproc/manager"
)

// TestBatchLargerThanSocketBuffers checks that a batch whose requests
// and replies are far larger than the socket buffers completes (the
// client reads while it writes) and that every future has its result.
func TestBatchLargerThanSocketBuffers(t *testing.T) {
	ctx := testContext(t)
	m := startManager(t)
	d, err := manager.NewDict[int, string](ctx, m)
	require.NoError(t, err)

	const n = 10000
	value := strings.Repeat("v", 1024)
	b := manager.NewBatch(m)
	stores := make([]*manager.Future[struct{}], n)
	for i := range n {
		stores[i] = manager.BatchStore(b, d, i, value)
	}
	require.NoError(t, b.Flush(ctx))
	for i, f := range stores {
		require.NoError(t, f.Err(), "store %d", i)
	}
	loads := make([]*manager.Future[manager.LoadResult[string]], n)
	for i := range n {
		loads[i] = manager.BatchLoad(b, d, i)
	}
	require.NoError(t, b.Flush(ctx))
	for i, f := range loads {
		got, err := f.Get()
		require.NoError(t, err, "load %d", i)
		require.True(t, got.OK, "load %d", i)
		require.Equal(t, value, got.Value, "load %d", i)
	}
	size, err := d.Len(ctx)
	require.NoError(t, err)
	assert.Equal(t, n, size)
}

// TestBatchNotFlushed checks that a future read before Flush says so.
func TestBatchNotFlushed(t *testing.T) {
	ctx := testContext(t)
	m := startManager(t, manager.InProcess())
	d, err := manager.NewDict[string, int](ctx, m)
	require.NoError(t, err)
	f := manager.BatchLoad(manager.NewBatch(m), d, "k")
	_, err = f.Get()
	assert.ErrorIs(t, err, manager.ErrNotSupported)
	assert.Contains(t, fmt.Sprint(err), "Flush")
}

// TestDictLoadMany checks that LoadMany gives, in key order, what Load
// gives for each key, present or not.
func TestDictLoadMany(t *testing.T) {
	ctx := testContext(t)
	m := startManager(t, manager.InProcess())
	d, err := manager.NewDict[int, string](ctx, m)
	require.NoError(t, err)
	require.NoError(t, d.Store(ctx, 1, "one"))
	require.NoError(t, d.Store(ctx, 3, "three"))

	got, err := d.LoadMany(ctx, []int{3, 2, 1})
	require.NoError(t, err)
	require.Len(t, got, 3)
	assert.Equal(t, "three", got[0].Value)
	assert.True(t, got[0].OK)
	assert.False(t, got[1].OK)
	assert.Equal(t, "one", got[2].Value)
	assert.True(t, got[2].OK)
}
