package manager_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/goproc/manager"
	"github.com/goproc/manager/internal/testkit"
)

// Stall is a custom type whose Hold ignores its context: it blocks until
// Free is called, as a method stuck in a computation would.
type Stall struct {
	mu   sync.Mutex
	free chan struct{}
}

func newStall() *Stall { return &Stall{free: make(chan struct{})} }

// Hold blocks until Free, and never looks at a context.
func (s *Stall) Hold() string {
	s.mu.Lock()
	free := s.free
	s.mu.Unlock()
	<-free
	return "held"
}

// Free ends every Hold in progress.
func (s *Stall) Free() {
	s.mu.Lock()
	defer s.mu.Unlock()
	close(s.free)
	s.free = make(chan struct{})
}

func init() {
	manager.Register[*Stall]("deadline.Stall", newStall, manager.ConcurrentSafe())
}

// callDeadline is the deadline of the withdrawn calls in these tests.
const callDeadline = 50 * time.Millisecond

// maxOverrun is how late after its context's end a call may return. The
// design is cancelGrace (5 ms) plus scheduling; this is generous so that a
// loaded machine stays green, and still far below the 2 s it used to be.
const maxOverrun = 500 * time.Millisecond

// stopManager SIGSTOPs m's process until the returned func (see
// testkit.Stop).
func stopManager(t testing.TB, m *manager.Manager) (resume func()) {
	t.Helper()
	return testkit.Stop(t, m.Pid())
}

// overrun runs call under a context with callDeadline and returns how long
// after the deadline it returned, and its error.
func overrun(t testing.TB, call func(ctx context.Context) error) (time.Duration, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(testContext(t), callDeadline)
	defer cancel()
	deadline, _ := ctx.Deadline()
	err := call(ctx)
	return time.Since(deadline), err
}

// echoes checks that calls on m get their own replies.
func echoes(ctx context.Context, t testing.TB, m *manager.Manager) {
	t.Helper()
	f, err := manager.New(ctx, m, "Faulty")
	require.NoError(t, err)
	for _, want := range []string{"a", "b", "c", "d"} {
		got, err := manager.Call[string](ctx, f, "Echo", want)
		require.NoError(t, err)
		assert.Equal(t, want, got, "replies stay matched to their calls")
	}
}

// TestDeadlineHolds: a call returns within a few milliseconds of its
// context's end, whatever the server does, and the client works on.
func TestDeadlineHolds(t *testing.T) {
	t.Run("method ignoring its context", func(t *testing.T) {
		ctx := testContext(t)
		m := startManager(t)
		s, err := manager.New(ctx, m, "deadline.Stall")
		require.NoError(t, err)
		late, err := overrun(t, func(ctx context.Context) error {
			_, err := manager.Call[string](ctx, s, "Hold")
			return err
		})
		require.ErrorIs(t, err, context.DeadlineExceeded)
		t.Logf("returned %v after the deadline", late)
		assert.Less(t, late, maxOverrun)

		_, err = manager.Call[struct{}](ctx, s, "Free")
		require.NoError(t, err)
		m.WaitReconciled() // the late reply was read and discarded
		echoes(ctx, t, m)
	})
	t.Run("manager stopped", func(t *testing.T) {
		ctx := testContext(t)
		m := startManager(t)
		f, err := manager.New(ctx, m, "Faulty")
		require.NoError(t, err)
		resume := stopManager(t, m)
		late, err := overrun(t, func(ctx context.Context) error {
			_, err := manager.Call[string](ctx, f, "Echo", "x")
			return err
		})
		resume()
		require.ErrorIs(t, err, context.DeadlineExceeded)
		t.Logf("returned %v after the deadline", late)
		assert.Less(t, late, maxOverrun)

		m.WaitReconciled()
		echoes(ctx, t, m)
	})
	t.Run("cancelled while dialing a stopped manager", func(t *testing.T) {
		ctx := testContext(t)
		m := startManager(t)
		// A new client has no idle connection: its first call dials, and
		// the stopped manager never answers the handshake.
		c, err := manager.Connect(ctx, m.Addr().Network(), m.Addr().String(), m.AuthKey())
		require.NoError(t, err)
		t.Cleanup(func() { c.Close() })
		resume := stopManager(t, m)
		cctx, cancel := context.WithCancel(ctx)
		cancelledAt := make(chan time.Time, 1)
		timer := time.AfterFunc(callDeadline, func() { cancelledAt <- time.Now(); cancel() })
		defer timer.Stop()
		_, err = c.NumObjects(cctx)
		late := time.Since(<-cancelledAt)
		resume()
		require.ErrorIs(t, err, context.Canceled)
		t.Logf("returned %v after the cancel", late)
		assert.Less(t, late, maxOverrun)
	})
	t.Run("Proxy.Close on a stopped manager", func(t *testing.T) {
		ctx := testContext(t)
		m := startManager(t)
		before, err := m.NumObjects(ctx)
		require.NoError(t, err)
		p, err := manager.New(ctx, m, "Faulty")
		require.NoError(t, err)
		resume := stopManager(t, m)
		start := time.Now()
		require.NoError(t, p.Close())
		took := time.Since(start)
		resume()
		t.Logf("Proxy.Close took %v", took)
		assert.Less(t, took, time.Second, "Close waits at most 500 ms for the manager")

		m.WaitReconciled() // the decref sent by Close has been answered
		n, err := m.NumObjects(ctx)
		require.NoError(t, err)
		assert.Equal(t, before, n, "the object is freed once the manager answers")
	})
}

// TestWithdrawnCallOnStoppedManagerGivesBack: a call the manager runs only
// after its caller gave up (the manager was stopped) takes nothing from
// anyone: the late reply is given back.
func TestWithdrawnCallOnStoppedManagerGivesBack(t *testing.T) {
	tests := []struct {
		name    string
		prepare func(ctx context.Context, t *testing.T, m *manager.Manager) (call func(ctx context.Context) error, check func(ctx context.Context, t *testing.T))
	}{
		{"Queue.Get", func(ctx context.Context, t *testing.T, m *manager.Manager) (func(context.Context) error, func(context.Context, *testing.T)) {
			q, err := manager.NewQueue[int](ctx, m, 0)
			require.NoError(t, err)
			require.NoError(t, q.Put(ctx, 42))
			return func(ctx context.Context) error {
					_, err := q.Get(ctx)
					return err
				}, func(ctx context.Context, t *testing.T) {
					got, err := q.TryGet(ctx)
					require.NoError(t, err, "the item is back in the queue")
					assert.Equal(t, 42, got)
				}
		}},
		{"Queue.Put", func(ctx context.Context, t *testing.T, m *manager.Manager) (func(context.Context) error, func(context.Context, *testing.T)) {
			q, err := manager.NewQueue[int](ctx, m, 0)
			require.NoError(t, err)
			return func(ctx context.Context) error { return q.Put(ctx, 42) }, func(ctx context.Context, t *testing.T) {
				n, err := q.Len(ctx)
				require.NoError(t, err)
				assert.Equal(t, 0, n, "a Put that returned its ctx's error leaves no item behind")
			}
		}},
		{"JoinableQueue.Get", func(ctx context.Context, t *testing.T, m *manager.Manager) (func(context.Context) error, func(context.Context, *testing.T)) {
			q, err := manager.NewJoinableQueue[int](ctx, m, 0)
			require.NoError(t, err)
			require.NoError(t, q.Put(ctx, 42))
			return func(ctx context.Context) error {
					_, err := q.Get(ctx)
					return err
				}, func(ctx context.Context, t *testing.T) {
					got, err := q.TryGet(ctx)
					require.NoError(t, err, "the item is back in the queue")
					assert.Equal(t, 42, got)
					require.NoError(t, q.TaskDone(ctx))
					require.NoError(t, q.Join(ctx), "one TaskDone finishes it: the give back did not count it twice")
					assert.Error(t, q.TaskDone(ctx), "no delivery is left over")
				}
		}},
		{"RLock.Acquire", func(ctx context.Context, t *testing.T, m *manager.Manager) (func(context.Context) error, func(context.Context, *testing.T)) {
			l, err := manager.NewRLock(ctx, m)
			require.NoError(t, err)
			return l.Acquire, func(ctx context.Context, t *testing.T) {
				locked, err := l.Locked(ctx)
				require.NoError(t, err)
				assert.False(t, locked, "the lock is not held by nobody")
			}
		}},
		{"Lock.Acquire", func(ctx context.Context, t *testing.T, m *manager.Manager) (func(context.Context) error, func(context.Context, *testing.T)) {
			l, err := manager.NewLock(ctx, m)
			require.NoError(t, err)
			return l.Acquire, func(ctx context.Context, t *testing.T) {
				locked, err := l.Locked(ctx)
				require.NoError(t, err)
				assert.False(t, locked, "the lock is not held by nobody")
			}
		}},
		{"Dict.LoadAndDelete", func(ctx context.Context, t *testing.T, m *manager.Manager) (func(context.Context) error, func(context.Context, *testing.T)) {
			d, err := manager.NewDict[string, int](ctx, m)
			require.NoError(t, err)
			require.NoError(t, d.Store(ctx, "k", 7))
			return func(ctx context.Context) error {
					_, _, err := d.LoadAndDelete(ctx, "k")
					return err
				}, func(ctx context.Context, t *testing.T) {
					v, ok, err := d.Load(ctx, "k")
					require.NoError(t, err)
					assert.True(t, ok, "the pair is back")
					assert.Equal(t, 7, v)
				}
		}},
		{"List.Pop", func(ctx context.Context, t *testing.T, m *manager.Manager) (func(context.Context) error, func(context.Context, *testing.T)) {
			l, err := manager.NewList(ctx, m, 1, 2, 3)
			require.NoError(t, err)
			return func(ctx context.Context) error {
					_, err := l.Pop(ctx, 1)
					return err
				}, func(ctx context.Context, t *testing.T) {
					all, err := l.Copy(ctx)
					require.NoError(t, err)
					assert.Equal(t, []int{1, 2, 3}, all, "the element is back in its place")
				}
		}},
		{"Semaphore.Acquire", func(ctx context.Context, t *testing.T, m *manager.Manager) (func(context.Context) error, func(context.Context, *testing.T)) {
			s, err := manager.NewSemaphore(ctx, m, 1)
			require.NoError(t, err)
			return s.Acquire, func(ctx context.Context, t *testing.T) {
				v, err := s.Value(ctx)
				require.NoError(t, err)
				assert.Equal(t, 1, v, "the permit came back")
			}
		}},
	}
	for _, tt := range tests {
		for _, shared := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/shared=%v", tt.name, shared), func(t *testing.T) {
				ctx := testContext(t)
				m := startManager(t)
				call, check := tt.prepare(ctx, t, m)
				if shared {
					// A call in flight sends the next one to the
					// multiplexed connection, whose reader settles the
					// late reply.
					gate, err := manager.New(ctx, m, "Gate")
					require.NoError(t, err)
					held := blockOne(t, ctx, m, m.Client, gateWait(gate), 0)
					defer func() {
						_, err := manager.Call[struct{}](ctx, gate, "Open")
						require.NoError(t, err)
						require.NoError(t, <-held)
					}()
				}
				shared0 := m.PoolStats().SharedCalls
				resume := stopManager(t, m)
				late, err := overrun(t, call)
				resume()
				require.ErrorIs(t, err, context.DeadlineExceeded)
				assert.Less(t, late, maxOverrun)
				if shared {
					require.Equal(t, shared0+1, m.PoolStats().SharedCalls, "the call did not go to the multiplexed connection")
				}
				m.WaitReconciled()
				check(ctx, t)
			})
		}
	}
}

// TestWithdrawnGetUnderRacingPutLosesNothing: Gets withdrawn at their
// deadline while Puts race them never lose an item: every item is
// received by exactly one Get or is still in the queue.
func TestWithdrawnGetUnderRacingPutLosesNothing(t *testing.T) {
	ctx := testContext(t)
	m := startManager(t)
	q, err := manager.NewQueue[int](ctx, m, 0)
	require.NoError(t, err)
	const rounds = 300
	got := make(map[int]int)
	withdrawn := 0
	for i := range rounds {
		// Deadlines from 0.1 to 2 ms, so that the Put lands before,
		// at and after the Get's end.
		short, cancel := context.WithTimeout(ctx, time.Duration(100+(i%20)*100)*time.Microsecond)
		done := make(chan struct{})
		var item int
		var gerr error
		go func() {
			defer close(done)
			item, gerr = q.Get(short)
		}()
		if i%2 == 1 {
			<-short.Done() // half the Puts land right at the Get's deadline
		}
		require.NoError(t, q.Put(ctx, i))
		<-done
		cancel()
		switch {
		case gerr == nil:
			got[item]++
		case errors.Is(gerr, context.DeadlineExceeded):
			withdrawn++
		default:
			require.NoError(t, gerr)
		}
	}
	m.WaitReconciled()
	for {
		item, err := q.TryGet(ctx)
		if errors.Is(err, manager.ErrEmpty) {
			break
		}
		require.NoError(t, err)
		got[item]++
	}
	t.Logf("%d of %d Gets withdrawn", withdrawn, rounds)
	for i := range rounds {
		assert.Equal(t, 1, got[i], "item %d", i)
	}
	assert.Len(t, got, rounds)
}

// TestWithdrawnAcquireNeverLeavesLockHeld: an Acquire withdrawn at its
// deadline while the holder releases never leaves the lock held by
// nobody.
func TestWithdrawnAcquireNeverLeavesLockHeld(t *testing.T) {
	ctx := testContext(t)
	m := startManager(t)
	other, err := manager.Connect(ctx, m.Addr().Network(), m.Addr().String(), m.AuthKey())
	require.NoError(t, err)
	t.Cleanup(func() { other.Close() })
	mine, err := manager.OpenLock(ctx, m, "deadline.lock")
	require.NoError(t, err)
	theirs, err := manager.OpenLock(ctx, other, "deadline.lock")
	require.NoError(t, err)
	const rounds = 200
	withdrawn := 0
	for i := range rounds {
		require.NoError(t, theirs.Acquire(ctx))
		short, cancel := context.WithTimeout(ctx, time.Duration(100+(i%20)*100)*time.Microsecond)
		done := make(chan error, 1)
		go func() { done <- mine.Acquire(short) }()
		if i%2 == 1 {
			<-short.Done() // half the Releases come right at the deadline
		}
		require.NoError(t, theirs.Release(ctx))
		err := <-done
		cancel()
		if err == nil {
			require.NoError(t, mine.Release(ctx))
			continue
		}
		require.ErrorIs(t, err, context.DeadlineExceeded)
		withdrawn++
		m.WaitReconciled()
		locked, err := mine.Locked(ctx)
		require.NoError(t, err)
		require.False(t, locked, "round %d: a withdrawn Acquire left the lock held", i)
	}
	t.Logf("%d of %d Acquires withdrawn", withdrawn, rounds)
}

// TestTimedOutWaitHoldsTheLock: a Condition.Wait whose deadline passes
// while another session holds the lock returns only once it holds the
// lock again, as documented, however late the manager answers: the
// client awaits the reply past the deadline (settle.go) instead of
// withdrawing after cancelGrace, so the caller's Release that follows
// cannot race the manager's restore.
func TestTimedOutWaitHoldsTheLock(t *testing.T) {
	ctx := testContext(t)
	m := startManager(t)
	other, err := manager.Connect(ctx, m.Addr().Network(), m.Addr().String(), m.AuthKey())
	require.NoError(t, err)
	t.Cleanup(func() { other.Close() })
	c, err := manager.OpenCondition(ctx, m, "deadline.cond", nil)
	require.NoError(t, err)
	peer, err := manager.OpenCondition(ctx, other, "deadline.cond", nil)
	require.NoError(t, err)
	require.NoError(t, c.Acquire(ctx))

	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	waited := make(chan error, 1)
	go func() { waited <- c.Wait(short) }()
	require.NoError(t, peer.Acquire(ctx), "the waiting Wait released the lock")
	resume := stopManager(t, m)
	<-short.Done()
	// The manager is stopped past the Wait's deadline: it cannot have
	// taken the lock back, so Wait must not return yet. A client that
	// withdrew returned cancelGrace (5 ms) after the deadline.
	select {
	case err := <-waited:
		t.Fatalf("Wait returned (%v) while the peer held the lock", err)
	case <-time.After(200 * time.Millisecond): // sleep-ok: a bounded look for an event that must not happen
	}
	resume()
	require.NoError(t, peer.Release(ctx))
	err = <-waited
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.NotErrorIs(t, err, manager.ErrNotHeld, "the lock was taken back")
	ok, err := peer.TryAcquire(ctx)
	require.NoError(t, err)
	assert.False(t, ok, "the timed-out Wait holds the lock again")
	require.NoError(t, c.Release(ctx), "the caller holds the lock")
}

// BenchmarkCallWithDeadline is BenchmarkCall's seq/8B with a deadline on
// the call's context: the request then carries its timeout, and the
// server reads the clock once for it.
func BenchmarkCallWithDeadline(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	m := startManager(b)
	f, err := manager.New(ctx, m, "Faulty")
	require.NoError(b, err)
	b.ReportAllocs()
	lat := make([]time.Duration, 0, 1<<16)
	for b.Loop() {
		t := time.Now()
		if _, err := manager.Call[string](ctx, f, "Echo", "12345678"); err != nil {
			b.Fatal(err)
		}
		if len(lat) < cap(lat) {
			lat = append(lat, time.Since(t))
		}
	}
	reportPercentiles(b, lat)
}
