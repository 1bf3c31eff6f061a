package manager_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/goproc/manager"
)

func init() {
	manager.RegisterWorker("event.wait", func(ctx context.Context, c *manager.Client, args manager.Args) error {
		var ev *manager.Event
		var woken *manager.Queue[string]
		if err := args.Decode(&ev, &woken); err != nil {
			return err
		}
		if err := ev.Wait(ctx); err != nil {
			return err
		}
		return woken.Put(ctx, "woken")
	})
	manager.RegisterWorker("barrier.wait", func(ctx context.Context, c *manager.Client, args manager.Args) error {
		var b *manager.Barrier
		var indexes *manager.Queue[int]
		if err := args.Decode(&b, &indexes); err != nil {
			return err
		}
		i, err := b.Wait(ctx)
		if err != nil {
			return err
		}
		return indexes.Put(ctx, i)
	})
	// barrier.round waits for one round, leaves the barrier if told to,
	// and exits.
	manager.RegisterWorker("barrier.round", func(ctx context.Context, c *manager.Client, args manager.Args) error {
		var b *manager.Barrier
		var leave bool
		if err := args.Decode(&b, &leave); err != nil {
			return err
		}
		if _, err := b.Wait(ctx); err != nil {
			return err
		}
		if leave {
			return b.Leave(ctx)
		}
		return nil
	})
}

func TestEventMethods(t *testing.T) {
	ctx := testContext(t)
	m := startManager(t, manager.InProcess())
	ev, err := manager.NewEvent(ctx, m)
	require.NoError(t, err)

	set, err := ev.IsSet(ctx)
	require.NoError(t, err)
	assert.False(t, set)
	assert.ErrorIs(t, ev.Wait(expiring(t)), context.DeadlineExceeded)
	require.NoError(t, ev.Set(ctx))
	set, err = ev.IsSet(ctx)
	require.NoError(t, err)
	assert.True(t, set)
	require.NoError(t, ev.Wait(ctx), "returns at once when set")
	require.NoError(t, ev.Clear(ctx))
	set, err = ev.IsSet(ctx)
	require.NoError(t, err)
	assert.False(t, set)
}

func TestEventWakesOtherProcess(t *testing.T) {
	ctx := testContext(t)
	m := startManager(t, manager.InProcess())
	ev, err := manager.OpenEvent(ctx, m, "go")
	require.NoError(t, err)
	woken, err := manager.NewQueue[string](ctx, m, 0)
	require.NoError(t, err)
	wait := startWorker(ctx, t, m, "event.wait", ev, woken)
	_, err = woken.Get(expiring(t))
	assert.ErrorIs(t, err, context.DeadlineExceeded, "the worker waits for the event")
	require.NoError(t, ev.Set(ctx))
	got, err := woken.Get(ctx)
	require.NoError(t, err)
	assert.Equal(t, "woken", got)
	wait()
}

func TestBarrierMethods(t *testing.T) {
	ctx := testContext(t)
	m := startManager(t, manager.InProcess())
	b, err := manager.NewBarrier(ctx, m, 2)
	require.NoError(t, err)

	parties, err := b.Parties(ctx)
	require.NoError(t, err)
	assert.Equal(t, 2, parties)
	waiting, err := b.NWaiting(ctx)
	require.NoError(t, err)
	assert.Equal(t, 0, waiting)

	_, err = b.Wait(expiring(t))
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	broken, err := b.Broken(ctx)
	require.NoError(t, err)
	assert.True(t, broken, "a timed-out Wait breaks the barrier, as in Python")
	_, err = b.Wait(ctx)
	assert.ErrorIs(t, err, manager.ErrBrokenBarrier)

	require.NoError(t, b.Reset(ctx))
	broken, err = b.Broken(ctx)
	require.NoError(t, err)
	assert.False(t, broken)
	require.NoError(t, b.Abort(ctx))
	_, err = b.Wait(ctx)
	assert.ErrorIs(t, err, manager.ErrBrokenBarrier)
	require.NoError(t, b.Reset(ctx))

	// Two goroutines of one process are two parties.
	indexes := make(chan int, 2)
	for i := 0; i < 2; i++ {
		go func() {
			i, err := b.Wait(ctx)
			assert.NoError(t, err)
			indexes <- i
		}()
	}
	assert.ElementsMatch(t, []int{0, 1}, []int{<-indexes, <-indexes})

	_, err = manager.NewBarrier(ctx, m, 0)
	assert.ErrorIs(t, err, manager.ErrBadArguments)
}

func TestBarrierAcrossProcesses(t *testing.T) {
	ctx := testContext(t)
	m := startManager(t)
	b, err := manager.OpenBarrier(ctx, m, "start", 4)
	require.NoError(t, err)
	indexes, err := manager.NewQueue[int](ctx, m, 0)
	require.NoError(t, err)

	var waits []func()
	for i := 0; i < 3; i++ {
		waits = append(waits, startWorker(ctx, t, m, "barrier.wait", b, indexes))
	}
	mine, err := b.Wait(ctx)
	require.NoError(t, err)
	for _, wait := range waits {
		wait()
	}
	got := []int{mine}
	for i := 0; i < 3; i++ {
		n, err := indexes.Get(ctx)
		require.NoError(t, err)
		got = append(got, n)
	}
	assert.ElementsMatch(t, []int{0, 1, 2, 3}, got)
}

func TestBarrierBrokenByDeadProcess(t *testing.T) {
	ctx := testContext(t)
	m := startManager(t, manager.InProcess())
	b, err := manager.NewBarrier(ctx, m, 3)
	require.NoError(t, err)
	indexes, err := manager.NewQueue[int](ctx, m, 0)
	require.NoError(t, err)

	p, err := m.Fork(ctx, "barrier.wait", b, indexes)
	require.NoError(t, err)
	assert.Eventually(t, func() bool {
		n, err := b.NWaiting(ctx)
		return err == nil && n == 1
	}, 10*time.Second, time.Millisecond, "the worker waits at the barrier")
	require.NoError(t, p.Signal(killSignal))
	assert.Error(t, waitProcess(ctx, t, p))

	_, err = b.Wait(ctx)
	assert.ErrorIs(t, err, manager.ErrBrokenBarrier)
}

// TestBarrierMemberExitsAfterItsLastWait has a worker pass one round
// with the parent and exit without Leave: as in Python, the barrier is
// not broken, and a newcomer takes the worker's place in the next round.
// (The newcomer joins first, so that the round the parent starts never
// depends on the worker, however late the manager sees its end.)
func TestBarrierMemberExitsAfterItsLastWait(t *testing.T) {
	ctx := testContext(t)
	m := startManager(t, manager.InProcess())
	b, err := manager.OpenBarrier(ctx, m, "b", 2)
	require.NoError(t, err)
	wait := startWorker(ctx, t, m, "barrier.round", b, false)
	_, err = b.Wait(ctx)
	require.NoError(t, err)
	wait()

	newcomer, err := manager.OpenBarrier(ctx, secondSession(t, m), "b", 2)
	require.NoError(t, err)
	require.NoError(t, newcomer.Join(ctx))
	indexes := make(chan int, 1)
	go func() {
		i, err := newcomer.Wait(ctx)
		assert.NoError(t, err)
		indexes <- i
	}()
	mine, err := b.Wait(ctx)
	require.NoError(t, err, "the member's exit after its last Wait does not break the barrier")
	assert.ElementsMatch(t, []int{0, 1}, []int{mine, <-indexes})
}

// TestBarrierMemberThatLeftExits has a worker pass one round with the
// parent, Leave, and exit: a newcomer takes its place in the next round.
// (That the manager ignores the end of a session that left, however late
// it sees it, is checked exactly by internal/builtin's
// TestBarrierMemberEnds.)
func TestBarrierMemberThatLeftExits(t *testing.T) {
	ctx := testContext(t)
	m := startManager(t, manager.InProcess())
	b, err := manager.OpenBarrier(ctx, m, "b", 2)
	require.NoError(t, err)
	wait := startWorker(ctx, t, m, "barrier.round", b, true)
	_, err = b.Wait(ctx)
	require.NoError(t, err)
	wait()

	newcomer, err := manager.OpenBarrier(ctx, secondSession(t, m), "b", 2)
	require.NoError(t, err)
	require.NoError(t, newcomer.Join(ctx))
	indexes := make(chan int, 1)
	go func() {
		i, err := newcomer.Wait(ctx)
		assert.NoError(t, err)
		indexes <- i
	}()
	mine, err := b.Wait(ctx)
	require.NoError(t, err)
	assert.ElementsMatch(t, []int{0, 1}, []int{mine, <-indexes})
	broken, err := b.Broken(ctx)
	require.NoError(t, err)
	assert.False(t, broken)
}
