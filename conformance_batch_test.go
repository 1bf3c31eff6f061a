package manager_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/goproc/manager"
)

// The Batch subtests of TestConformance: a batch means the same on every
// engine (one pipeline of requests to a manager, one pipeline of scripts
// to Redis).

// confBatchPerCall: each call of a batch gets its own result or error,
// as it would alone, in the order queued.
func confBatchPerCall(ctx context.Context, t *testing.T, e *confEnv) {
	d, err := manager.NewDict[string, int](ctx, e.s)
	require.NoError(t, err)
	words, err := manager.NewDict[string, string](ctx, e.s)
	require.NoError(t, err)
	q, err := manager.NewQueue[int](ctx, e.s, 0)
	require.NoError(t, err)
	v, err := manager.NewValue(ctx, e.s, 10)
	require.NoError(t, err)
	require.NoError(t, words.Store(ctx, "w", "text"))

	b := manager.NewBatch(e.s)
	add := manager.BatchAdd(b, d, "n", 5)
	empty := manager.BatchTryGet(b, q)
	notNumber := manager.BatchCall[string](b, words.Proxy(), "Add", "w", 1)
	missing := manager.BatchLoad(b, d, "absent")
	store := manager.BatchStore(b, d, "k", 7)
	stored := manager.BatchLoad(b, d, "k")
	again := manager.BatchAdd(b, d, "n", 2)
	vadd := manager.BatchValueAdd(b, v, 5)
	noMethod := manager.BatchCall[int](b, d.Proxy(), "NoSuchMethod")
	assert.Equal(t, 9, b.Len())
	require.NoError(t, b.Flush(ctx))
	assert.Equal(t, 0, b.Len())

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
	require.NoError(t, store.Err())
	got, err = stored.Get()
	require.NoError(t, err)
	assert.Equal(t, manager.LoadResult[int]{Value: 7, OK: true}, got, "a Load queued after a Store sees it")
	sum, err = again.Get()
	require.NoError(t, err)
	assert.Equal(t, 7, sum)
	vsum, err := vadd.Get()
	require.NoError(t, err)
	assert.Equal(t, 15, vsum)
	_, err = noMethod.Get()
	assert.ErrorIs(t, err, manager.ErrNoSuchMethod)

	// A proxy of another session is refused by the batch, not sent.
	peer, err := manager.NewDict[string, int](ctx, e.other(t))
	require.NoError(t, err)
	foreign := manager.BatchLoad(b, peer, "k")
	mine := manager.BatchLoad(b, d, "k")
	require.NoError(t, b.Flush(ctx))
	assert.ErrorContains(t, foreign.Err(), "another session")
	require.NoError(t, mine.Err())
}

// confBatchBlocking: a blocking call in a batch waits for its item while
// the calls after it run, and Flush returns once it has it.
func confBatchBlocking(ctx context.Context, t *testing.T, e *confEnv) {
	q, err := manager.OpenQueue[string](ctx, e.s, e.name("bq"), 0)
	require.NoError(t, err)
	peerQ, err := manager.OpenQueue[string](ctx, e.other(t), e.name("bq"), 0)
	require.NoError(t, err)
	d, err := manager.OpenDict[string, int](ctx, e.s, e.name("bd"))
	require.NoError(t, err)
	peerD, err := manager.OpenDict[string, int](ctx, e.other(t), e.name("bd"))
	require.NoError(t, err)

	b := manager.NewBatch(e.s)
	get := manager.BatchGet(b, q)
	store := manager.BatchStore(b, d, "after the get", 1)
	flushed := within(func() error { return b.Flush(ctx) })
	// The Store queued after the waiting Get is done while the Get
	// still waits: the peer sees it, and only then puts the item.
	for {
		_, ok, err := peerD.Load(ctx, "after the get")
		require.NoError(t, err)
		if ok {
			break
		}
		select {
		case err := <-flushed:
			require.FailNow(t, "Flush returned before the item was put", "%v", err)
		case <-ctx.Done():
			require.FailNow(t, "the Store after a waiting Get never ran")
		case <-time.After(time.Millisecond): // sleep-ok: polls the peer's view
		}
	}
	require.NoError(t, peerQ.Put(ctx, "item"))
	require.NoError(t, recvErr(ctx, t, flushed))
	require.NoError(t, store.Err())
	item, err := get.Get()
	require.NoError(t, err)
	assert.Equal(t, "item", item)
}

// confBatchWithdrawn: ctx's end withdraws a waiting call of a batch
// without taking an item put later; the calls before it keep their
// results.
func confBatchWithdrawn(ctx context.Context, t *testing.T, e *confEnv) {
	d, err := manager.NewDict[string, int](ctx, e.s)
	require.NoError(t, err)
	q, err := manager.NewQueue[int](ctx, e.s, 0)
	require.NoError(t, err)

	b := manager.NewBatch(e.s)
	store := manager.BatchStore(b, d, "k", 1)
	get := manager.BatchGet(b, q)
	start := time.Now()
	require.NoError(t, b.Flush(shortly(ctx, t, 100*time.Millisecond)))
	late := time.Since(start) - 100*time.Millisecond
	assert.Less(t, late, time.Second, "Flush returned %v after its deadline", late)
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

// confBatchWrongType: a batched Get, like Queue.Get, leaves an item
// that does not decode into its type in the queue.
func confBatchWrongType(ctx context.Context, t *testing.T, e *confEnv) {
	ints, err := manager.OpenQueue[int](ctx, e.s, e.name("bwq"), 0)
	require.NoError(t, err)
	require.NoError(t, ints.Put(ctx, 300))
	bytes, err := manager.OpenQueue[uint8](ctx, e.s, e.name("bwq"), 0)
	require.NoError(t, err)
	b := manager.NewBatch(e.s)
	get := manager.BatchTryGet(b, bytes)
	require.NoError(t, b.Flush(ctx))
	_, err = get.Get()
	require.ErrorIs(t, err, manager.ErrWrongType)
	assert.Contains(t, err.Error(), "Queue.TryGet:")
	got, err := ints.TryGet(ctx)
	require.NoError(t, err, "the item is still there")
	assert.Equal(t, 300, got)
}

// confBatchLarge: a batch of thousands of calls on objects spread over
// every node (on a Cluster, the pipeline is split per node) completes,
// every future with its own result.
func confBatchLarge(ctx context.Context, t *testing.T, e *confEnv) {
	const dicts, perDict = 8, 250
	ds := make([]*manager.Dict[int, string], dicts)
	for i := range ds {
		var err error
		ds[i], err = manager.NewDict[int, string](ctx, e.s)
		require.NoError(t, err)
	}
	value := strings.Repeat("v", 1024)
	b := manager.NewBatch(e.s)
	var stores []*manager.Future[struct{}]
	for k := range perDict {
		for _, d := range ds {
			stores = append(stores, manager.BatchStore(b, d, k, value))
		}
	}
	require.NoError(t, b.Flush(ctx))
	for i, f := range stores {
		require.NoError(t, f.Err(), "store %d", i)
	}
	var loads []*manager.Future[manager.LoadResult[string]]
	for k := range perDict {
		for _, d := range ds {
			loads = append(loads, manager.BatchLoad(b, d, k))
		}
	}
	require.NoError(t, b.Flush(ctx))
	for i, f := range loads {
		got, err := f.Get()
		require.NoError(t, err, "load %d", i)
		require.Equal(t, manager.LoadResult[string]{Value: value, OK: true}, got, "load %d", i)
	}
	for _, d := range ds {
		n, err := d.Len(ctx)
		require.NoError(t, err)
		assert.Equal(t, perDict, n)
	}
}
