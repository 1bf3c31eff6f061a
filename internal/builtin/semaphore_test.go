package builtin

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/goproc/manager/internal/callctx"
	"github.com/goproc/manager/internal/errs"
)

func (s *Semaphore) testWaiting() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.waiters)
}

func (s *Semaphore) testAbandoned() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.abandoned
}

func (s *Semaphore) testHeld(id callctx.SessionID) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.held[id]
}

// semaphoreAcquireAsync starts an Acquire and waits until it is blocked.
func semaphoreAcquireAsync(tb testing.TB, ctx context.Context, s *Semaphore) <-chan error {
	tb.Helper()
	before := s.testWaiting()
	ch := syncErrChan(func() error { return s.Acquire(ctx) })
	syncEventually(tb, func() bool { return s.testWaiting() == before+1 }, "Acquire is waiting")
	return ch
}

func TestNewSemaphore(t *testing.T) {
	tests := []struct {
		name    string
		give    int
		wantErr error
	}{
		{name: "zero", give: 0},
		{name: "positive", give: 3},
		{name: "negative", give: -1, wantErr: errs.BadArguments},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := NewSemaphore(tt.give)
			b, berr := NewBoundedSemaphore(tt.give)
			if tt.wantErr != nil {
				assert.ErrorIs(t, err, tt.wantErr)
				assert.ErrorIs(t, berr, tt.wantErr)
				return
			}
			require.NoError(t, err)
			require.NoError(t, berr)
			assert.Equal(t, tt.give, s.Value())
			assert.Equal(t, tt.give, b.Value())
		})
	}
}

func TestSemaphoreAcquireRelease(t *testing.T) {
	ctx := syncTestCtx(t)
	s, err := NewSemaphore(2)
	require.NoError(t, err)
	a := syncAs(ctx, 1, 0)

	require.NoError(t, s.Acquire(a))
	ok, err := s.TryAcquire(a)
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Equal(t, 0, s.Value())
	ok, err = s.TryAcquire(a)
	require.NoError(t, err)
	assert.False(t, ok)
	assert.Equal(t, 2, s.testHeld(syncSession(1)))

	assert.ErrorIs(t, s.Release(a, 0), errs.BadArguments)
	require.NoError(t, s.Release(a, 2))
	assert.Equal(t, 2, s.Value())
	assert.Equal(t, 0, s.testHeld(syncSession(1)))
	require.NoError(t, s.Release(a, 3), "a plain Semaphore may grow, as in Python")
	assert.Equal(t, 5, s.Value())
}

func TestSemaphoreFastPathDoesNotTouchDone(t *testing.T) {
	ctx := &syncDoneCounter{Context: syncTestCtx(t)}
	s, err := NewSemaphore(1)
	require.NoError(t, err)
	require.NoError(t, s.Acquire(ctx))
	require.NoError(t, s.Release(ctx, 1))
	assert.Equal(t, int32(0), ctx.calls.Load())
}

func TestSemaphoreFIFO(t *testing.T) {
	ctx := syncTestCtx(t)
	s, err := NewSemaphore(0)
	require.NoError(t, err)
	const n = 5
	waits := make([]<-chan error, n)
	for i := range n {
		waits[i] = semaphoreAcquireAsync(t, syncAs(ctx, byte(i+1), 0), s)
	}
	releaser := syncAs(ctx, 100, 0)
	require.NoError(t, s.Release(releaser, 2))
	assert.NoError(t, syncRecv(t, ctx, waits[0]))
	assert.NoError(t, syncRecv(t, ctx, waits[1]))
	assert.Equal(t, 3, s.testWaiting())
	ok, err := s.TryAcquire(releaser)
	require.NoError(t, err)
	assert.False(t, ok, "a newcomer does not overtake waiters")
	require.NoError(t, s.Release(releaser, 3))
	for i := 2; i < n; i++ {
		assert.NoError(t, syncRecv(t, ctx, waits[i]))
	}
	for i := range n {
		assert.Equal(t, 1, s.testHeld(syncSession(byte(i+1))))
	}
	assert.Equal(t, 0, s.Value())
}

func TestSemaphoreCancelWithdraws(t *testing.T) {
	ctx := syncTestCtx(t)
	s, err := NewSemaphore(0)
	require.NoError(t, err)
	wctx, cancel := context.WithCancel(syncAs(ctx, 1, 0))
	got := semaphoreAcquireAsync(t, wctx, s)
	cancel()
	assert.ErrorIs(t, syncRecv(t, ctx, got), context.Canceled)
	require.NoError(t, s.Release(ctx, 1))
	assert.Equal(t, 1, s.Value(), "the withdrawn Acquire took nothing")
	assert.Equal(t, 0, s.testHeld(syncSession(1)))
}

// TestSemaphoreCancelAtHandOff gives a permit to an Acquire whose ctx has
// just ended: the permit goes on to the next waiter.
func TestSemaphoreCancelAtHandOff(t *testing.T) {
	ctx := syncTestCtx(t)
	s, err := NewSemaphore(0)
	require.NoError(t, err)
	wctx, cancel := context.WithCancel(syncAs(ctx, 1, 0))
	first := semaphoreAcquireAsync(t, wctx, s)
	second := semaphoreAcquireAsync(t, syncAs(ctx, 2, 0), s)

	s.mu.Lock()
	cancel()
	s.value++
	s.dispatchLocked()
	s.mu.Unlock()

	assert.ErrorIs(t, syncRecv(t, ctx, first), context.Canceled)
	assert.NoError(t, syncRecv(t, ctx, second))
	assert.Equal(t, 0, s.testHeld(syncSession(1)))
	assert.Equal(t, 1, s.testHeld(syncSession(2)))
	assert.Equal(t, 0, s.Value())
}

func TestSemaphoreReleaseSession(t *testing.T) {
	ctx := syncTestCtx(t)
	s, err := NewSemaphore(3)
	require.NoError(t, err)
	a, b := syncAs(ctx, 1, 0), syncAs(ctx, 2, 0)
	require.NoError(t, s.Acquire(a))
	require.NoError(t, s.Acquire(a))
	require.NoError(t, s.Acquire(b))
	waiting := semaphoreAcquireAsync(t, b, s)

	s.ReleaseSession(syncSession(1))
	assert.ErrorIs(t, syncRecv(t, ctx, waiting), errs.Abandoned, "a returned permit goes to the waiter, which is told")
	assert.Equal(t, 1, s.Value())
	assert.Equal(t, 2, s.testHeld(syncSession(2)))
	s.ReleaseSession(syncSession(1)) // again: nothing left
	assert.Equal(t, 1, s.Value())

	// A release by a session holding nothing is counted against nobody.
	require.NoError(t, s.Release(a, 1))
	assert.Equal(t, 2, s.Value())
	assert.Equal(t, 2, s.testHeld(syncSession(2)))
	s.ReleaseSession(syncSession(2))
	assert.Equal(t, 4, s.Value())
}

func TestBoundedSemaphore(t *testing.T) {
	ctx := syncTestCtx(t)
	s, err := NewBoundedSemaphore(2)
	require.NoError(t, err)
	a, b := syncAs(ctx, 1, 0), syncAs(ctx, 2, 0)

	assert.ErrorIs(t, s.Release(a, 1), errs.OverReleased)
	assert.Equal(t, 2, s.Value())
	require.NoError(t, s.Acquire(a))
	require.NoError(t, s.Acquire(a))
	assert.ErrorIs(t, s.Release(a, 3), errs.OverReleased, "nothing changes")
	assert.Equal(t, 0, s.Value())
	require.NoError(t, s.Release(b, 1), "anyone may release within the bound")
	assert.Equal(t, 2, s.testHeld(syncSession(1)))
	s.ReleaseSession(syncSession(1))
	assert.Equal(t, 2, s.Value(), "never above the initial value")
	assert.Equal(t, 1, s.testAbandoned(), "only the permit that came back is marked")
}

func TestSemaphoreConcurrent(t *testing.T) {
	ctx := syncTestCtx(t)
	const permits, goroutines, rounds = 3, 16, 100
	s, err := NewBoundedSemaphore(permits)
	require.NoError(t, err)
	var inside, most atomic.Int32
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			me := syncAs(ctx, byte(g), 0)
			for range rounds {
				if !assert.NoError(t, s.Acquire(me)) {
					return
				}
				n := inside.Add(1)
				for {
					m := most.Load()
					if n <= m || most.CompareAndSwap(m, n) {
						break
					}
				}
				inside.Add(-1)
				if !assert.NoError(t, s.Release(me, 1)) {
					return
				}
			}
		}()
	}
	wg.Wait()
	assert.LessOrEqual(t, most.Load(), int32(permits))
	assert.Equal(t, permits, s.Value())
	s.mu.Lock()
	assert.Empty(t, s.held)
	s.mu.Unlock()
}

// TestSemaphoreAbandonedPermits ends a session holding two permits: the
// next two acquirers, and only they, hold a permit and are told, whether
// they wait (Acquire) or not (TryAcquire).
func TestSemaphoreAbandonedPermits(t *testing.T) {
	tests := []struct {
		name    string
		bounded bool
	}{
		{name: "Semaphore"},
		{name: "BoundedSemaphore", bounded: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := syncTestCtx(t)
			s := &Semaphore{}
			require.NoError(t, s.init(2, tt.bounded))
			dead, a, b := syncAs(ctx, 1, 0), syncAs(ctx, 2, 0), syncAs(ctx, 3, 0)
			require.NoError(t, s.Acquire(dead))
			require.NoError(t, s.Acquire(dead))
			waiting := semaphoreAcquireAsync(t, a, s)

			s.ReleaseSession(syncSession(1))
			assert.ErrorIs(t, syncRecv(t, ctx, waiting), errs.Abandoned, "a waiter served a dead session's permit")
			ok, err := s.TryAcquire(b)
			assert.True(t, ok, "TryAcquire holds the permit")
			assert.ErrorIs(t, err, errs.Abandoned, "and is told")
			assert.Equal(t, 0, s.testAbandoned())
			assert.Equal(t, 1, s.testHeld(syncSession(2)))
			assert.Equal(t, 1, s.testHeld(syncSession(3)))

			require.NoError(t, s.Release(a, 1))
			require.NoError(t, s.Release(b, 1))
			require.NoError(t, s.Acquire(a), "reported once per returned permit")
			ok, err = s.TryAcquire(b)
			require.NoError(t, err)
			assert.True(t, ok)
		})
	}
}

// TestSemaphoreAbandonedMarkSurvivesCancel serves a dead session's permit
// to an Acquire whose ctx has just ended: the permit, and the duty to
// report it, go on to the next acquirer.
func TestSemaphoreAbandonedMarkSurvivesCancel(t *testing.T) {
	ctx := syncTestCtx(t)
	s, err := NewSemaphore(1)
	require.NoError(t, err)
	require.NoError(t, s.Acquire(syncAs(ctx, 1, 0)))
	wctx, cancel := context.WithCancel(syncAs(ctx, 2, 0))
	first := semaphoreAcquireAsync(t, wctx, s)
	second := semaphoreAcquireAsync(t, syncAs(ctx, 3, 0), s)

	s.mu.Lock()
	cancel()
	s.releaseSessionLocked(syncSession(1)) // serves first, whose ctx has ended
	s.mu.Unlock()

	assert.ErrorIs(t, syncRecv(t, ctx, first), context.Canceled)
	assert.ErrorIs(t, syncRecv(t, ctx, second), errs.Abandoned)
	assert.Equal(t, 0, s.testHeld(syncSession(2)))
	assert.Equal(t, 1, s.testHeld(syncSession(3)))
	assert.Equal(t, 0, s.testAbandoned())
}
