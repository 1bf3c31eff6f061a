package systest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/goproc/manager"
)

// Fault tests: a process dies holding something, a consumer dies holding
// an item, the manager dies, a parent dies. Every process is real, and
// every kill is a SIGKILL, which no process can see coming.

// goneReport is what a process journals about one call that failed
// because the manager died.
type goneReport struct {
	Pid  int
	What string // "blocked", "busy", "ctx" or "later"
	Gone bool   // errors.Is(err, manager.ErrManagerGone)
	Err  string
	At   int64 // wall clock, ns: comparable across processes
}

func newGoneReport(what string, err error) goneReport {
	r := goneReport{Pid: os.Getpid(), What: what, Gone: errors.Is(err, manager.ErrManagerGone), At: time.Now().UnixNano()}
	if err != nil {
		r.Err = err.Error()
	}
	return r
}

// goneCalls makes, through slow's client, a call that blocks in the
// manager (Hold) and a loop of quick calls (Echo), and waits for watched
// to close (why then says why); it returns once all three have ended,
// with a report on each, then a report on one later call. ready is called
// once the loop has had a reply.
func goneCalls(ctx context.Context, slow *manager.Proxy, watched <-chan struct{}, why func() error, ready func()) []goneReport {
	reports := make(chan goneReport, 3)
	started := make(chan struct{})
	go func() {
		_, err := manager.Call[struct{}](ctx, slow, "Hold")
		reports <- newGoneReport("blocked", err)
	}()
	go func() {
		for first := true; ; first = false {
			_, err := manager.Call[string](ctx, slow, "Echo", "x")
			if first {
				close(started)
			}
			if err != nil {
				reports <- newGoneReport("busy", err)
				return
			}
		}
	}()
	go func() {
		<-watched
		reports <- newGoneReport("ctx", why())
	}()
	<-started
	ready()
	out := []goneReport{<-reports, <-reports, <-reports}
	_, err := manager.Call[string](context.Background(), slow, "Echo", "later")
	return append(out, newGoneReport("later", err))
}

// workerFaultsGone is the worker role "faults.gone" (childroles_test.go registers it).
func workerFaultsGone(ctx context.Context, c *manager.Client, args manager.Args) error {
	var slow, ready *manager.Proxy
	var j journal
	if err := args.Decode(&slow, &ready, &j); err != nil {
		return err
	}
	w, err := openJournal(j)
	if err != nil {
		return err
	}
	defer w.Close()
	// The worker's ctx ends because the manager went away, and its
	// cause says so.
	cause := func() error { return context.Cause(ctx) }
	reports := goneCalls(ctx, slow, ctx.Done(), cause, func() {
		manager.Call[int64](ctx, ready, "Add", int64(1))
	})
	for _, r := range reports {
		if err := w.add(r); err != nil {
			return err
		}
	}
	return fmt.Errorf("worker stopped: %w", context.Cause(ctx))
}

// TestManagerGoneInEveryProcess kills the manager while the parent, a
// second client and two workers each have a call blocked in it, a loop
// of calls running, and (the workers) a ctx to watch: every pending call,
// and every later one, fails with ErrManagerGone and nothing else, within
// 1 s in every process; the workers' ctx ends with ErrManagerGone as its
// cause, and Process.Wait says why the worker stopped.
func TestManagerGoneInEveryProcess(t *testing.T) {
	checkNoFDLeak(t)
	ctx := testContext(t)
	m := startManager(t)
	slow, err := manager.New(ctx, m, "FaultsSlow")
	require.NoError(t, err)
	ready, err := manager.New(ctx, m, "Counter")
	require.NoError(t, err)
	j := newJournal(t, "gone")

	const workers = 2
	var procs []*manager.Process
	for range workers {
		p, err := m.Fork(ctx, "faults.gone", slow, ready, j)
		require.NoError(t, err)
		procs = append(procs, p)
	}
	other, err := manager.Connect(ctx, m.Addr().Network(), m.Addr().String(), m.AuthKey())
	require.NoError(t, err)
	defer other.Close()
	otherSlow, err := manager.New(ctx, other, "FaultsSlow")
	require.NoError(t, err)

	// The parent's and the second client's calls: Hold on their own
	// objects, so the blocked count below adds up.
	type local struct {
		name    string
		reports chan []goneReport
	}
	locals := []local{{"parent", make(chan []goneReport, 1)}, {"client", make(chan []goneReport, 1)}}
	localReady := make(chan struct{}, 2)
	go func() {
		locals[0].reports <- goneCalls(ctx, slow, m.Done(), m.Err, func() { localReady <- struct{}{} })
	}()
	go func() {
		locals[1].reports <- goneCalls(ctx, otherSlow, other.Done(), other.Err, func() { localReady <- struct{}{} })
	}()
	<-localReady
	<-localReady
	waitUntil(t, 10*time.Second, "every worker's calls are under way", func() bool {
		n, err := manager.Call[int64](ctx, ready, "Get")
		return err == nil && n == workers
	})
	waitUntil(t, 10*time.Second, "every Hold is blocked in the manager", func() bool {
		a, err1 := manager.Call[int64](ctx, slow, "Holding")
		b, err2 := manager.Call[int64](ctx, otherSlow, "Holding")
		return err1 == nil && err2 == nil && a == workers+1 && b == 1
	})

	killed := time.Now()
	require.NoError(t, syscall.Kill(m.Pid(), syscall.SIGKILL))

	var all []goneReport
	for _, l := range locals {
		select {
		case rs := <-l.reports:
			for i := range rs {
				rs[i].What = l.name + " " + rs[i].What
			}
			all = append(all, rs...)
		case <-ctx.Done():
			t.Fatalf("%s: a call hung after the manager died", l.name)
		}
	}
	for _, p := range procs {
		err := waitDone(ctx, p)
		require.ErrorIs(t, err, manager.ErrProcessExited)
		assert.ErrorIs(t, err, manager.ErrManagerGone, "Process.Wait says why the worker stopped")
		t.Logf("detect: worker %d exited %v after the manager was killed", p.Pid(), time.Since(killed))
	}
	for _, r := range readJournal[goneReport](t, j) {
		r.What = fmt.Sprintf("worker %d %s", r.Pid, r.What)
		all = append(all, r)
	}

	require.Len(t, all, 4*(workers+2))
	var slowest time.Duration
	for _, r := range all {
		took := time.Duration(r.At - killed.UnixNano())
		slowest = max(slowest, took)
		assert.True(t, r.Gone, "%s: got %q, want ErrManagerGone", r.What, r.Err)
		assert.Less(t, took, time.Second, "%s: failed %v after the kill", r.What, took)
	}
	t.Logf("detect: %d calls and contexts in %d processes ended, the slowest %v after the kill", len(all), workers+1, slowest)
}

// workerFaultsHold is the worker role "faults.hold" (childroles_test.go registers it).
func workerFaultsHold(ctx context.Context, c *manager.Client, args manager.Args) error {
	var kind string
	var ready *manager.Event
	if err := args.Decode(&kind, &ready); err != nil {
		return err
	}
	var err error
	switch kind {
	case "Lock":
		var l *manager.Lock
		if err = args.Decode(&kind, &ready, &l); err == nil {
			err = l.Acquire(ctx)
		}
	case "RLock":
		var l *manager.RLock
		if err = args.Decode(&kind, &ready, &l); err == nil {
			err = errors.Join(l.Acquire(ctx), l.Acquire(ctx)) // two levels
		}
	case "Semaphore":
		var s *manager.Semaphore
		if err = args.Decode(&kind, &ready, &s); err == nil {
			err = s.Acquire(ctx)
		}
	case "Condition":
		var cond *manager.Condition
		if err = args.Decode(&kind, &ready, &cond); err == nil {
			err = cond.Acquire(ctx)
		}
	case "Barrier":
		var b *manager.Barrier
		if err = args.Decode(&kind, &ready, &b); err == nil {
			if err = ready.Set(ctx); err == nil {
				_, err = b.Wait(ctx)
			}
		}
		return err
	default:
		return fmt.Errorf("unknown kind %q", kind)
	}
	if err != nil {
		return err
	}
	if err := ready.Set(ctx); err != nil {
		return err
	}
	<-ctx.Done() // until killed
	return nil
}

// deadHolderCase is one kind of thing a process can die holding.
type deadHolderCase struct {
	name string
	// setup makes the object the worker takes; the worker holds it once
	// held returns true. next is the parent's call that waits for it, and
	// check looks at the object afterwards.
	setup func(ctx context.Context, t *testing.T, m *manager.Manager) (obj any, held func() bool, next func() error, check func())
	want  error // what next returns: the holder's death, told
}

// TestDeadHolderIsReleased SIGKILLs a worker that holds a Lock, an RLock
// (two levels), a Semaphore permit, a Condition's lock, or waits at a
// Barrier, while the parent waits for the same thing: the manager
// releases it, and the parent learns that the holder died (ErrAbandoned,
// for a Semaphore permit too; ErrBrokenBarrier).
func TestDeadHolderIsReleased(t *testing.T) {
	tests := []deadHolderCase{
		{
			name: "Lock",
			setup: func(ctx context.Context, t *testing.T, m *manager.Manager) (any, func() bool, func() error, func()) {
				l, err := manager.NewLock(ctx, m)
				require.NoError(t, err)
				return l, func() bool { return true }, func() error { return l.Acquire(ctx) }, func() {
					require.NoError(t, l.Release(ctx), "the parent holds the lock")
					locked, err := l.Locked(ctx)
					require.NoError(t, err)
					assert.False(t, locked)
				}
			},
			want: manager.ErrAbandoned,
		},
		{
			name: "RLock",
			setup: func(ctx context.Context, t *testing.T, m *manager.Manager) (any, func() bool, func() error, func()) {
				l, err := manager.NewRLock(ctx, m)
				require.NoError(t, err)
				return l, func() bool { return true }, func() error { return l.Acquire(ctx) }, func() {
					require.NoError(t, l.Release(ctx), "the parent holds one level")
					locked, err := l.Locked(ctx)
					require.NoError(t, err)
					assert.False(t, locked, "the dead holder's levels are not inherited")
				}
			},
			want: manager.ErrAbandoned,
		},
		{
			name: "Semaphore",
			setup: func(ctx context.Context, t *testing.T, m *manager.Manager) (any, func() bool, func() error, func()) {
				s, err := manager.NewSemaphore(ctx, m, 1)
				require.NoError(t, err)
				return s, func() bool { return true }, func() error { return s.Acquire(ctx) }, func() {
					require.NoError(t, s.Release(ctx), "the parent holds the permit")
					n, err := s.Value(ctx)
					require.NoError(t, err)
					assert.Equal(t, 1, n, "every permit is back")
				}
			},
			want: manager.ErrAbandoned,
		},
		{
			name: "Condition",
			setup: func(ctx context.Context, t *testing.T, m *manager.Manager) (any, func() bool, func() error, func()) {
				c, err := manager.NewCondition(ctx, m, nil)
				require.NoError(t, err)
				return c, func() bool { return true }, func() error { return c.Acquire(ctx) }, func() {
					require.NoError(t, c.Release(ctx), "the parent holds the condition's lock")
				}
			},
			want: manager.ErrAbandoned,
		},
		{
			name: "Barrier",
			setup: func(ctx context.Context, t *testing.T, m *manager.Manager) (any, func() bool, func() error, func()) {
				b, err := manager.NewBarrier(ctx, m, 3)
				require.NoError(t, err)
				held := func() bool {
					n, err := b.NWaiting(ctx)
					return err == nil && n == 2 // the worker and the parent
				}
				return b, held, func() error { _, err := b.Wait(ctx); return err }, func() {
					broken, err := b.Broken(ctx)
					require.NoError(t, err)
					assert.True(t, broken)
				}
			},
			want: manager.ErrBrokenBarrier,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkNoFDLeak(t)
			ctx := testContext(t)
			m := startManager(t)
			ready, err := manager.NewEvent(ctx, m)
			require.NoError(t, err)
			obj, held, next, check := tt.setup(ctx, t, m)
			w, err := m.Fork(ctx, "faults.hold", tt.name, ready, obj)
			require.NoError(t, err)
			require.NoError(t, ready.Wait(ctx))

			// The parent waits for the thing the worker holds.
			got := make(chan error, 1)
			go func() { got <- next() }()
			waitUntil(t, 10*time.Second, "the worker holds it", held)

			killed := time.Now()
			require.NoError(t, w.Signal(syscall.SIGKILL))
			select {
			case err := <-got:
				took := time.Since(killed)
				requireErrorIsOrNil(t, tt.want, err)
				t.Logf("detect: %s released %v after its holder was killed", tt.name, took)
			case <-ctx.Done():
				t.Fatalf("%s: still held by a dead process", tt.name)
			}
			check()
			<-w.Done()
		})
	}
}

// workerFaultsBarrierMember is the worker role "faults.barrier-member" (childroles_test.go registers it).
func workerFaultsBarrierMember(ctx context.Context, c *manager.Client, args manager.Args) error {
	var b *manager.Barrier
	var joined *manager.Proxy
	var start *manager.Event
	var victim bool
	if err := args.Decode(&b, &joined, &start, &victim); err != nil {
		return err
	}
	if err := b.Join(ctx); err != nil {
		return err
	}
	if _, err := manager.Call[int64](ctx, joined, "Add", int64(1)); err != nil {
		return err
	}
	if victim {
		<-ctx.Done() // killed before it reaches Wait
		return nil
	}
	if err := start.Wait(ctx); err != nil {
		return err
	}
	_, err := b.Wait(ctx)
	return err // reaches Process.Wait, where errors.Is sees ErrBrokenBarrier
}

// TestBarrierMemberDiesBeforeWait has three workers Join a barrier of
// three parties, and SIGKILLs one before it reaches Wait, while the other
// two wait or before they start to: both get ErrBrokenBarrier instead of
// waiting for ever.
func TestBarrierMemberDiesBeforeWait(t *testing.T) {
	tests := []struct {
		name string
		// kill SIGKILLs the victim and lets the others Wait, in some order.
		kill func(ctx context.Context, t *testing.T, b *manager.Barrier, victim *manager.Process, start *manager.Event)
	}{
		{
			name: "while the others wait",
			kill: func(ctx context.Context, t *testing.T, b *manager.Barrier, victim *manager.Process, start *manager.Event) {
				require.NoError(t, start.Set(ctx))
				waitUntil(t, 10*time.Second, "the others wait", func() bool {
					n, err := b.NWaiting(ctx)
					return err == nil && n == 2
				})
				require.NoError(t, victim.Signal(syscall.SIGKILL))
			},
		},
		{
			name: "before the others wait",
			kill: func(ctx context.Context, t *testing.T, b *manager.Barrier, victim *manager.Process, start *manager.Event) {
				require.NoError(t, victim.Signal(syscall.SIGKILL))
				waitDone(ctx, victim) // the others' Waits find it gone, or its end finds them waiting
				require.NoError(t, start.Set(ctx))
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkNoFDLeak(t)
			ctx := testContext(t)
			m := startManager(t)
			b, err := manager.NewBarrier(ctx, m, 3)
			require.NoError(t, err)
			joined, err := manager.New(ctx, m, "Counter")
			require.NoError(t, err)
			start, err := manager.NewEvent(ctx, m)
			require.NoError(t, err)
			var procs []*manager.Process
			for _, victim := range []bool{true, false, false} {
				p, err := m.Fork(ctx, "faults.barrier-member", b, joined, start, victim)
				require.NoError(t, err)
				procs = append(procs, p)
			}
			waitUntil(t, 10*time.Second, "every worker joined", func() bool {
				n, err := manager.Call[int64](ctx, joined, "Get")
				return err == nil && n == 3
			})

			killed := time.Now()
			tt.kill(ctx, t, b, procs[0], start)
			for _, p := range procs[1:] {
				assert.ErrorIs(t, waitDone(ctx, p), manager.ErrBrokenBarrier)
			}
			t.Logf("detect: the other members exited with ErrBrokenBarrier %v after one was killed", time.Since(killed))
			var exit *manager.ExitError
			require.ErrorAs(t, waitDone(ctx, procs[0]), &exit)
			assert.Equal(t, syscall.SIGKILL, exit.Signal)
		})
	}
}

// workerFaultsTake is the worker role "faults.take" (childroles_test.go registers it).
func workerFaultsTake(ctx context.Context, c *manager.Client, args manager.Args) error {
	var q *manager.Queue[int]
	var taken *manager.Value[int]
	if err := args.Decode(&q, &taken); err != nil {
		return err
	}
	if args.Len() == 3 { // a lock to die holding, too
		var l *manager.Lock
		if err := args.Decode(&q, &taken, &l); err != nil {
			return err
		}
		if err := l.Acquire(ctx); err != nil {
			return err
		}
	}
	item, err := q.Get(ctx)
	if err != nil {
		return err
	}
	if err := taken.Store(ctx, item); err != nil {
		return err
	}
	<-ctx.Done() // dies before TaskDone
	return nil
}

// TestDeadConsumerJoinableQueue kills a worker that got an item from a
// JoinableQueue and did not acknowledge it: the item goes back to the
// front of the queue (at-least-once delivery), so Join still returns
// once the live consumers have done all the work.
func TestDeadConsumerJoinableQueue(t *testing.T) {
	checkNoFDLeak(t)
	ctx := testContext(t)
	m := startManager(t)
	q, err := manager.NewJoinableQueue[int](ctx, m, 0)
	require.NoError(t, err)
	taken, err := manager.NewValue(ctx, m, 0)
	require.NoError(t, err)
	for i := 1; i <= 3; i++ {
		require.NoError(t, q.Put(ctx, i))
	}
	w, err := m.Fork(ctx, "faults.take", q, taken)
	require.NoError(t, err)
	waitUntil(t, 10*time.Second, "the worker took an item", func() bool {
		v, err := taken.Load(ctx)
		return err == nil && v != 0
	})

	require.NoError(t, w.Signal(syscall.SIGKILL))
	killed := time.Now()
	waitUntil(t, 2*time.Second, "the dead consumer's item is back", func() bool {
		n, err := q.Len(ctx)
		return err == nil && n == 3
	})
	t.Logf("detect: the dead consumer's item was back %v after the kill", time.Since(killed))
	var got []int
	for range 3 {
		item, err := q.Get(ctx)
		require.NoError(t, err)
		got = append(got, item)
		require.NoError(t, q.TaskDone(ctx))
	}
	assert.Equal(t, []int{1, 2, 3}, got, "the dead consumer's item comes back first")
	require.NoError(t, q.Join(ctx), "no work was lost")
	<-w.Done()
}

// TestDeadConsumerQueueIsAtMostOnce documents the plain Queue: an item got
// by a process that then dies is gone, as in Python (use a JoinableQueue
// for at-least-once delivery).
func TestDeadConsumerQueueIsAtMostOnce(t *testing.T) {
	ctx := testContext(t)
	m := startManager(t)
	q, err := manager.NewQueue[int](ctx, m, 0)
	require.NoError(t, err)
	taken, err := manager.NewValue(ctx, m, 0)
	require.NoError(t, err)
	lock, err := manager.NewLock(ctx, m)
	require.NoError(t, err)
	for i := 1; i <= 3; i++ {
		require.NoError(t, q.Put(ctx, i))
	}
	w, err := m.Fork(ctx, "faults.take", q, taken, lock)
	require.NoError(t, err)
	waitUntil(t, 10*time.Second, "the worker took an item", func() bool {
		v, err := taken.Load(ctx)
		return err == nil && v != 0
	})
	require.NoError(t, w.Signal(syscall.SIGKILL))
	<-w.Done()
	// The lock the worker held is released when the manager ends the
	// dead worker's session, which is when a JoinableQueue would put
	// the item back.
	require.ErrorIs(t, lock.Acquire(ctx), manager.ErrAbandoned)

	var rest []int
	for {
		item, err := q.TryGet(ctx)
		if errors.Is(err, manager.ErrEmpty) {
			break
		}
		require.NoError(t, err)
		rest = append(rest, item)
	}
	assert.Equal(t, []int{2, 3}, rest, "the dead consumer's item is gone: at-most-once")
}

// The fault-injection suite: workers share a counter, a queue of work, a
// lock-guarded value and a semaphore, while the parent SIGKILLs one of
// them at a random point each round and starts a replacement.

// chaosObjects are the shared objects of the suite.
type chaosObjects struct {
	Adds         *manager.Proxy // Counter: Adds that ran
	AddsAcked    *manager.Proxy // Counter: Adds whose reply reached the worker
	Items        *manager.JoinableQueue[int]
	Seen         *manager.Dict[int, int] // item → times processed
	Lock         *manager.Lock
	Guarded      *manager.Value[int]     // incremented by Load and Store, under Lock
	Sections     *manager.Proxy          // Counter: critical sections completed
	Abandoned    *manager.Proxy          // Counter: Acquires that reported ErrAbandoned
	Sem          *manager.Semaphore      // chaosPermits permits
	SemAbandoned *manager.Proxy          // Counter: Sem.Acquires that reported ErrAbandoned
	Stop         *manager.Event          // set when no more items will come
	Started      *manager.Dict[int, int] // pid → 1 once the worker works
}

const chaosPermits = 2

// workerFaultsChaos is the worker role "faults.chaos" (childroles_test.go registers it).
func workerFaultsChaos(ctx context.Context, c *manager.Client, args manager.Args) error {
	var o chaosObjects
	if err := args.Decode(&o); err != nil {
		return err
	}
	if err := o.Started.Store(ctx, os.Getpid(), 1); err != nil {
		return err
	}
	for {
		if err := chaosStep(ctx, &o); err != nil {
			return err
		}
		item, err := o.Items.TryGet(ctx)
		switch {
		case errors.Is(err, manager.ErrEmpty):
			if stop, err := o.Stop.IsSet(ctx); err != nil || stop {
				return err
			}
		case err != nil:
			return err
		default:
			if _, err := o.Seen.Add(ctx, item, 1); err != nil {
				return err
			}
			if err := o.Items.TaskDone(ctx); err != nil {
				return err
			}
		}
	}
}

// chaosStep does one random piece of the suite's work.
func chaosStep(ctx context.Context, o *chaosObjects) error {
	switch rand.IntN(3) {
	case 0: // an add, then its acknowledgement
		if _, err := manager.Call[int64](ctx, o.Adds, "Add", int64(1)); err != nil {
			return err
		}
		_, err := manager.Call[int64](ctx, o.AddsAcked, "Add", int64(1))
		return err
	case 1: // a critical section that a lost update would show
		err := o.Lock.Acquire(ctx)
		if errors.Is(err, manager.ErrAbandoned) {
			_, err = manager.Call[int64](ctx, o.Abandoned, "Add", int64(1))
		}
		if err != nil {
			return err
		}
		v, err := o.Guarded.Load(ctx)
		if err != nil {
			return err
		}
		if err := o.Guarded.Store(ctx, v+1); err != nil {
			return err
		}
		if err := o.Lock.Release(ctx); err != nil {
			return err
		}
		_, err = manager.Call[int64](ctx, o.Sections, "Add", int64(1))
		return err
	default: // a permit
		err := o.Sem.Acquire(ctx)
		if errors.Is(err, manager.ErrAbandoned) {
			// A dead worker's permit: held all the same.
			_, err = manager.Call[int64](ctx, o.SemAbandoned, "Add", int64(1))
		}
		if err != nil {
			return err
		}
		return o.Sem.Release(ctx)
	}
}

// newChaosObjects makes the suite's objects in m.
func newChaosObjects(ctx context.Context, t testing.TB, m *manager.Manager) *chaosObjects {
	t.Helper()
	counter := func() *manager.Proxy {
		p, err := manager.New(ctx, m, "Counter")
		require.NoError(t, err)
		return p
	}
	o := &chaosObjects{Adds: counter(), AddsAcked: counter(), Sections: counter(), Abandoned: counter(), SemAbandoned: counter()}
	var err error
	o.Items, err = manager.NewJoinableQueue[int](ctx, m, 0)
	require.NoError(t, err)
	o.Seen, err = manager.NewDict[int, int](ctx, m)
	require.NoError(t, err)
	o.Lock, err = manager.NewLock(ctx, m)
	require.NoError(t, err)
	o.Guarded, err = manager.NewValue(ctx, m, 0)
	require.NoError(t, err)
	o.Sem, err = manager.NewSemaphore(ctx, m, chaosPermits)
	require.NoError(t, err)
	o.Stop, err = manager.NewEvent(ctx, m)
	require.NoError(t, err)
	o.Started, err = manager.NewDict[int, int](ctx, m)
	require.NoError(t, err)
	return o
}

// chaosStats is what one run of the suite saw.
type chaosStats struct {
	rounds, kills, items, duplicates int
	adds, acked, guarded, sections   int64
	abandoned, semAbandoned          int64
}

// runChaos runs the suite on a new manager for as long as b allows, then
// checks its invariants.
func runChaos(ctx context.Context, t *testing.T, b budget) chaosStats {
	const workers, itemsPerRound = 3, 5
	m := startManager(t)
	o := newChaosObjects(ctx, t, m)
	var live []*manager.Process
	fork := func() {
		p, err := m.Fork(ctx, "faults.chaos", o)
		require.NoError(t, err)
		live = append(live, p)
	}
	for range workers {
		fork()
	}
	var st chaosStats
	for ; b.more(st.rounds); st.rounds++ {
		for i := range itemsPerRound {
			require.NoError(t, o.Items.Put(ctx, st.items+i))
		}
		st.items += itemsPerRound
		// Kill a worker at a random point of its work, or, one round in
		// five, of whatever it is doing, starting up included.
		i := rand.IntN(len(live))
		victim := live[i]
		live = append(live[:i], live[i+1:]...)
		if rand.IntN(5) > 0 {
			waitUntil(t, 20*time.Second, "the victim works", func() bool {
				ok, err := o.Started.Has(ctx, victim.Pid())
				return err == nil && ok
			})
		}
		require.NoError(t, killAfter(ctx, victim, time.Duration(rand.IntN(20000))*time.Microsecond))
		var exit *manager.ExitError
		require.ErrorAs(t, waitDone(ctx, victim), &exit)
		require.Equal(t, syscall.SIGKILL, exit.Signal, "the victim died of the kill: %v", exit)
		st.kills++
		fork()
	}
	require.NoError(t, o.Stop.Set(ctx))
	for _, p := range live {
		require.NoError(t, waitDone(ctx, p), "a surviving worker")
	}
	require.NoError(t, o.Items.Join(ctx), "every item was acknowledged: none lost")

	get := func(p *manager.Proxy) int64 {
		n, err := manager.Call[int64](ctx, p, "Get")
		require.NoError(t, err)
		return n
	}
	st.adds, st.acked, st.sections, st.abandoned = get(o.Adds), get(o.AddsAcked), get(o.Sections), get(o.Abandoned)
	st.semAbandoned = get(o.SemAbandoned)
	g, err := o.Guarded.Load(ctx)
	require.NoError(t, err)
	st.guarded = int64(g)
	kills := int64(st.kills)
	// A worker killed between an Add and its acknowledgement leaves one
	// Add unacknowledged (it may or may not have run): at most one each.
	assert.GreaterOrEqual(t, st.adds, st.acked, "no acknowledged Add was lost")
	assert.LessOrEqual(t, st.adds, st.acked+kills, "only Adds in flight at a kill are unaccounted for")
	// A lost update would make Guarded lag behind; a section cut short by
	// a kill after its Store may make it lead, once per kill.
	assert.GreaterOrEqual(t, st.guarded, st.sections, "the lock excluded: no update lost")
	assert.LessOrEqual(t, st.guarded, st.sections+kills)
	assert.LessOrEqual(t, st.abandoned, kills, "only a dead holder abandons the lock")

	seen, err := o.Seen.Copy(ctx)
	require.NoError(t, err)
	for item := range st.items {
		require.GreaterOrEqual(t, seen[item], 1, "item %d was never processed", item)
		st.duplicates += seen[item] - 1
	}
	assert.Len(t, seen, st.items, "only items that were put were processed")
	assert.LessOrEqual(t, st.duplicates, st.kills, "an item is processed again only after a kill")

	waitUntil(t, 2*time.Second, "no dead process holds the lock", func() bool {
		locked, err := o.Lock.Locked(ctx)
		return err == nil && !locked
	})
	waitUntil(t, 2*time.Second, "every permit is back", func() bool {
		n, err := o.Sem.Value(ctx)
		return err == nil && n == chaosPermits
	})
	// Take every permit: those a dead worker returned and nobody has
	// taken since are reported now.
	for range chaosPermits {
		ok, err := o.Sem.TryAcquire(ctx)
		require.True(t, ok, "a free permit")
		if !errors.Is(err, manager.ErrAbandoned) {
			require.NoError(t, err)
			continue
		}
		st.semAbandoned++
	}
	// A worker holds one permit at most, so a kill returns one at most,
	// and each returned permit is reported once.
	assert.LessOrEqual(t, st.semAbandoned, kills, "only a dead holder abandons a permit")
	return st
}

// TestFaultInjection runs the fault-injection suite for 50 rounds (10
// with -short): each round puts work in the queue and SIGKILLs a random
// worker at a random point while the others go on.
func TestFaultInjection(t *testing.T) {
	checkNoFDLeak(t)
	ctx := longContext(t, 3*time.Minute)
	rounds := 50
	if testing.Short() {
		rounds = 10
	}
	start := time.Now()
	st := runChaos(ctx, t, budget{rounds: rounds})
	t.Logf("%d rounds in %v: %d kills, %d items (%d processed twice), adds %d (acknowledged %d), guarded %d (sections %d), %d abandoned locks, %d abandoned permits",
		st.rounds, time.Since(start), st.kills, st.items, st.duplicates, st.adds, st.acked, st.guarded, st.sections, st.abandoned, st.semAbandoned)
}
