package manager_test

import (
	"context"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/goproc/manager"
)

func init() {
	// queue.iter-consume runs consumers goroutines that range over the
	// queue's Iter, add each item to sum and acknowledge it; it returns
	// nil only if every loop ended cleanly (the queue was shut down).
	manager.RegisterWorker("queue.iter-consume", func(ctx context.Context, c *manager.Client, args manager.Args) error {
		var q *manager.JoinableQueue[int]
		var sum *manager.Value[int]
		var consumers int
		if err := args.Decode(&q, &sum, &consumers); err != nil {
			return err
		}
		errc := make(chan error, consumers)
		for range consumers {
			go func() {
				errc <- func() error {
					for item, err := range q.Iter(ctx) {
						if err != nil {
							return err
						}
						if _, err := sum.Add(ctx, item); err != nil {
							return err
						}
						if err := q.TaskDone(ctx); err != nil {
							return err
						}
					}
					return nil
				}()
			}()
		}
		var first error
		for range consumers {
			if err := <-errc; err != nil && first == nil {
				first = err
			}
		}
		return first
	})
}

// After Shutdown, Put fails, and Get and Iter drain what is left, then
// report the end.
func TestQueueShutdownDrains(t *testing.T) {
	for _, mode := range managerModes {
		t.Run(mode.Name, func(t *testing.T) {
			ctx := testContext(t)
			m := startManager(t, mode.Opts...)
			q, err := manager.NewQueue[int](ctx, m, 5)
			require.NoError(t, err)
			for i := 1; i <= 4; i++ {
				require.NoError(t, q.Put(ctx, i))
			}
			down, err := q.IsShutDown(ctx)
			require.NoError(t, err)
			assert.False(t, down)

			require.NoError(t, q.Shutdown(ctx, false))
			require.NoError(t, q.Shutdown(ctx, false), "twice is fine")
			down, err = q.IsShutDown(ctx)
			require.NoError(t, err)
			assert.True(t, down)
			assert.ErrorIs(t, q.Put(ctx, 5), manager.ErrShutDown)
			assert.ErrorIs(t, q.TryPut(ctx, 5), manager.ErrShutDown)

			got, err := q.Get(ctx)
			require.NoError(t, err)
			assert.Equal(t, 1, got)
			var rest []int
			for item, err := range q.Iter(ctx) {
				require.NoError(t, err)
				rest = append(rest, item)
			}
			assert.Equal(t, []int{2, 3, 4}, rest)
			_, err = q.TryGet(ctx)
			assert.ErrorIs(t, err, manager.ErrShutDown, "not ErrEmpty")
			_, err = q.Get(ctx)
			assert.ErrorIs(t, err, manager.ErrShutDown)
		})
	}
}

// Consumers blocked in Iter in a forked worker are woken by Shutdown and
// end cleanly, after every item was consumed exactly once.
func TestQueueShutdownWakesForkedConsumers(t *testing.T) {
	ctx := testContext(t)
	m := startManager(t)
	q, err := manager.NewJoinableQueue[int](ctx, m, 0)
	require.NoError(t, err)
	sum, err := manager.NewValue(ctx, m, 0)
	require.NoError(t, err)
	const consumers, items = 4, 50
	w, err := m.Fork(ctx, "queue.iter-consume", q, sum, consumers)
	require.NoError(t, err)

	want := 0
	for i := 1; i <= items; i++ {
		require.NoError(t, q.Put(ctx, i))
		want += i
	}
	// Once Join returns every item is acknowledged, and the consumers
	// are back in Get on an empty queue (or on their way to it).
	require.NoError(t, q.Join(ctx))
	require.NoError(t, q.Shutdown(ctx, false))
	require.NoError(t, waitProcess(ctx, t, w), "every consumer's loop ends cleanly")
	got, err := sum.Load(ctx)
	require.NoError(t, err)
	assert.Equal(t, want, got)
}

// Shutdown(immediate) wakes a blocked Put and discards the items left;
// a JoinableQueue counts them done, so Join waits only for the items got.
func TestQueueShutdownImmediate(t *testing.T) {
	ctx := testContext(t)
	m := startManager(t, manager.InProcess())
	q, err := manager.NewJoinableQueue[string](ctx, m, 2)
	require.NoError(t, err)
	require.NoError(t, q.Put(ctx, "a"))
	require.NoError(t, q.Put(ctx, "b"))
	got, err := q.Get(ctx)
	require.NoError(t, err)
	assert.Equal(t, "a", got)
	require.NoError(t, q.Put(ctx, "c"))

	var wg sync.WaitGroup
	putErr := make(chan error, 1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		putErr <- q.Put(ctx, "d") // the queue is full: waits
	}()
	require.NoError(t, q.Shutdown(ctx, true))
	wg.Wait()
	// The Put either waited and was woken, or came after the shutdown:
	// both fail the same way, and "d" never went in.
	assert.ErrorIs(t, <-putErr, manager.ErrShutDown)
	n, err := q.Len(ctx)
	require.NoError(t, err)
	assert.Equal(t, 0, n, "b and c discarded")
	_, err = q.TryGet(ctx)
	assert.ErrorIs(t, err, manager.ErrShutDown)

	joined := make(chan error, 1)
	go func() { joined <- q.Join(ctx) }()
	require.NoError(t, q.TaskDone(ctx), "the item got before the shutdown")
	assert.NoError(t, <-joined)
}

// Iter yields any error but ErrShutDown once, as its last pair, and
// consumes nothing after a break.
func TestQueueIterErrorsAndBreak(t *testing.T) {
	ctx := testContext(t)
	m := startManager(t, manager.InProcess())
	q, err := manager.NewQueue[int](ctx, m, 0)
	require.NoError(t, err)

	var errs []error
	for _, err := range q.Iter(expiring(t)) {
		errs = append(errs, err)
	}
	require.Len(t, errs, 1, "one error, then the end")
	assert.ErrorIs(t, errs[0], context.DeadlineExceeded)

	for i := 1; i <= 3; i++ {
		require.NoError(t, q.Put(ctx, i))
	}
	for item, err := range q.Iter(ctx) {
		require.NoError(t, err)
		assert.Equal(t, 1, item)
		break
	}
	n, err := q.Len(ctx)
	require.NoError(t, err)
	assert.Equal(t, 2, n, "a break consumes nothing more")

	strs, err := manager.OpenQueue[string](ctx, m, "wrong-type", 0)
	require.NoError(t, err)
	ints, err := manager.OpenQueue[int](ctx, m, "wrong-type", 0)
	require.NoError(t, err)
	require.NoError(t, strs.Put(ctx, "x"))
	errs = errs[:0]
	for _, err := range ints.Iter(ctx) {
		errs = append(errs, err)
	}
	require.Len(t, errs, 1)
	assert.ErrorIs(t, errs[0], manager.ErrWrongType)

	var nilQueue *manager.Queue[int]
	for _, err := range nilQueue.Iter(ctx) {
		assert.ErrorIs(t, err, manager.ErrNilProxy)
	}
}
