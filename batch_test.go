package manager_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

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

// TestBatchPerCallErrors checks that each call of a batch gets its own
// error, as it would alone, and that the others succeed.
func TestBatchPerCallErrors(t *testing.T) {
	ctx := testContext(t)
	m := startManager(t)
	d, err := manager.NewDict[string, int](ctx, m)
	require.NoError(t, err)
	words, err := manager.NewDict[string, string](ctx, m)
	require.NoError(t, err)
	q, err := manager.NewQueue[int](ctx, m, 0)
	require.NoError(t, err)
	require.NoError(t, words.Store(ctx, "w", "text"))

	b := manager.NewBatch(m)
	add := manager.BatchAdd(b, d, "n", 5)
	empty := manager.BatchTryGet(b, q)
	notNumber := manager.BatchCall[string](b, words.Proxy(), "Add", "w", 1)
	missing := manager.BatchLoad(b, d, "absent")
	again := manager.BatchAdd(b, d, "n", 2)
	require.NoError(t, b.Flush(ctx))

	sum, err := add.Get()
	require.NoError(t, err)
	assert.Equal(t, 5, sum)
	_, err = empty.Get()
	assert.ErrorIs(t, err, manager.ErrEmpty)
	_, err = notNumber.Get()
	assert.Error(t, err)
	got, err := missing.Get()
	require.NoError(t, err)
	assert.False(t, got.OK)
	sum, err = again.Get()
	require.NoError(t, err)
	assert.Equal(t, 7, sum)
}

// TestBatchWithdrawnAtDeadline checks that a blocking call in a batch
// makes Flush wait, that ctx's end withdraws it without taking an item
// put later, and that the calls before it kept their results.
func TestBatchWithdrawnAtDeadline(t *testing.T) {
	ctx := testContext(t)
	m := startManager(t)
	d, err := manager.NewDict[string, int](ctx, m)
	require.NoError(t, err)
	q, err := manager.NewQueue[int](ctx, m, 0)
	require.NoError(t, err)

	b := manager.NewBatch(m)
	store := manager.BatchStore(b, d, "k", 1)
	get := manager.BatchGet(b, q)
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	require.NoError(t, b.Flush(short))
	require.NoError(t, store.Err())
	_, err = get.Get()
	assert.ErrorIs(t, err, context.DeadlineExceeded)

	require.NoError(t, q.Put(ctx, 42))
	item, err := q.Get(ctx)
	require.NoError(t, err)
	assert.Equal(t, 42, item, "the withdrawn Get took nothing")
	v, ok, err := d.Load(ctx, "k")
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Equal(t, 1, v)
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

// TestBatchGetOfAnotherTypeKeepsTheItem: a batched Get, like Queue.Get,
// leaves an item that does not decode into its type in the queue.
func TestBatchGetOfAnotherTypeKeepsTheItem(t *testing.T) {
	ctx := testContext(t)
	m := startManager(t, manager.InProcess())
	ints, err := manager.OpenQueue[int](ctx, m, "batch-wrong-type", 0)
	require.NoError(t, err)
	require.NoError(t, ints.Put(ctx, 300))
	bytes, err := manager.OpenQueue[uint8](ctx, m, "batch-wrong-type", 0)
	require.NoError(t, err)
	b := manager.NewBatch(m)
	get := manager.BatchTryGet(b, bytes)
	require.NoError(t, b.Flush(ctx))
	_, err = get.Get()
	require.ErrorIs(t, err, manager.ErrWrongType)
	assert.Contains(t, err.Error(), "Queue.TryGet:")
	got, err := ints.TryGet(ctx)
	require.NoError(t, err, "the item is still there")
	assert.Equal(t, 300, got)
}
