package builtin

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/goproc/manager/internal/callctx"
	"github.com/goproc/manager/internal/errs"
)

// syncTestCtx returns a context that bounds a test of a blocking type.
func syncTestCtx(tb testing.TB) context.Context {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	tb.Cleanup(cancel)
	return ctx
}

// syncSession returns a distinct session id for each n.
func syncSession(n byte) callctx.SessionID {
	return callctx.SessionID{0: n, 15: 0xAA}
}

// syncAs returns ctx carrying the caller of session n, handle h.
func syncAs(ctx context.Context, n byte, h uint64) context.Context {
	return callctx.With(ctx, callctx.Caller{Session: syncSession(n), Handle: h})
}

// syncEventually waits until cond holds: the way to know that another
// goroutine has reached a blocking wait inside a method.
func syncEventually(tb testing.TB, cond func() bool, msg string) {
	tb.Helper()
	require.Eventually(tb, cond, 5*time.Second, time.Millisecond, msg)
}

// syncDoneCounter is a context that counts calls of Done, to check that
// fast paths never touch it (the server treats Done as "going to block").
type syncDoneCounter struct {
	context.Context
	calls atomic.Int32
}

func (c *syncDoneCounter) Done() <-chan struct{} {
	c.calls.Add(1)
	return c.Context.Done()
}

func (l *lockCore) testWaiting() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.waiters)
}

func (l *lockCore) testHolder() (lockOwner, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.owner, l.count
}

// syncErrChan runs fn in a goroutine and returns its result channel.
func syncErrChan(fn func() error) <-chan error {
	ch := make(chan error, 1)
	go func() { ch <- fn() }()
	return ch
}

// syncRecv waits for a result from ch within the test's bounds.
func syncRecv[T any](tb testing.TB, ctx context.Context, ch <-chan T) T {
	tb.Helper()
	select {
	case v := <-ch:
		return v
	case <-ctx.Done():
		require.FailNow(tb, "timed out waiting for a blocked call to return")
		var zero T
		return zero
	}
}

func TestLockAcquireRelease(t *testing.T) {
	ctx := syncTestCtx(t)
	a, b := syncAs(ctx, 1, 1), syncAs(ctx, 2, 1)
	l, err := NewLock()
	require.NoError(t, err)

	assert.False(t, l.Locked())
	require.NoError(t, l.Acquire(a))
	assert.True(t, l.Locked())

	ok, err := l.TryAcquire(b)
	assert.NoError(t, err)
	assert.False(t, ok, "another session cannot take a held lock")
	ok, err = l.TryAcquire(syncAs(ctx, 1, 2))
	assert.NoError(t, err)
	assert.False(t, ok, "a Lock is not reentrant, even for its own session")

	assert.ErrorIs(t, l.Release(b), errs.NotHeld)
	require.NoError(t, l.Release(syncAs(ctx, 1, 7)), "any handle of the holding session may release")
	assert.False(t, l.Locked())
	assert.ErrorIs(t, l.Release(a), errs.NotHeld)

	ok, err = l.TryAcquire(b)
	assert.NoError(t, err)
	assert.True(t, ok)
	assert.True(t, l.Locked())
}

func TestLockFastPathDoesNotTouchDone(t *testing.T) {
	ctx := &syncDoneCounter{Context: syncTestCtx(t)}
	l, err := NewLock()
	require.NoError(t, err)
	require.NoError(t, l.Acquire(ctx))
	require.NoError(t, l.Release(ctx))
	r, err := NewRLock()
	require.NoError(t, err)
	require.NoError(t, r.Acquire(ctx))
	require.NoError(t, r.Acquire(ctx))
	assert.Equal(t, int32(0), ctx.calls.Load())
}

func TestLockSameSessionWaits(t *testing.T) {
	ctx := syncTestCtx(t)
	l, err := NewLock()
	require.NoError(t, err)
	require.NoError(t, l.Acquire(syncAs(ctx, 1, 1)))

	got := syncErrChan(func() error { return l.Acquire(syncAs(ctx, 1, 2)) })
	syncEventually(t, func() bool { return l.core.testWaiting() == 1 }, "second Acquire of the session waits")
	require.NoError(t, l.Release(syncAs(ctx, 1, 1)))
	assert.NoError(t, syncRecv(t, ctx, got))
	assert.True(t, l.Locked())
}

func TestLockFIFO(t *testing.T) {
	ctx := syncTestCtx(t)
	l, err := NewLock()
	require.NoError(t, err)
	require.NoError(t, l.Acquire(syncAs(ctx, 100, 0)))

	const n = 8
	order := make(chan int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := syncAs(ctx, byte(i), 0)
			if assert.NoError(t, l.Acquire(c)) {
				order <- i
				assert.NoError(t, l.Release(c))
			}
		}()
		syncEventually(t, func() bool { return l.core.testWaiting() == i+1 }, "waiter queued")
	}
	ok, err := l.TryAcquire(syncAs(ctx, 200, 0))
	assert.NoError(t, err)
	assert.False(t, ok, "a newcomer does not overtake waiters")

	require.NoError(t, l.Release(syncAs(ctx, 100, 0)))
	wg.Wait()
	close(order)
	var got []int
	for i := range order {
		got = append(got, i)
	}
	assert.Equal(t, []int{0, 1, 2, 3, 4, 5, 6, 7}, got)
	assert.False(t, l.Locked())
}

func TestLockConcurrent(t *testing.T) {
	ctx := syncTestCtx(t)
	l, err := NewLock()
	require.NoError(t, err)
	r, err := NewRLock()
	require.NoError(t, err)
	cond, err := NewCondition(ctx, 0)
	require.NoError(t, err)
	tests := []struct {
		name    string
		acquire func(c context.Context) error
		release func(c context.Context) error
	}{
		{"Lock", l.Acquire, l.Release},
		{"RLock", r.Acquire, r.Release},
		{"Condition", cond.Acquire, cond.Release},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			const goroutines, rounds = 16, 200
			var inside atomic.Int32
			counter := 0 // guarded by the lock under test; -race checks it
			var wg sync.WaitGroup
			for g := range goroutines {
				wg.Add(1)
				go func() {
					defer wg.Done()
					c := syncAs(ctx, byte(g), uint64(g))
					for range rounds {
						if !assert.NoError(t, tt.acquire(c)) {
							return
						}
						assert.Equal(t, int32(1), inside.Add(1))
						counter++
						inside.Add(-1)
						if !assert.NoError(t, tt.release(c)) {
							return
						}
					}
				}()
			}
			wg.Wait()
			assert.Equal(t, goroutines*rounds, counter)
		})
	}
}

func TestLockCancelWithdraws(t *testing.T) {
	ctx := syncTestCtx(t)
	l, err := NewLock()
	require.NoError(t, err)
	require.NoError(t, l.Acquire(syncAs(ctx, 1, 0)))

	wctx, cancel := context.WithCancel(syncAs(ctx, 2, 0))
	got := syncErrChan(func() error { return l.Acquire(wctx) })
	syncEventually(t, func() bool { return l.core.testWaiting() == 1 }, "waiter queued")
	cancel()
	assert.ErrorIs(t, syncRecv(t, ctx, got), context.Canceled)
	assert.Equal(t, 0, l.core.testWaiting())

	require.NoError(t, l.Release(syncAs(ctx, 1, 0)))
	assert.False(t, l.Locked(), "the withdrawn waiter must not get the lock")

	dctx, dcancel := context.WithTimeout(syncAs(ctx, 3, 0), time.Millisecond)
	defer dcancel()
	require.NoError(t, l.Acquire(syncAs(ctx, 1, 0)))
	assert.ErrorIs(t, l.Acquire(dctx), context.DeadlineExceeded)
}

// TestLockCancelAtHandOff hands the lock to a waiter whose ctx has just
// ended, before the waiter runs: it must give the lock on, not keep it.
func TestLockCancelAtHandOff(t *testing.T) {
	ctx := syncTestCtx(t)
	l, err := NewLock()
	require.NoError(t, err)
	require.NoError(t, l.Acquire(syncAs(ctx, 1, 0)))

	wctx, cancel := context.WithCancel(syncAs(ctx, 2, 0))
	first := syncErrChan(func() error { return l.Acquire(wctx) })
	syncEventually(t, func() bool { return l.core.testWaiting() == 1 }, "first waiter queued")
	second := syncErrChan(func() error { return l.Acquire(syncAs(ctx, 3, 0)) })
	syncEventually(t, func() bool { return l.core.testWaiting() == 2 }, "second waiter queued")

	l.core.mu.Lock()
	cancel()
	l.core.count--
	l.core.abandoned = true // also check the news travels on with the lock
	l.core.handOffLocked()
	l.core.mu.Unlock()

	assert.ErrorIs(t, syncRecv(t, ctx, first), context.Canceled)
	assert.ErrorIs(t, syncRecv(t, ctx, second), errs.Abandoned)
	owner, count := l.core.testHolder()
	assert.Equal(t, lockOwner{session: syncSession(3)}, owner)
	assert.Equal(t, 1, count)
}

func TestLockReleaseSession(t *testing.T) {
	t.Run("hands on to a waiter, abandoned once", func(t *testing.T) {
		ctx := syncTestCtx(t)
		l, err := NewLock()
		require.NoError(t, err)
		a, b, c := syncAs(ctx, 1, 0), syncAs(ctx, 2, 0), syncAs(ctx, 3, 0)
		require.NoError(t, l.Acquire(a))
		got := syncErrChan(func() error { return l.Acquire(b) })
		syncEventually(t, func() bool { return l.core.testWaiting() == 1 }, "waiter queued")

		l.ReleaseSession(syncSession(1))
		err = syncRecv(t, ctx, got)
		assert.ErrorIs(t, err, errs.Abandoned)
		assert.True(t, l.Locked(), "the abandoned lock is held by the waiter")
		require.NoError(t, l.Release(b))
		assert.NoError(t, l.Acquire(c), "abandoned is reported once")
	})
	t.Run("no waiter: freed, next TryAcquire told", func(t *testing.T) {
		ctx := syncTestCtx(t)
		l, err := NewLock()
		require.NoError(t, err)
		require.NoError(t, l.Acquire(syncAs(ctx, 1, 0)))
		l.ReleaseSession(syncSession(9)) // not the holder: nothing happens
		assert.True(t, l.Locked())
		l.ReleaseSession(syncSession(1))
		assert.False(t, l.Locked())

		ok, err := l.TryAcquire(syncAs(ctx, 2, 0))
		assert.True(t, ok)
		assert.ErrorIs(t, err, errs.Abandoned)
		require.NoError(t, l.Release(syncAs(ctx, 2, 0)))
		ok, err = l.TryAcquire(syncAs(ctx, 2, 0))
		assert.True(t, ok)
		assert.NoError(t, err)
	})
	t.Run("withdraws the session's waiters", func(t *testing.T) {
		ctx := syncTestCtx(t)
		l, err := NewLock()
		require.NoError(t, err)
		require.NoError(t, l.Acquire(syncAs(ctx, 1, 0)))
		got := syncErrChan(func() error { return l.Acquire(syncAs(ctx, 2, 0)) })
		syncEventually(t, func() bool { return l.core.testWaiting() == 1 }, "waiter queued")
		l.ReleaseSession(syncSession(2))
		assert.ErrorIs(t, syncRecv(t, ctx, got), errs.NotHeld)
		owner, _ := l.core.testHolder()
		assert.Equal(t, syncSession(1), owner.session)
	})
}

func TestRLockReentrancy(t *testing.T) {
	ctx := syncTestCtx(t)
	r, err := NewRLock()
	require.NoError(t, err)
	h1, h2 := syncAs(ctx, 1, 1), syncAs(ctx, 1, 2) // two handles, one session

	for range 3 {
		require.NoError(t, r.Acquire(h1))
	}
	ok, err := r.TryAcquire(h1)
	require.NoError(t, err)
	require.True(t, ok)
	_, count := r.core.testHolder()
	assert.Equal(t, 4, count)

	ok, err = r.TryAcquire(h2)
	assert.NoError(t, err)
	assert.False(t, ok, "another handle of the same session does not share the RLock")
	assert.ErrorIs(t, r.Release(h2), errs.NotHeld)

	got := syncErrChan(func() error { return r.Acquire(h2) })
	syncEventually(t, func() bool { return r.core.testWaiting() == 1 }, "other handle waits")
	require.NoError(t, r.Acquire(h1), "the owner re-enters even with a waiter")
	for range 5 {
		require.NoError(t, r.Release(h1))
	}
	assert.NoError(t, syncRecv(t, ctx, got))
	assert.ErrorIs(t, r.Release(h1), errs.NotHeld)
	owner, count := r.core.testHolder()
	assert.Equal(t, lockOwner{session: syncSession(1), handle: 2}, owner)
	assert.Equal(t, 1, count)
	require.NoError(t, r.Release(h2))
	assert.False(t, r.Locked())
}

func TestRLockCancelWithdraws(t *testing.T) {
	ctx := syncTestCtx(t)
	r, err := NewRLock()
	require.NoError(t, err)
	require.NoError(t, r.Acquire(syncAs(ctx, 1, 1)))
	wctx, cancel := context.WithCancel(syncAs(ctx, 2, 1))
	got := syncErrChan(func() error { return r.Acquire(wctx) })
	syncEventually(t, func() bool { return r.core.testWaiting() == 1 }, "waiter queued")
	cancel()
	assert.ErrorIs(t, syncRecv(t, ctx, got), context.Canceled)
	require.NoError(t, r.Release(syncAs(ctx, 1, 1)))
	assert.False(t, r.Locked())
}

func TestRLockReleaseSession(t *testing.T) {
	ctx := syncTestCtx(t)
	r, err := NewRLock()
	require.NoError(t, err)
	h := syncAs(ctx, 1, 5)
	require.NoError(t, r.Acquire(h))
	require.NoError(t, r.Acquire(h))

	other := syncAs(ctx, 2, 6)
	got := syncErrChan(func() error { return r.Acquire(other) })
	syncEventually(t, func() bool { return r.core.testWaiting() == 1 }, "waiter queued")
	r.ReleaseSession(syncSession(1))
	assert.ErrorIs(t, syncRecv(t, ctx, got), errs.Abandoned)
	assert.ErrorIs(t, r.Release(h), errs.NotHeld, "the dead handle's levels are gone")
	require.NoError(t, r.Release(other))
	assert.False(t, r.Locked())
	require.NoError(t, r.Acquire(h), "abandoned is reported once")
}

func TestLockErrorsAreDistinct(t *testing.T) {
	// Errors must keep their sentinel through wrapping, for the wire code.
	ctx := syncTestCtx(t)
	l, err := NewLock()
	require.NoError(t, err)
	err = l.Release(ctx)
	var e *errs.Error
	require.True(t, errors.As(err, &e))
	assert.Equal(t, "not_held", e.Code())
}
