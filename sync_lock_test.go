package manager_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/goproc/manager"
)

func init() {
	// lock.increment increments a plain (non-atomic) Value under the lock:
	// without mutual exclusion across processes, increments would be lost.
	manager.RegisterWorker("lock.increment", func(ctx context.Context, c *manager.Client, args manager.Args) error {
		var lock *manager.Lock
		var v *manager.Value[int]
		if err := args.Decode(&lock, &v); err != nil {
			return err
		}
		return incrementUnder(ctx, lock.Acquire, lock.Release, 1, v)
	})
	manager.RegisterWorker("rlock.increment", func(ctx context.Context, c *manager.Client, args manager.Args) error {
		var lock *manager.RLock
		var v *manager.Value[int]
		if err := args.Decode(&lock, &v); err != nil {
			return err
		}
		return incrementUnder(ctx, lock.Acquire, lock.Release, 2, v) // reentrant
	})
	manager.RegisterWorker("lock.acquire-and-exit", func(ctx context.Context, c *manager.Client, args manager.Args) error {
		var lock *manager.Lock
		if err := args.Decode(&lock); err != nil {
			return err
		}
		return lock.Acquire(ctx) // and exit holding it
	})
}

// incrementUnder adds one to v 25 times, each time under levels
// acquisitions of a lock, released even when the Load or Store fails.
func incrementUnder(ctx context.Context, acquire, release func(context.Context) error, levels int, v *manager.Value[int]) error {
	for j := 0; j < 25; j++ {
		for k := 0; k < levels; k++ {
			if err := acquire(ctx); err != nil {
				return err
			}
		}
		n, err := v.Load(ctx)
		if err == nil {
			err = v.Store(ctx, n+1)
		}
		for k := 0; k < levels; k++ {
			if rerr := release(ctx); err == nil {
				err = rerr
			}
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func TestLockMethods(t *testing.T) {
	ctx := testContext(t)
	m := startManager(t, manager.InProcess())
	lock, err := manager.NewLock(ctx, m)
	require.NoError(t, err)

	require.NoError(t, lock.Acquire(ctx))
	locked, err := lock.Locked(ctx)
	require.NoError(t, err)
	assert.True(t, locked)
	ok, err := lock.TryAcquire(ctx)
	require.NoError(t, err)
	assert.False(t, ok, "a Lock is not reentrant, even for its holder")
	require.NoError(t, lock.Release(ctx))
	assert.ErrorIs(t, lock.Release(ctx), manager.ErrNotHeld)
	locked, err = lock.Locked(ctx)
	require.NoError(t, err)
	assert.False(t, locked)
	ok, err = lock.TryAcquire(ctx)
	require.NoError(t, err)
	assert.True(t, ok)
	released := make(chan error, 1)
	go func() { released <- lock.Release(ctx) }()
	require.NoError(t, <-released, "any goroutine of the holding process may release")

	// Another process may not release it.
	otherProcess := secondSession(t, m)
	theirs, err := manager.OpenLock(ctx, otherProcess, "theirs")
	require.NoError(t, err)
	require.NoError(t, theirs.Acquire(ctx))
	mine, err := manager.OpenLock(ctx, m, "theirs")
	require.NoError(t, err)
	assert.ErrorIs(t, mine.Release(ctx), manager.ErrNotHeld)
	require.NoError(t, theirs.Release(ctx))
}

// TestLockTimedOutAcquireIsWithdrawn checks that an Acquire that gives up
// never leaves the lock held by a caller that went away.
func TestLockTimedOutAcquireIsWithdrawn(t *testing.T) {
	ctx := testContext(t)
	m := startManager(t, manager.InProcess())
	lock, err := manager.OpenLock(ctx, m, "l")
	require.NoError(t, err)
	waiter, err := manager.OpenLock(ctx, secondSession(t, m), "l")
	require.NoError(t, err)

	require.NoError(t, lock.Acquire(ctx))
	err = waiter.Acquire(expiring(t))
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	assert.ErrorIs(t, waiter.Acquire(cancelled), context.Canceled)
	require.NoError(t, lock.Release(ctx))

	locked, err := lock.Locked(ctx)
	require.NoError(t, err)
	assert.False(t, locked, "the lock was not handed to the withdrawn waiter")
	ok, err := waiter.TryAcquire(ctx)
	require.NoError(t, err)
	assert.True(t, ok)
	assert.ErrorIs(t, lock.Release(ctx), manager.ErrNotHeld)
	require.NoError(t, waiter.Release(ctx))
}

func TestLockContentionAcrossProcesses(t *testing.T) {
	tests := []struct {
		name    string
		opts    []manager.StartOption
		worker  string
		newLock func(context.Context, *manager.Manager) (any, error)
	}{
		{
			name:   "Lock",
			worker: "lock.increment",
			newLock: func(ctx context.Context, m *manager.Manager) (any, error) {
				return manager.NewLock(ctx, m)
			},
		},
		{
			name:   "RLock",
			opts:   []manager.StartOption{manager.InProcess()},
			worker: "rlock.increment",
			newLock: func(ctx context.Context, m *manager.Manager) (any, error) {
				return manager.NewRLock(ctx, m)
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := testContext(t)
			m := startManager(t, tt.opts...)
			lock, err := tt.newLock(ctx, m)
			require.NoError(t, err)
			v, err := manager.NewValue(ctx, m, 0)
			require.NoError(t, err)
			runWorkers(ctx, t, m, 4, tt.worker, lock, v)
			n, err := v.Load(ctx)
			require.NoError(t, err)
			assert.Equal(t, 100, n)
		})
	}
}

func TestLockAbandonedByDeadProcess(t *testing.T) {
	ctx := testContext(t)
	m := startManager(t, manager.InProcess())
	lock, err := manager.NewLock(ctx, m)
	require.NoError(t, err)

	runWorkers(ctx, t, m, 1, "lock.acquire-and-exit", lock)
	err = lock.Acquire(ctx) // waits until the manager has seen the worker go
	assert.ErrorIs(t, err, manager.ErrAbandoned)
	locked, err := lock.Locked(ctx)
	require.NoError(t, err)
	assert.True(t, locked, "the caller holds the lock despite the error")
	require.NoError(t, lock.Release(ctx))
	require.NoError(t, lock.Acquire(ctx), "abandonment is reported once")
	require.NoError(t, lock.Release(ctx))
}

// TryAcquire of a lock whose holder died reports both facts: the caller
// holds the lock (true) and the holder died (ErrAbandoned).
func TestLockTryAcquireAfterHolderDied(t *testing.T) {
	ctx := testContext(t)
	m := startManager(t, manager.InProcess())
	lock, err := manager.NewLock(ctx, m)
	require.NoError(t, err)
	runWorkers(ctx, t, m, 1, "lock.acquire-and-exit", lock)

	// TryAcquire never waits: retry until the manager has seen the
	// worker's session end.
	var ok bool
	for !ok && ctx.Err() == nil {
		ok, err = lock.TryAcquire(ctx)
	}
	require.True(t, ok, "the lock was never taken: %v", err)
	assert.ErrorIs(t, err, manager.ErrAbandoned)
	require.NoError(t, lock.Release(ctx), "the caller holds the lock")
}

func TestRLockIsReentrantPerProxy(t *testing.T) {
	ctx := testContext(t)
	m := startManager(t, manager.InProcess())
	r, err := manager.OpenRLock(ctx, m, "r")
	require.NoError(t, err)
	sameProcess, err := manager.OpenRLock(ctx, m, "r")
	require.NoError(t, err)

	require.NoError(t, r.Acquire(ctx))
	ok, err := r.TryAcquire(ctx)
	require.NoError(t, err)
	assert.True(t, ok, "reentrant through the same proxy")
	ok, err = sameProcess.TryAcquire(ctx)
	require.NoError(t, err)
	assert.False(t, ok, "another proxy is another owner, even in this process")
	assert.ErrorIs(t, sameProcess.Acquire(expiring(t)), context.DeadlineExceeded)
	assert.ErrorIs(t, sameProcess.Release(ctx), manager.ErrNotHeld)

	require.NoError(t, r.Release(ctx))
	locked, err := r.Locked(ctx)
	require.NoError(t, err)
	assert.True(t, locked, "one level is still held")
	require.NoError(t, r.Release(ctx))
	assert.ErrorIs(t, r.Release(ctx), manager.ErrNotHeld)
	ok, err = sameProcess.TryAcquire(ctx)
	require.NoError(t, err)
	assert.True(t, ok, "free once every level is released, and not handed to the withdrawn waiter")
	require.NoError(t, sameProcess.Release(ctx))
}
