package manager_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/goproc/manager"
)

func init() {
	// condition.wait-for-flag holds the condition's lock when it tells
	// the parent it is ready, so the parent can take the lock (and
	// notify) only once the worker is inside Wait.
	manager.RegisterWorker("condition.wait-for-flag", func(ctx context.Context, c *manager.Client, args manager.Args) error {
		var cond *manager.Condition
		var ready *manager.Semaphore
		var flag *manager.Value[bool]
		var woken *manager.Queue[int]
		var worker int
		if err := args.Decode(&cond, &ready, &flag, &woken, &worker); err != nil {
			return err
		}
		if err := cond.Acquire(ctx); err != nil {
			return err
		}
		if err := ready.Release(ctx); err != nil {
			return err
		}
		err := cond.WaitFor(ctx, func() (bool, error) { return flag.Load(ctx) })
		if err != nil {
			return err
		}
		if err := cond.Release(ctx); err != nil {
			return err
		}
		return woken.Put(ctx, worker)
	})
}

func TestConditionMethods(t *testing.T) {
	ctx := testContext(t)
	m := startManager(t, manager.InProcess())
	cond, err := manager.NewCondition(ctx, m, nil)
	require.NoError(t, err)

	assert.ErrorIs(t, cond.Wait(ctx), manager.ErrNotHeld, "Wait without the lock")
	assert.ErrorIs(t, cond.Notify(ctx, 1), manager.ErrNotHeld)
	assert.ErrorIs(t, cond.NotifyAll(ctx), manager.ErrNotHeld)
	assert.ErrorIs(t, cond.Release(ctx), manager.ErrNotHeld)

	require.NoError(t, cond.Acquire(ctx))
	assert.ErrorIs(t, cond.Wait(expiring(t)), context.DeadlineExceeded)
	require.NoError(t, cond.Notify(ctx, 1), "the lock is held again after a timed-out Wait")
	require.NoError(t, cond.NotifyAll(ctx))

	calls := 0
	require.NoError(t, cond.WaitFor(ctx, func() (bool, error) { calls++; return true, nil }))
	assert.Equal(t, 1, calls, "a predicate that holds needs no Wait")
	calls = 0
	err = cond.WaitFor(expiring(t), func() (bool, error) { calls++; return false, nil })
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Equal(t, 2, calls, "evaluated before the Wait and once after it timed out")
	boom := errors.New("boom")
	assert.ErrorIs(t, cond.WaitFor(ctx, func() (bool, error) { return false, boom }), boom)
	require.NoError(t, cond.Release(ctx))

	ok, err := cond.TryAcquire(ctx)
	require.NoError(t, err)
	assert.True(t, ok)
	require.NoError(t, cond.Release(ctx))
}

func TestConditionOnExistingLocks(t *testing.T) {
	ctx := testContext(t)
	m := startManager(t, manager.InProcess())

	lock, err := manager.NewLock(ctx, m)
	require.NoError(t, err)
	cond, err := manager.NewCondition(ctx, m, lock)
	require.NoError(t, err)
	require.NoError(t, cond.Acquire(ctx))
	locked, err := lock.Locked(ctx)
	require.NoError(t, err)
	assert.True(t, locked, "the condition works on the Lock")
	require.NoError(t, lock.Release(ctx), "a Lock is held by the process, whichever proxy took it")

	r, err := manager.NewRLock(ctx, m)
	require.NoError(t, err)
	rcond, err := manager.OpenCondition(ctx, m, "on-rlock", r)
	require.NoError(t, err)
	require.NoError(t, rcond.Acquire(ctx))
	require.NoError(t, rcond.Acquire(ctx), "reentrant through the Condition proxy")
	ok, err := r.TryAcquire(ctx)
	require.NoError(t, err)
	assert.False(t, ok, "the RLock proxy is another owner")
	require.NoError(t, rcond.Release(ctx))
	require.NoError(t, rcond.Release(ctx))
	ok, err = r.TryAcquire(ctx)
	require.NoError(t, err)
	assert.True(t, ok)
	require.NoError(t, r.Release(ctx))

	var nilLock *manager.Lock
	own, err := manager.NewCondition(ctx, m, nilLock)
	require.NoError(t, err, "a nil *Lock means a lock of its own")
	require.NoError(t, own.Close())

	elsewhere := startManager(t, manager.InProcess())
	foreign, err := manager.NewLock(ctx, elsewhere)
	require.NoError(t, err)
	_, err = manager.NewCondition(ctx, m, foreign)
	assert.ErrorIs(t, err, manager.ErrBadArguments, "a lock of another manager")
}

// TestConditionNotifyAcrossProcesses: workers wait in WaitFor until the
// parent sets a flag and notifies.
func TestConditionNotifyAcrossProcesses(t *testing.T) {
	ctx := testContext(t)
	m := startManager(t)
	cond, err := manager.NewCondition(ctx, m, nil)
	require.NoError(t, err)
	ready, err := manager.NewSemaphore(ctx, m, 0)
	require.NoError(t, err)
	flag, err := manager.NewValue(ctx, m, false)
	require.NoError(t, err)
	woken, err := manager.NewQueue[int](ctx, m, 0)
	require.NoError(t, err)

	const workers = 3
	var waits []func()
	for i := 0; i < workers; i++ {
		waits = append(waits, startWorker(ctx, t, m, "condition.wait-for-flag", cond, ready, flag, woken, i))
	}
	for i := 0; i < workers; i++ {
		require.NoError(t, ready.Acquire(ctx))
	}
	// Every worker has taken the lock; when we get it, each is in Wait.
	require.NoError(t, cond.Acquire(ctx))
	require.NoError(t, cond.Notify(ctx, 1), "a notify before the flag is set: WaitFor waits again")
	require.NoError(t, flag.Store(ctx, true))
	require.NoError(t, cond.NotifyAll(ctx))
	require.NoError(t, cond.Release(ctx))

	var got []int
	for i := 0; i < workers; i++ {
		w, err := woken.Get(ctx)
		require.NoError(t, err)
		got = append(got, w)
	}
	assert.ElementsMatch(t, []int{0, 1, 2}, got)
	for _, wait := range waits {
		wait()
	}
}
