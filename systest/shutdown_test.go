package systest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/goproc/manager"
)

// callResult is the outcome of a call made in a goroutine.
type callResult[R any] struct {
	val R
	err error
}

// goCall runs fn in a goroutine and returns a channel for its result.
func goCall[R any](fn func() (R, error)) <-chan callResult[R] {
	ch := make(chan callResult[R], 1)
	go func() {
		v, err := fn()
		ch <- callResult[R]{v, err}
	}()
	return ch
}

// receive returns what ch delivers, failing the test if ctx ends first.
func receive[T any](ctx context.Context, t testing.TB, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-ctx.Done():
		require.FailNow(t, "hung", what)
		panic("unreachable")
	}
}

// startToShutDown starts a manager that the test shuts down itself
// (checking that no file descriptor leaks) and makes a FaultsSlow object
// on it.
func startToShutDown(t testing.TB, opts ...manager.StartOption) (context.Context, *manager.Manager, *manager.Proxy) {
	t.Helper()
	checkNoFDLeak(t)
	ctx := testContext(t)
	m, err := manager.Start(ctx, opts...)
	require.NoError(t, err)
	slow, err := manager.New(ctx, m, "FaultsSlow")
	require.NoError(t, err)
	return ctx, m, slow
}

// TestShutdownLetsExecutingCallsFinish shuts a manager down while a call
// executes (Work), calls of two clients are blocked (Hold), and new calls
// keep coming: the executing call finishes with its result, the blocked
// ones fail with ErrClosed, new ones are refused with ErrClosed, and
// Shutdown returns nil once the executing call is done.
func TestShutdownLetsExecutingCallsFinish(t *testing.T) {
	for _, mode := range managerModes {
		t.Run(mode.Name, func(t *testing.T) {
			ctx, m, slow := startToShutDown(t, mode.Opts...)
			other, err := manager.Connect(ctx, m.Addr().Network(), m.Addr().String(), m.AuthKey())
			require.NoError(t, err)
			defer other.Close()
			otherSlow, err := manager.New(ctx, other, "FaultsSlow")
			require.NoError(t, err)

			const workMs = 300
			work := goCall(func() (int, error) { return manager.Call[int](ctx, slow, "Work", workMs) })
			held := goCall(func() (struct{}, error) { return manager.Call[struct{}](ctx, slow, "Hold") })
			otherHeld := goCall(func() (struct{}, error) { return manager.Call[struct{}](ctx, otherSlow, "Hold") })
			waitUntil(t, 10*time.Second, "Work executes and both Holds wait", func() bool {
				r, err1 := manager.Call[int64](ctx, slow, "Running")
				h, err2 := manager.Call[int64](ctx, slow, "Holding")
				o, err3 := manager.Call[int64](ctx, otherSlow, "Holding")
				return err1 == nil && err2 == nil && err3 == nil && r == 1 && h == 1 && o == 1
			})

			start := time.Now()
			shut := goCall(func() (struct{}, error) { return struct{}{}, m.Shutdown(ctx) })

			r := receive(ctx, t, held, "a blocked call of the manager's client")
			require.ErrorIs(t, r.err, manager.ErrClosed)
			r = receive(ctx, t, otherHeld, "a blocked call of another client")
			require.ErrorIs(t, r.err, manager.ErrClosed)
			_, err = manager.Call[string](ctx, slow, "Echo", "new")
			require.ErrorIs(t, err, manager.ErrClosed, "a new call during Shutdown")

			w := receive(ctx, t, work, "the executing call")
			require.NoError(t, w.err, "the executing call finished")
			assert.Equal(t, workMs, w.val)
			s := receive(ctx, t, shut, "Shutdown")
			require.NoError(t, s.err)
			t.Logf("graceful Shutdown took %v with a %d ms call executing", time.Since(start), workMs)

			require.NoError(t, m.Shutdown(ctx), "Shutdown twice is fine")
			_, err = manager.Call[string](ctx, slow, "Echo", "after")
			require.ErrorIs(t, err, manager.ErrClosed)
		})
	}
}

// TestShutdownForcesWhenItsContextEnds shuts a manager down while a call
// executes for longer than Shutdown's ctx allows: Shutdown returns the
// ctx's error when it ends, and the caller's call fails with ErrClosed at
// the same time.
func TestShutdownForcesWhenItsContextEnds(t *testing.T) {
	for _, mode := range managerModes {
		t.Run(mode.Name, func(t *testing.T) {
			ctx, m, slow := startToShutDown(t, mode.Opts...)

			work := goCall(func() (int, error) { return manager.Call[int](ctx, slow, "Work", 1000) })
			waitUntil(t, 10*time.Second, "Work executes", func() bool {
				r, err := manager.Call[int64](ctx, slow, "Running")
				return err == nil && r == 1
			})

			const grace = 100 * time.Millisecond
			start := time.Now()
			sctx, cancel := context.WithTimeout(ctx, grace)
			defer cancel()
			err := m.Shutdown(sctx)
			took := time.Since(start)
			require.ErrorIs(t, err, context.DeadlineExceeded)
			w := receive(ctx, t, work, "the executing call")
			require.ErrorIs(t, w.err, manager.ErrClosed)
			t.Logf("forced Shutdown returned %v after it began (grace %v)", took, grace)

			assert.Less(t, took, time.Second, "Shutdown waited for the call it should have cut off")
			// A later Shutdown returns at once. (A manager process may
			// exit by itself at the end of the grace it was given, just
			// before the parent would kill it: then that is no error.)
			err = m.Shutdown(ctx)
			assert.True(t, err == nil || errors.Is(err, context.DeadlineExceeded), "second Shutdown: %v", err)
			// In-process, the cut-off method goes on until it returns.
			waitUntil(t, 10*time.Second, "the cut-off call returns", func() bool { return slowWorking.Load() == 0 })
		})
	}
}

// TestShutdownConcurrently calls Shutdown from several goroutines at
// once: each returns when the manager is down, and none fails.
func TestShutdownConcurrently(t *testing.T) {
	for _, mode := range managerModes {
		t.Run(mode.Name, func(t *testing.T) {
			checkNoFDLeak(t)
			ctx := testContext(t)
			m, err := manager.Start(ctx, mode.Opts...)
			require.NoError(t, err)
			var results []<-chan callResult[struct{}]
			for range 4 {
				results = append(results, goCall(func() (struct{}, error) { return struct{}{}, m.Shutdown(ctx) }))
			}
			for _, ch := range results {
				require.NoError(t, receive(ctx, t, ch, "Shutdown").err)
			}
			_, err = m.NumObjects(ctx)
			require.ErrorIs(t, err, manager.ErrClosed)
		})
	}
}

// Interrupting calls (Ctrl-C in a program is a cancelled ctx here).

// TestInterruptedCallsGetTheirOwnReplies cancels many calls at random
// points (before they are sent, while the manager runs them, as the reply
// comes back) from several goroutines of one client, and checks after
// each that the call returned its own result or the ctx's error, and that
// the next call on the client returns its own result: a late reply is
// never taken for another call's (Python's Ctrl-C desync).
func TestInterruptedCallsGetTheirOwnReplies(t *testing.T) {
	rounds := 150
	if testing.Short() {
		rounds = 40
	}
	for _, mode := range managerModes {
		t.Run(mode.Name, func(t *testing.T) {
			checkNoFDLeak(t)
			ctx := testContext(t)
			m := startManager(t, mode.Opts...)
			slow, err := manager.New(ctx, m, "FaultsSlow")
			require.NoError(t, err)

			const goroutines = 4
			var completed, interrupted atomic.Int64
			errs := make(chan error, goroutines)
			for g := range goroutines {
				go func() {
					errs <- func() error {
						for i := range rounds {
							want := fmt.Sprintf("%d-%d", g, i)
							cctx, cancel := context.WithTimeout(ctx, time.Duration(rand.IntN(400))*time.Microsecond)
							got, err := manager.Call[string](cctx, slow, "Delay", want, rand.IntN(300))
							cancel()
							switch {
							case err == nil && got == want:
								completed.Add(1)
							case err == nil:
								return fmt.Errorf("call %s got the reply %q", want, got)
							case errors.Is(err, context.DeadlineExceeded):
								interrupted.Add(1)
							default:
								return fmt.Errorf("call %s: %w", want, err)
							}
							next, err := manager.Call[string](ctx, slow, "Echo", want+"/next")
							if err != nil {
								return fmt.Errorf("call after %s: %w", want, err)
							}
							if next != want+"/next" {
								return fmt.Errorf("the call after %s got the reply %q", want, next)
							}
						}
						return nil
					}()
				}()
			}
			for range goroutines {
				require.NoError(t, receive(ctx, t, errs, "a caller"))
			}
			t.Logf("%d calls completed, %d interrupted; every next call got its own reply", completed.Load(), interrupted.Load())
			n, err := m.NumObjects(ctx)
			require.NoError(t, err)
			assert.Equal(t, 1, n)
		})
	}
}

// workerFaultsIdle is the worker role "faults.idle" (childroles_test.go registers it).
func workerFaultsIdle(ctx context.Context, c *manager.Client, args manager.Args) error {
	var running *manager.Event
	if err := args.Decode(&running); err != nil {
		return err
	}
	// The test may see the event set and end ctx (SIGTERM) while Set's
	// reply is still on its way here: a ctx error then is the test's
	// doing, not a failure.
	if err := running.Set(ctx); err != nil && ctx.Err() == nil {
		return err
	}
	<-ctx.Done()
	return nil
}

// ignoresSignal reports whether process pid ignores sig (its SigIgn mask
// in /proc), so that a signal sent to it is discarded on arrival.
func ignoresSignal(t testing.TB, pid int, sig syscall.Signal) bool {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	require.NoError(t, err)
	for _, line := range strings.Split(string(b), "\n") {
		if hex, ok := strings.CutPrefix(line, "SigIgn:"); ok {
			mask, err := strconv.ParseUint(strings.TrimSpace(hex), 16, 64)
			require.NoError(t, err)
			return mask&(1<<(uint(sig)-1)) != 0
		}
	}
	require.Fail(t, "no SigIgn line", "in /proc/%d/status", pid)
	return false
}

// TestChildrenIgnoreSIGINT sends SIGINT (what Ctrl-C sends the whole
// terminal process group) to a manager process and to a worker: both
// ignore it and go on; the parent decides what Ctrl-C means.
func TestChildrenIgnoreSIGINT(t *testing.T) {
	checkNoFDLeak(t)
	ctx := testContext(t)
	m := startManager(t)
	slow, err := manager.New(ctx, m, "FaultsSlow")
	require.NoError(t, err)
	running, err := manager.NewEvent(ctx, m)
	require.NoError(t, err)
	w, err := m.Fork(ctx, "faults.idle", running)
	require.NoError(t, err)
	require.NoError(t, running.Wait(ctx))
	require.True(t, ignoresSignal(t, w.Pid(), syscall.SIGINT), "the worker ignores SIGINT")
	require.True(t, ignoresSignal(t, m.Pid(), syscall.SIGINT), "the manager process ignores SIGINT")

	require.NoError(t, syscall.Kill(m.Pid(), syscall.SIGINT))
	require.NoError(t, w.Signal(syscall.SIGINT))
	got, err := manager.Call[string](ctx, slow, "Echo", "still here")
	require.NoError(t, err)
	assert.Equal(t, "still here", got)
	select {
	case <-w.Done():
		t.Fatalf("the worker exited on SIGINT: %v", w.Wait())
	default:
	}
	require.NoError(t, w.Signal(syscall.SIGTERM), "SIGTERM ends the worker's ctx")
	require.NoError(t, waitDone(ctx, w))
}
