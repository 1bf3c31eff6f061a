package manager_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/goproc/manager"
)

func init() {
	manager.RegisterWorker("queue.produce", func(ctx context.Context, c *manager.Client, args manager.Args) error {
		var q *manager.Queue[int]
		var n int
		if err := args.Decode(&q, &n); err != nil {
			return err
		}
		for i := 1; i <= n; i++ {
			if err := q.Put(ctx, i); err != nil {
				return err
			}
		}
		return nil
	})
	manager.RegisterWorker("queue.consume", func(ctx context.Context, c *manager.Client, args manager.Args) error {
		var q *manager.Queue[int]
		var n int
		var total *manager.Value[int]
		if err := args.Decode(&q, &n, &total); err != nil {
			return err
		}
		for i := 0; i < n; i++ {
			item, err := q.Get(ctx)
			if err != nil {
				return err
			}
			if _, err := total.Add(ctx, item); err != nil {
				return err
			}
		}
		return nil
	})
	manager.RegisterWorker("queue.get-and-die", func(ctx context.Context, c *manager.Client, args manager.Args) error {
		var q *manager.JoinableQueue[string]
		if err := args.Decode(&q); err != nil {
			return err
		}
		_, err := q.Get(ctx) // and exit without TaskDone
		return err
	})
	manager.RegisterWorker("queue.work", func(ctx context.Context, c *manager.Client, args manager.Args) error {
		var q *manager.JoinableQueue[int]
		var done *manager.Value[int]
		if err := args.Decode(&q, &done); err != nil {
			return err
		}
		for {
			item, err := q.Get(ctx)
			if err != nil {
				return err
			}
			if item < 0 {
				return q.TaskDone(ctx) // the stop sign
			}
			if _, err := done.Add(ctx, 1); err != nil {
				return err
			}
			if err := q.TaskDone(ctx); err != nil {
				return err
			}
		}
	})
}

func TestQueueMethods(t *testing.T) {
	ctx := testContext(t)
	m := startManager(t, manager.InProcess())
	q, err := manager.NewQueue[string](ctx, m, 3)
	require.NoError(t, err)

	empty, err := q.Empty(ctx)
	require.NoError(t, err)
	assert.True(t, empty)
	_, err = q.TryGet(ctx)
	assert.ErrorIs(t, err, manager.ErrEmpty)
	require.NoError(t, q.Put(ctx, "a"))
	require.NoError(t, q.TryPut(ctx, "b"))
	require.NoError(t, q.Put(ctx, "c"))
	assert.ErrorIs(t, q.TryPut(ctx, "d"), manager.ErrFull)
	full, err := q.Full(ctx)
	require.NoError(t, err)
	assert.True(t, full)
	n, err := q.Len(ctx)
	require.NoError(t, err)
	assert.Equal(t, 3, n)
	capacity, err := q.Cap(ctx)
	require.NoError(t, err)
	assert.Equal(t, 3, capacity)

	got, err := q.Get(ctx)
	require.NoError(t, err)
	assert.Equal(t, "a", got)
	got, err = q.TryGet(ctx)
	require.NoError(t, err)
	assert.Equal(t, "b", got)
	empty, err = q.Empty(ctx)
	require.NoError(t, err)
	assert.False(t, empty)
}

func TestQueueTimedOutCallsAreWithdrawn(t *testing.T) {
	ctx := testContext(t)
	m := startManager(t, manager.InProcess())
	q, err := manager.NewQueue[int](ctx, m, 1)
	require.NoError(t, err)

	_, err = q.Get(expiring(t))
	assert.ErrorIs(t, err, context.DeadlineExceeded, "Get on an empty queue")
	require.NoError(t, q.Put(ctx, 1))
	n, err := q.Len(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, n, "the withdrawn Get consumed nothing")

	err = q.Put(expiring(t), 2)
	assert.ErrorIs(t, err, context.DeadlineExceeded, "Put on a full queue")
	got, err := q.Get(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, got)
	_, err = q.TryGet(ctx)
	assert.ErrorIs(t, err, manager.ErrEmpty, "the withdrawn Put added nothing")

	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	_, err = q.Get(cancelled)
	assert.ErrorIs(t, err, context.Canceled)
}

// TestQueueGetsGivingUpLoseNothing races Gets that time out against
// Puts: every item is either got or still in the queue, never lost to a
// Get that gave up at the moment the item reached it.
func TestQueueGetsGivingUpLoseNothing(t *testing.T) {
	ctx := testContext(t)
	m := startManager(t, manager.InProcess())
	q, err := manager.NewQueue[int](ctx, m, 0)
	require.NoError(t, err)
	const items = 300

	var mu sync.Mutex
	got := map[int]int{}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for c := 0; c < 4; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				deadline := time.Now().Add(time.Millisecond)
				short, cancel := context.WithDeadline(ctx, deadline)
				item, err := q.Get(short)
				cancel()
				// A Get whose deadline passed while it dialled a new
				// connection may fail with the dial's timeout rather
				// than the context's: fine here, it consumed nothing.
				gaveUp := errors.Is(err, context.DeadlineExceeded) || !time.Now().Before(deadline)
				if err == nil {
					mu.Lock()
					got[item]++
					mu.Unlock()
				} else if !gaveUp {
					t.Errorf("Get: %v", err)
					return
				}
			}
		}()
	}
	for i := 0; i < items; i++ {
		require.NoError(t, q.Put(ctx, i))
	}
	close(stop)
	wg.Wait()
	m.WaitReconciled() // a late reply's give-back runs in the background
	for {
		item, err := q.TryGet(ctx)
		if errors.Is(err, manager.ErrEmpty) {
			break
		}
		require.NoError(t, err)
		got[item]++
	}
	assert.Len(t, got, items)
	for item, times := range got {
		assert.Equal(t, 1, times, "item %d", item)
	}
}

func TestQueueProducerAndConsumerProcesses(t *testing.T) {
	ctx := testContext(t)
	m := startManager(t)
	q, err := manager.NewQueue[int](ctx, m, 3)
	require.NoError(t, err)
	total, err := manager.NewValue(ctx, m, 0)
	require.NoError(t, err)

	consumed := startWorker(ctx, t, m, "queue.consume", q, 50, total)
	produced := startWorker(ctx, t, m, "queue.produce", q, 50)
	produced()
	consumed()
	sum, err := total.Load(ctx)
	require.NoError(t, err)
	assert.Equal(t, 50*51/2, sum)
}

func TestJoinableQueueTaskDoneAndJoin(t *testing.T) {
	ctx := testContext(t)
	m := startManager(t, manager.InProcess())
	q, err := manager.NewJoinableQueue[int](ctx, m, 0)
	require.NoError(t, err)
	require.NoError(t, q.Join(ctx), "nothing unfinished")
	assert.ErrorIs(t, q.TaskDone(ctx), manager.ErrBadArguments, "task_done() called too many times")

	done, err := manager.NewValue(ctx, m, 0)
	require.NoError(t, err)
	for i := 0; i < 20; i++ {
		require.NoError(t, q.Put(ctx, i))
	}
	require.NoError(t, q.Put(ctx, -1))
	require.NoError(t, q.Put(ctx, -1))
	err = q.Join(expiring(t))
	assert.ErrorIs(t, err, context.DeadlineExceeded, "no worker yet")

	waits := []func(){
		startWorker(ctx, t, m, "queue.work", q, done),
		startWorker(ctx, t, m, "queue.work", q, done),
	}
	require.NoError(t, q.Join(ctx))
	n, err := done.Load(ctx)
	require.NoError(t, err)
	assert.Equal(t, 20, n, "Join returned after every item was done")
	for _, wait := range waits {
		wait()
	}
}

// TestJoinableQueueRedeliversItemsOfADeadProcess checks at-least-once
// delivery: an item got by a process that exits without TaskDone goes
// back to the queue.
func TestJoinableQueueRedeliversItemsOfADeadProcess(t *testing.T) {
	ctx := testContext(t)
	m := startManager(t, manager.InProcess())
	q, err := manager.NewJoinableQueue[string](ctx, m, 0)
	require.NoError(t, err)
	require.NoError(t, q.Put(ctx, "job"))

	runWorkers(ctx, t, m, 1, "queue.get-and-die", q)
	got, err := q.Get(ctx) // waits until the manager has seen the worker go
	require.NoError(t, err)
	assert.Equal(t, "job", got)
	require.NoError(t, q.TaskDone(ctx))
	require.NoError(t, q.Join(ctx))
}
