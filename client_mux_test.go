package manager_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/goproc/manager"
)

// blockOne starts wait (a call of c that blocks on the manager) and
// waits until the manager m runs it, so that the next calls of c find a
// call in flight and share the multiplexed connection. The returned
// channel gets wait's error.
func blockOne(t testing.TB, ctx context.Context, m *manager.Manager, c *manager.Client, wait func(context.Context) error, blockedBefore int) <-chan error {
	t.Helper()
	busy := func() int64 { st := c.PoolStats(); return int64(st.InUse) + st.InFlight }
	busy0 := busy()
	done := make(chan error, 1)
	go func() { done <- wait(ctx) }()
	// Has its connection before Stats below looks for one.
	waitUntil(t, 10*time.Second, "the Wait call took a connection", func() bool { return busy() == busy0+1 })
	waitUntil(t, 10*time.Second, "the Wait call blocked on the manager", func() bool {
		st, err := m.Stats(ctx)
		return err == nil && st.Blocked == blockedBefore+1
	})
	return done
}

// gateWait is a call of the custom type Gate that blocks until the gate
// opens. A custom method may compute for long without waiting through its
// ctx, so it never shares the multiplexed connection: it holds a
// connection of its own, and the built-in calls made meanwhile share.
func gateWait(gate *manager.Proxy) func(context.Context) error {
	return func(ctx context.Context) error {
		_, err := manager.Call[struct{}](ctx, gate, "Wait")
		return err
	}
}

// echoer returns a built-in call (which may share the multiplexed
// connection) whose result is its argument: a LoadOrStore of a new key.
func echoer(ctx context.Context, t testing.TB, s manager.Session) func(context.Context, string) (string, error) {
	t.Helper()
	d, err := manager.NewDict[string, string](ctx, s)
	require.NoError(t, err)
	return func(ctx context.Context, want string) (string, error) {
		got, _, err := d.LoadOrStore(ctx, want, want)
		return got, err
	}
}

// TestSharedConnectionRepliesStayMatched runs many goroutines on the
// multiplexed connection, each mixing plain calls, calls withdrawn while
// blocked on the manager, and calls whose deadline may end at any point:
// every call that succeeds gets its own reply, every other one its
// context's error, and nothing stays in flight.
func TestSharedConnectionRepliesStayMatched(t *testing.T) {
	ctx := testContext(t)
	m := startManager(t)
	before := runtime.NumGoroutine()
	echo := echoer(ctx, t, m)
	gate, err := manager.New(ctx, m, "Gate")
	require.NoError(t, err)
	ev, err := manager.NewEvent(ctx, m)
	require.NoError(t, err)
	held := blockOne(t, ctx, m, m.Client, gateWait(gate), 0)
	shared0 := m.PoolStats().SharedCalls

	const goroutines, rounds = 16, 60
	var (
		mu                     sync.Mutex
		matched, gaveUp, waits int
	)
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range rounds {
				want := fmt.Sprintf("g%d-%d", g, i)
				switch i % 3 {
				case 0: // plain
					got, err := echo(ctx, want)
					if assert.NoError(t, err) && assert.Equal(t, want, got) {
						mu.Lock()
						matched++
						mu.Unlock()
					}
				case 1: // withdrawn while blocked on the manager
					short, cancel := context.WithTimeout(ctx, time.Millisecond)
					err := ev.Wait(short)
					cancel()
					if assert.ErrorIs(t, err, context.DeadlineExceeded) {
						mu.Lock()
						waits++
						mu.Unlock()
					}
				case 2: // a deadline that may end anywhere in the call
					short, cancel := context.WithTimeout(ctx, time.Duration(rand.IntN(200))*time.Microsecond)
					got, err := echo(short, want)
					cancel()
					if err != nil {
						assert.ErrorIs(t, err, context.DeadlineExceeded)
						mu.Lock()
						gaveUp++
						mu.Unlock()
					} else if assert.Equal(t, want, got) {
						mu.Lock()
						matched++
						mu.Unlock()
					}
				}
			}
		}()
	}
	wg.Wait()
	t.Logf("matched %d, gave up %d, withdrawn Waits %d; %+v", matched, gaveUp, waits, m.PoolStats())
	assert.Equal(t, goroutines*rounds/3, waits)
	assert.Greater(t, m.PoolStats().SharedCalls, shared0, "no call shared the multiplexed connection")

	// Nothing stays in flight but the held Wait, and after it the
	// reader goroutine stops: the count returns to where it was.
	waitUntil(t, 10*time.Second, "only the held Wait in flight", func() bool { return m.PoolStats().InFlight <= 1 })
	_, err = manager.Call[struct{}](ctx, gate, "Open")
	require.NoError(t, err)
	require.NoError(t, <-held)
	m.WaitReconciled()
	assert.Equal(t, int64(0), m.PoolStats().InFlight)
	waitUntil(t, 10*time.Second, "goroutines back to their count before the test", func() bool {
		return runtime.NumGoroutine() <= before
	})
}

// TestBlockedSharedCallStallsNobody blocks a call on the multiplexed
// connection and checks that other calls on it are still answered: its
// reader hands their replies over while the blocked call waits.
func TestBlockedSharedCallStallsNobody(t *testing.T) {
	ctx := testContext(t)
	m := startManager(t)
	echo := echoer(ctx, t, m)
	gate, err := manager.New(ctx, m, "Gate")
	require.NoError(t, err)
	ev, err := manager.NewEvent(ctx, m)
	require.NoError(t, err)
	first := blockOne(t, ctx, m, m.Client, gateWait(gate), 0) // on a connection of its own
	shared0 := m.PoolStats().SharedCalls
	second := blockOne(t, ctx, m, m.Client, ev.Wait, 1) // on the shared one
	require.Equal(t, int64(1), m.PoolStats().InFlight, "the second Wait did not go to the multiplexed connection")

	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				want := fmt.Sprintf("g%d-%d", g, i)
				got, err := echo(ctx, want)
				if !assert.NoError(t, err) || !assert.Equal(t, want, got) {
					return
				}
			}
		}()
	}
	wg.Wait()
	assert.Greater(t, m.PoolStats().SharedCalls, shared0+1, "no call shared the connection with the blocked Wait")
	select {
	case err := <-second:
		t.Fatalf("the shared Wait returned before its gate opened: %v", err)
	default:
	}
	_, err = manager.Call[struct{}](ctx, gate, "Open")
	require.NoError(t, err)
	require.NoError(t, ev.Set(ctx))
	require.NoError(t, <-first)
	require.NoError(t, <-second)
}

// TestManagerKilledFailsSharedCalls SIGKILLs the manager while calls wait
// on the multiplexed connection: each gets ErrManagerGone at once.
func TestManagerKilledFailsSharedCalls(t *testing.T) {
	ctx := testContext(t)
	m := startManager(t)
	gate, err := manager.New(ctx, m, "Gate")
	require.NoError(t, err)
	ev, err := manager.NewEvent(ctx, m)
	require.NoError(t, err)
	first := blockOne(t, ctx, m, m.Client, gateWait(gate), 0)
	const waiters = 8
	errs := make(chan error, waiters)
	for range waiters {
		go func() { errs <- ev.Wait(ctx) }()
	}
	waitUntil(t, 10*time.Second, "every Wait blocked on the manager", func() bool {
		st, err := m.Stats(ctx)
		return err == nil && st.Blocked == waiters+1
	})
	assert.GreaterOrEqual(t, m.PoolStats().InFlight, int64(1), "no Wait on the multiplexed connection")
	start := time.Now()
	require.NoError(t, syscall.Kill(m.Pid(), syscall.SIGKILL))
	for range waiters {
		select {
		case err := <-errs:
			require.ErrorIs(t, err, manager.ErrManagerGone)
		case <-ctx.Done():
			t.Fatal("a call on the multiplexed connection hung after the manager died")
		}
	}
	require.ErrorIs(t, <-first, manager.ErrManagerGone)
	t.Logf("every waiter failed %v after the kill", time.Since(start))
	assert.Equal(t, int64(0), m.PoolStats().InFlight)
}

// TestPoolStats checks that the client's connection counters move with
// real calls: a lone call reuses its connection, concurrent ones share
// the multiplexed connection, and a dial that fails is counted.
func TestPoolStats(t *testing.T) {
	ctx := testContext(t)
	m := startManager(t)
	c, err := manager.Connect(ctx, m.Addr().Network(), m.Addr().String(), m.AuthKey())
	require.NoError(t, err)
	defer c.Close()
	echo := echoer(ctx, t, c)
	gate, err := manager.New(ctx, c, "Gate")
	require.NoError(t, err)
	ev, err := manager.NewEvent(ctx, c)
	require.NoError(t, err)

	// Sequential calls: one connection, dialed once, idle between calls.
	for range 10 {
		_, err := echo(ctx, "x")
		require.NoError(t, err)
	}
	st := c.PoolStats()
	assert.Equal(t, manager.PoolStats{Open: 1, Idle: 1, Dials: 2, Waits: 1, WaitDuration: st.WaitDuration}, st)
	assert.Positive(t, st.WaitDuration)

	// A blocked call holds its connection; calls made meanwhile share
	// the multiplexed one.
	held := blockOne(t, ctx, m, c, gateWait(gate), 0)
	st = c.PoolStats()
	assert.Equal(t, 1, st.InUse)
	shared0 := st.SharedCalls
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 10 {
				_, err := echo(ctx, "x")
				assert.NoError(t, err)
			}
		}()
	}
	wg.Wait()
	st = c.PoolStats()
	// Under load a call may find the shared connection slow to answer
	// (see muxStall) and dial one of its own instead.
	assert.Greater(t, st.SharedCalls, shared0, "calls made while one is in flight share the connection")
	assert.Equal(t, 1, st.Shared)
	assert.Equal(t, int64(0), st.InFlight)
	assert.GreaterOrEqual(t, st.Dials, uint64(3), "the watch connection, the first call's, the shared one")

	// A shared call in flight is counted until its reply.
	second := blockOne(t, ctx, m, c, ev.Wait, 1)
	assert.Equal(t, int64(1), c.PoolStats().InFlight)

	_, err = manager.Call[struct{}](ctx, gate, "Open")
	require.NoError(t, err)
	require.NoError(t, ev.Set(ctx))
	require.NoError(t, <-held)
	require.NoError(t, <-second)

	// A dial that fails: the only connection is busy and the manager
	// stopped, so the multiplexed connection's handshake never ends.
	c2, err := manager.Connect(ctx, m.Addr().Network(), m.Addr().String(), m.AuthKey())
	require.NoError(t, err)
	defer c2.Close()
	gate2, err := manager.New(ctx, c2, "Gate")
	require.NoError(t, err)
	echo2 := echoer(ctx, t, c2)
	held = blockOne(t, ctx, m, c2, gateWait(gate2), 0)
	st = c2.PoolStats()
	resume := stopManager(t, m)
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	_, err = echo2(short, "x")
	cancel()
	require.True(t, errors.Is(err, context.DeadlineExceeded), "got %v", err)
	resume()
	after := c2.PoolStats()
	assert.Equal(t, st.Dials+1, after.Dials)
	assert.Equal(t, st.DialErrors+1, after.DialErrors)
	assert.Equal(t, st.Waits+1, after.Waits)
	assert.GreaterOrEqual(t, after.WaitDuration-st.WaitDuration, 90*time.Millisecond)
	_, err = manager.Call[struct{}](ctx, gate2, "Open")
	require.NoError(t, err)
	require.NoError(t, <-held)
}
