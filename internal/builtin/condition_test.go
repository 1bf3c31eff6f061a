package builtin

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/goproc/manager/internal/callctx"
	"github.com/goproc/manager/internal/errs"
)

func (c *Condition) testWaiting() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.waiters)
}

func (l *lockCore) testParked() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.parked)
}

// conditionResolver returns ctx whose resolver knows objs by id.
func conditionResolver(ctx context.Context, objs map[uint64]any) context.Context {
	return callctx.WithResolver(ctx, func(id uint64) (any, bool) {
		o, ok := objs[id]
		return o, ok
	})
}

// conditionWaitAsync starts c.Wait in a goroutine, waits until it is
// waiting for a notification, and returns its result channel.
func conditionWaitAsync(tb testing.TB, c *Condition, ctx context.Context) <-chan error {
	tb.Helper()
	before := c.testWaiting()
	ch := syncErrChan(func() error { return c.Wait(ctx) })
	syncEventually(tb, func() bool { return c.testWaiting() == before+1 }, "Wait is waiting")
	return ch
}

// conditionHeld returns a test ctx, a Condition on its own lock, and the
// ctx of session 1, which holds that lock.
func conditionHeld(tb testing.TB) (ctx context.Context, c *Condition, w context.Context) {
	tb.Helper()
	ctx = syncTestCtx(tb)
	c, err := NewCondition(ctx, 0)
	require.NoError(tb, err)
	w = syncAs(ctx, 1, 0)
	require.NoError(tb, c.Acquire(w))
	return ctx, c, w
}

// conditionWaitCancellable starts c.Wait for w under a ctx that the
// returned cancel ends, as conditionWaitAsync does.
func conditionWaitCancellable(tb testing.TB, c *Condition, w context.Context) (got <-chan error, cancel context.CancelFunc) {
	tb.Helper()
	wctx, cancel := context.WithCancel(w)
	tb.Cleanup(cancel)
	return conditionWaitAsync(tb, c, wctx), cancel
}

func TestNewCondition(t *testing.T) {
	ctx := syncTestCtx(t)
	l, err := NewLock()
	require.NoError(t, err)
	r, err := NewRLock()
	require.NoError(t, err)
	ev, err := NewEvent()
	require.NoError(t, err)
	rctx := conditionResolver(ctx, map[uint64]any{1: l, 2: r, 3: ev})

	tests := []struct {
		name    string
		give    uint64
		wantErr error
		want    *lockCore
	}{
		{name: "own lock", give: 0},
		{name: "on a Lock", give: 1, want: &l.core},
		{name: "on an RLock", give: 2, want: &r.core},
		{name: "on an Event", give: 3, wantErr: errs.BadArguments},
		{name: "unknown id", give: 4, wantErr: errs.NoSuchObject},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := NewCondition(rctx, tt.give)
			if tt.wantErr != nil {
				assert.ErrorIs(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			require.NotNil(t, c.lock)
			if tt.want != nil {
				assert.Same(t, tt.want, c.lock)
			}
		})
	}

	_, err = NewCondition(ctx, 1)
	assert.ErrorIs(t, err, errs.NoSuchObject, "no resolver in ctx")
}

func TestConditionSharesItsLock(t *testing.T) {
	ctx := syncTestCtx(t)
	l, err := NewLock()
	require.NoError(t, err)
	c, err := NewCondition(conditionResolver(ctx, map[uint64]any{7: l}), 7)
	require.NoError(t, err)

	a, b := syncAs(ctx, 1, 0), syncAs(ctx, 2, 0)
	require.NoError(t, l.Acquire(a))
	ok, err := c.TryAcquire(b)
	assert.NoError(t, err)
	assert.False(t, ok)
	require.NoError(t, c.Release(a), "the condition releases the Lock it shares")
	assert.False(t, l.Locked())
	ok, err = c.TryAcquire(b)
	assert.NoError(t, err)
	assert.True(t, ok)
	assert.True(t, l.Locked())
}

func TestConditionNeedsTheLock(t *testing.T) {
	ctx := syncTestCtx(t)
	c, err := NewCondition(ctx, 0)
	require.NoError(t, err)
	counter := &syncDoneCounter{Context: ctx}
	a, b := syncAs(counter, 1, 0), syncAs(ctx, 2, 0)

	assert.ErrorIs(t, c.Wait(a), errs.NotHeld)
	assert.Equal(t, int32(0), counter.calls.Load(), "a Wait refused at once never touches Done")
	assert.ErrorIs(t, c.Notify(a, 1), errs.NotHeld)
	assert.ErrorIs(t, c.NotifyAll(a), errs.NotHeld)
	assert.ErrorIs(t, c.Release(a), errs.NotHeld)

	require.NoError(t, c.Acquire(a))
	assert.ErrorIs(t, c.Wait(b), errs.NotHeld, "another session does not hold it")
	assert.ErrorIs(t, c.Notify(b, 1), errs.NotHeld)
	assert.ErrorIs(t, c.Notify(a, -1), errs.BadArguments)
	assert.NoError(t, c.Notify(a, 0))
	assert.NoError(t, c.Notify(a, 3), "notifying nobody is fine")
	assert.NoError(t, c.NotifyAll(a))
	assert.Equal(t, 0, c.testWaiting())
	assert.Equal(t, 0, c.lock.testParked())
}

func TestConditionNotifyFIFO(t *testing.T) {
	ctx := syncTestCtx(t)
	c, err := NewCondition(ctx, 0)
	require.NoError(t, err)

	const n = 4
	woke := make(chan int, n)
	var wg sync.WaitGroup
	for i := range n {
		w := syncAs(ctx, byte(i+1), 0)
		require.NoError(t, c.Acquire(w))
		before := c.testWaiting()
		wg.Add(1)
		go func() {
			defer wg.Done()
			if assert.NoError(t, c.Wait(w)) {
				assert.True(t, c.lock.heldBy(lockOwner{session: syncSession(byte(i + 1))}), "Wait returns holding the lock")
				woke <- i
				assert.NoError(t, c.Release(w))
			}
		}()
		syncEventually(t, func() bool { return c.testWaiting() == before+1 }, "Wait is waiting")
	}

	notifier := syncAs(ctx, 100, 0)
	for i := range n {
		require.NoError(t, c.Acquire(notifier))
		require.NoError(t, c.Notify(notifier, 1))
		assert.Equal(t, n-1-i, c.testWaiting())
		require.NoError(t, c.Release(notifier))
		assert.Equal(t, i, syncRecv(t, ctx, woke), "longest waiter first")
	}
	wg.Wait()
	assert.False(t, c.lock.locked())
}

func TestConditionNotifyAll(t *testing.T) {
	ctx := syncTestCtx(t)
	c, err := NewCondition(ctx, 0)
	require.NoError(t, err)

	const n = 5
	woke := make(chan error, n)
	for i := range n {
		w := syncAs(ctx, byte(i+1), 0)
		require.NoError(t, c.Acquire(w))
		go func() {
			err := c.Wait(w)
			if err == nil {
				// Each woken waiter holds the lock in turn.
				err = c.Release(w)
			}
			woke <- err
		}()
		syncEventually(t, func() bool { return c.testWaiting() == i+1 }, "Wait is waiting")
	}
	notifier := syncAs(ctx, 100, 0)
	require.NoError(t, c.Acquire(notifier))
	require.NoError(t, c.NotifyAll(notifier))
	assert.Equal(t, 0, c.testWaiting())
	require.NoError(t, c.Release(notifier))

	for range n {
		assert.NoError(t, syncRecv(t, ctx, woke))
	}
	assert.False(t, c.lock.locked())
}

func TestConditionWaitRestoresRLockLevels(t *testing.T) {
	ctx := syncTestCtx(t)
	r, err := NewRLock()
	require.NoError(t, err)
	c, err := NewCondition(conditionResolver(ctx, map[uint64]any{1: r}), 1)
	require.NoError(t, err)

	w := syncAs(ctx, 1, 10)
	for range 3 {
		require.NoError(t, r.Acquire(w))
	}
	got := conditionWaitAsync(t, c, w)
	assert.False(t, r.Locked(), "Wait released every level")

	other := syncAs(ctx, 1, 11) // same session, other handle
	require.NoError(t, c.Acquire(other))
	require.NoError(t, c.Notify(other, 1))
	require.NoError(t, c.Release(other))
	require.NoError(t, syncRecv(t, ctx, got))

	owner, count := r.core.testHolder()
	assert.Equal(t, lockOwner{session: syncSession(1), handle: 10}, owner)
	assert.Equal(t, 3, count)
	for range 3 {
		require.NoError(t, r.Release(w))
	}
	assert.ErrorIs(t, r.Release(w), errs.NotHeld)
}

func TestConditionWaitCancel(t *testing.T) {
	t.Run("lock free: re-acquired at once", func(t *testing.T) {
		ctx, c, w := conditionHeld(t)
		got, cancel := conditionWaitCancellable(t, c, w)
		cancel()
		err := syncRecv(t, ctx, got)
		assert.ErrorIs(t, err, context.Canceled)
		assert.NotErrorIs(t, err, errs.NotHeld)
		assert.Equal(t, 0, c.testWaiting())
		assert.NoError(t, c.Release(w), "the caller holds the lock again")
		assert.False(t, c.lock.locked())
	})
	t.Run("lock busy: waits for the holder", func(t *testing.T) {
		ctx, c, w := conditionHeld(t)
		holder := syncAs(ctx, 2, 0)
		got, cancel := conditionWaitCancellable(t, c, w)
		require.NoError(t, c.Acquire(holder))
		cancel()
		syncEventually(t, func() bool { return c.lock.testWaiting() == 1 }, "restore queued")
		require.NoError(t, c.Release(holder))
		err := syncRecv(t, ctx, got)
		assert.ErrorIs(t, err, context.Canceled)
		assert.NotErrorIs(t, err, errs.NotHeld)
		assert.NoError(t, c.Release(w))
	})
	t.Run("lock kept past the grace: not held", func(t *testing.T) {
		ctx, c, w := conditionHeld(t)
		c.restoreGrace = time.Millisecond
		holder := syncAs(ctx, 2, 0)
		got, cancel := conditionWaitCancellable(t, c, w)
		require.NoError(t, c.Acquire(holder))
		cancel()
		err := syncRecv(t, ctx, got)
		assert.ErrorIs(t, err, context.Canceled)
		assert.ErrorIs(t, err, errs.NotHeld)
		assert.Equal(t, 0, c.lock.testWaiting())
		assert.Equal(t, 0, c.lock.testParked())
		require.NoError(t, c.Release(holder))
		assert.False(t, c.lock.locked(), "the given-up restore took nothing")
	})
	t.Run("caller releases before the restore", func(t *testing.T) {
		// The client returned the ctx error at once and releases the lock
		// it believes it holds: that cancels the pending restore.
		ctx, c, w := conditionHeld(t)
		holder := syncAs(ctx, 2, 0)
		got, cancel := conditionWaitCancellable(t, c, w)
		require.NoError(t, c.Acquire(holder))
		cancel()
		syncEventually(t, func() bool { return c.lock.testWaiting() == 1 }, "restore queued")
		require.NoError(t, c.Release(w))
		err := syncRecv(t, ctx, got)
		assert.ErrorIs(t, err, errs.NotHeld)
		assert.ErrorIs(t, c.Release(w), errs.NotHeld, "only one level was pending")
		require.NoError(t, c.Release(holder))
		assert.False(t, c.lock.locked())
	})
	t.Run("a live wait cannot be released", func(t *testing.T) {
		ctx, c, w := conditionHeld(t)
		got := conditionWaitAsync(t, c, w)
		assert.ErrorIs(t, c.Release(w), errs.NotHeld)
		require.NoError(t, c.Acquire(w))
		require.NoError(t, c.Notify(w, 1))
		require.NoError(t, c.Release(w))
		assert.NoError(t, syncRecv(t, ctx, got))
		assert.NoError(t, c.Release(w))
	})
}

// TestConditionNotifyAtCancel notifies a waiter whose ctx has just ended:
// it passes the notification on, so no wake-up is lost.
func TestConditionNotifyAtCancel(t *testing.T) {
	ctx := syncTestCtx(t)
	c, err := NewCondition(ctx, 0)
	require.NoError(t, err)
	// waitThenRelease waits, then releases the lock it holds again (after
	// a cancelled Wait too), so the two waiters can re-acquire in any order.
	waitThenRelease := func(ctx context.Context, who context.Context) <-chan error {
		require.NoError(t, c.Acquire(who))
		before := c.testWaiting()
		ch := syncErrChan(func() error {
			err := c.Wait(ctx)
			if rerr := c.Release(who); rerr != nil {
				return rerr
			}
			return err
		})
		syncEventually(t, func() bool { return c.testWaiting() == before+1 }, "Wait is waiting")
		return ch
	}
	w1, w2 := syncAs(ctx, 1, 0), syncAs(ctx, 2, 0)
	w1ctx, cancel := context.WithCancel(w1)
	first := waitThenRelease(w1ctx, w1)
	second := waitThenRelease(w2, w2)

	c.mu.Lock()
	cancel()
	c.notifyLocked(1)
	c.mu.Unlock()

	assert.ErrorIs(t, syncRecv(t, ctx, first), context.Canceled)
	assert.NoError(t, syncRecv(t, ctx, second), "the notification went on to the second waiter")
	assert.False(t, c.lock.locked())
}

func TestConditionReleaseSession(t *testing.T) {
	t.Run("holder dies: abandoned to the woken waiter", func(t *testing.T) {
		ctx := syncTestCtx(t)
		c, err := NewCondition(ctx, 0)
		require.NoError(t, err)
		w, dying := syncAs(ctx, 1, 0), syncAs(ctx, 2, 0)
		require.NoError(t, c.Acquire(w))
		got := conditionWaitAsync(t, c, w)
		require.NoError(t, c.Acquire(dying))
		require.NoError(t, c.Notify(dying, 1))
		c.ReleaseSession(syncSession(2))
		assert.ErrorIs(t, syncRecv(t, ctx, got), errs.Abandoned)
		require.NoError(t, c.Release(w))
		assert.NoError(t, c.Acquire(w), "abandoned is reported once")
	})
	t.Run("waiter dies: withdrawn, notification not spent", func(t *testing.T) {
		ctx := syncTestCtx(t)
		c, err := NewCondition(ctx, 0)
		require.NoError(t, err)
		dying, w := syncAs(ctx, 1, 0), syncAs(ctx, 2, 0)
		require.NoError(t, c.Acquire(dying))
		dead := conditionWaitAsync(t, c, dying)
		require.NoError(t, c.Acquire(w))
		live := conditionWaitAsync(t, c, w)

		c.ReleaseSession(syncSession(1))
		err = syncRecv(t, ctx, dead)
		assert.ErrorIs(t, err, errs.NotHeld)
		assert.Equal(t, 1, c.testWaiting())

		n := syncAs(ctx, 3, 0)
		require.NoError(t, c.Acquire(n))
		require.NoError(t, c.Notify(n, 1))
		require.NoError(t, c.Release(n))
		assert.NoError(t, syncRecv(t, ctx, live))
		require.NoError(t, c.Release(w))
		assert.False(t, c.lock.locked())
	})
}

// TestConditionProducerConsumer runs the client-side wait_for loop with
// many sessions at once.
func TestConditionProducerConsumer(t *testing.T) {
	ctx := syncTestCtx(t)
	c, err := NewCondition(ctx, 0)
	require.NoError(t, err)
	const consumers, perConsumer = 8, 50
	stock := 0 // guarded by c's lock

	var wg sync.WaitGroup
	for i := range consumers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			me := syncAs(ctx, byte(i+1), 0)
			for range perConsumer {
				if !assert.NoError(t, c.Acquire(me)) {
					return
				}
				for stock == 0 {
					if !assert.NoError(t, c.Wait(me)) {
						return
					}
				}
				stock--
				assert.NoError(t, c.Release(me))
			}
		}()
	}
	producer := syncAs(ctx, 200, 0)
	for range consumers * perConsumer {
		require.NoError(t, c.Acquire(producer))
		stock++
		require.NoError(t, c.Notify(producer, 1))
		require.NoError(t, c.Release(producer))
	}
	wg.Wait()
	assert.Equal(t, 0, stock)
	assert.Equal(t, 0, c.testWaiting())
}
