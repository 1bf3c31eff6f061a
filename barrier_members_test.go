package manager_test

import (
	"context"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/goproc/manager"
)

func init() {
	// barrier-rounds joins a barrier, reports on joined, waits for start,
	// waits at the barrier rounds times and reports on done; then it
	// exits normally or, with hang, waits to be killed.
	manager.RegisterWorker("barrier-rounds", func(ctx context.Context, c *manager.Client, args manager.Args) error {
		var b *manager.Barrier
		var rounds int
		var joined, done *manager.Proxy
		var start *manager.Event
		var hang bool
		if err := args.Decode(&b, &rounds, &joined, &start, &done, &hang); err != nil {
			return err
		}
		if err := b.Join(ctx); err != nil {
			return err
		}
		if _, err := manager.Call[int64](ctx, joined, "Add", int64(1)); err != nil {
			return err
		}
		if err := start.Wait(ctx); err != nil {
			return err
		}
		for range rounds {
			if _, err := b.Wait(ctx); err != nil {
				return err // reaches Process.Wait, where errors.Is sees ErrBrokenBarrier
			}
		}
		if _, err := manager.Call[int64](ctx, done, "Add", int64(1)); err != nil {
			return err
		}
		if hang {
			<-ctx.Done()
		}
		return nil
	})
}

// barrierRun is a barrier of parties and what the barrier-rounds workers
// report on.
type barrierRun struct {
	b            *manager.Barrier
	joined, done *manager.Proxy
}

func newBarrierRun(ctx context.Context, t testing.TB, m *manager.Manager, parties int) barrierRun {
	t.Helper()
	b, err := manager.NewBarrier(ctx, m, parties)
	require.NoError(t, err)
	joined, err := manager.New(ctx, m, "Counter")
	require.NoError(t, err)
	done, err := manager.New(ctx, m, "Counter")
	require.NoError(t, err)
	return barrierRun{b, joined, done}
}

// fork starts a barrier-rounds worker.
func (r barrierRun) fork(ctx context.Context, t testing.TB, m *manager.Manager, rounds int, start *manager.Event, hang bool) *manager.Process {
	t.Helper()
	p, err := m.Fork(ctx, "barrier-rounds", r.b, rounds, r.joined, start, r.done, hang)
	require.NoError(t, err)
	return p
}

// count returns one of r's counters.
func (r barrierRun) count(ctx context.Context, t testing.TB, counter *manager.Proxy) int64 {
	t.Helper()
	n, err := manager.Call[int64](ctx, counter, "Get")
	require.NoError(t, err)
	return n
}

// TestBarrierMembersExitAfterTheirLastWait has members exit normally
// after their last Wait, as workers do, one of them while the others are
// in the middle of their rounds: the barrier is not broken, the members
// left go on using it, and once all are gone new ones use it afresh.
func TestBarrierMembersExitAfterTheirLastWait(t *testing.T) {
	ctx := testContext(t)
	m := startManager(t)
	r := newBarrierRun(ctx, t, m, 2)
	start, err := manager.NewEvent(ctx, m)
	require.NoError(t, err)
	late, err := manager.NewEvent(ctx, m)
	require.NoError(t, err)

	// short passes 2 rounds with long and exits; late then passes 2
	// more with long. All three joined first, so that no round ever
	// depends on the one that exits.
	short := r.fork(ctx, t, m, 2, start, false)
	long := r.fork(ctx, t, m, 4, start, false)
	second := r.fork(ctx, t, m, 2, late, false)
	waitUntil(t, 10*time.Second, "every worker joined", func() bool { return r.count(ctx, t, r.joined) == 3 })
	require.NoError(t, start.Set(ctx))
	require.NoError(t, waitDone(ctx, short))
	require.NoError(t, late.Set(ctx))
	assert.NoError(t, waitDone(ctx, long))
	assert.NoError(t, waitDone(ctx, second))
	assert.Equal(t, int64(3), r.count(ctx, t, r.done), "every worker did all its rounds")
	broken, err := r.b.Broken(ctx)
	require.NoError(t, err)
	assert.False(t, broken)

	// Every member is gone: new ones use the barrier afresh.
	procs := []*manager.Process{r.fork(ctx, t, m, 2, start, false), r.fork(ctx, t, m, 2, start, false)}
	for _, p := range procs {
		assert.NoError(t, waitDone(ctx, p))
	}
	assert.Equal(t, int64(5), r.count(ctx, t, r.done))
}

// TestBarrierMemberKilledBetweenRounds SIGKILLs a member after its last
// Wait while the others wait for it in the next round: they get
// ErrBrokenBarrier instead of waiting for ever.
func TestBarrierMemberKilledBetweenRounds(t *testing.T) {
	ctx := testContext(t)
	m := startManager(t)
	r := newBarrierRun(ctx, t, m, 3)
	start, err := manager.NewEvent(ctx, m)
	require.NoError(t, err)
	require.NoError(t, start.Set(ctx))
	victim := r.fork(ctx, t, m, 1, start, true)
	others := []*manager.Process{r.fork(ctx, t, m, 2, start, false), r.fork(ctx, t, m, 2, start, false)}
	waitUntil(t, 10*time.Second, "the victim is done, the others wait in the second round", func() bool {
		n, err := r.b.NWaiting(ctx)
		return err == nil && n == 2 && r.count(ctx, t, r.done) == 1
	})

	require.NoError(t, victim.Signal(syscall.SIGKILL))
	for _, p := range others {
		assert.ErrorIs(t, waitDone(ctx, p), manager.ErrBrokenBarrier)
	}
	var exit *manager.ExitError
	require.ErrorAs(t, waitDone(ctx, victim), &exit)
	assert.Equal(t, syscall.SIGKILL, exit.Signal)
}
