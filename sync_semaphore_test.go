package manager_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/goproc/manager"
)

func init() {
	// semaphore.limit records the most workers ever inside the section
	// the semaphore guards.
	manager.RegisterWorker("semaphore.limit", func(ctx context.Context, c *manager.Client, args manager.Args) error {
		var sem *manager.Semaphore
		var inside, most *manager.Value[int]
		if err := args.Decode(&sem, &inside, &most); err != nil {
			return err
		}
		for j := 0; j < 10; j++ {
			if err := sem.Acquire(ctx); err != nil {
				return err
			}
			n, err := inside.Add(ctx, 1)
			if err != nil {
				return err
			}
			if _, err := most.Modify(ctx, func(old int) (int, error) { return max(old, n), nil }); err != nil {
				return err
			}
			if _, err := inside.Add(ctx, -1); err != nil {
				return err
			}
			if err := sem.Release(ctx); err != nil {
				return err
			}
		}
		return nil
	})
	manager.RegisterWorker("semaphore.acquire-and-exit", func(ctx context.Context, c *manager.Client, args manager.Args) error {
		var sem *manager.Semaphore
		if err := args.Decode(&sem); err != nil {
			return err
		}
		for j := 0; j < 2; j++ {
			if err := sem.Acquire(ctx); err != nil {
				return err
			}
		}
		return nil // and exit holding both permits
	})
}

func TestSemaphoreMethods(t *testing.T) {
	ctx := testContext(t)
	m := startManager(t, manager.InProcess())
	sem, err := manager.NewSemaphore(ctx, m, 2)
	require.NoError(t, err)

	require.NoError(t, sem.Acquire(ctx))
	ok, err := sem.TryAcquire(ctx)
	require.NoError(t, err)
	assert.True(t, ok)
	ok, err = sem.TryAcquire(ctx)
	require.NoError(t, err)
	assert.False(t, ok)
	n, err := sem.Value(ctx)
	require.NoError(t, err)
	assert.Equal(t, 0, n)

	assert.ErrorIs(t, sem.Acquire(expiring(t)), context.DeadlineExceeded)
	require.NoError(t, sem.Release(ctx))
	n, err = sem.Value(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, n, "the withdrawn Acquire took nothing")
	require.NoError(t, sem.Release(ctx))
	require.NoError(t, sem.Release(ctx), "a plain Semaphore may be released above its initial value, as in Python")
	n, err = sem.Value(ctx)
	require.NoError(t, err)
	assert.Equal(t, 3, n)

	_, err = manager.NewSemaphore(ctx, m, -1)
	assert.ErrorIs(t, err, manager.ErrBadArguments)
}

func TestBoundedSemaphoreRefusesOverRelease(t *testing.T) {
	ctx := testContext(t)
	m := startManager(t, manager.InProcess())
	sem, err := manager.OpenBoundedSemaphore(ctx, m, "slots", 1)
	require.NoError(t, err)
	assert.ErrorIs(t, sem.Release(ctx), manager.ErrOverReleased)
	require.NoError(t, sem.Acquire(ctx))
	require.NoError(t, sem.Release(ctx))
	assert.ErrorIs(t, sem.Release(ctx), manager.ErrOverReleased)
	n, err := sem.Value(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, n)

	_, err = manager.OpenSemaphore(ctx, m, "slots", 1)
	assert.ErrorIs(t, err, manager.ErrWrongType, "Open checks the exact type")
}

func TestSemaphoreLimitsProcesses(t *testing.T) {
	ctx := testContext(t)
	m := startManager(t, manager.InProcess())
	sem, err := manager.NewSemaphore(ctx, m, 2)
	require.NoError(t, err)
	inside, err := manager.NewValue(ctx, m, 0)
	require.NoError(t, err)
	most, err := manager.NewValue(ctx, m, 0)
	require.NoError(t, err)

	runWorkers(ctx, t, m, 5, "semaphore.limit", sem, inside, most)
	n, err := most.Load(ctx)
	require.NoError(t, err)
	assert.LessOrEqual(t, n, 2)
	assert.GreaterOrEqual(t, n, 1)
	free, err := sem.Value(ctx)
	require.NoError(t, err)
	assert.Equal(t, 2, free)
}

func TestSemaphorePermitsOfDeadProcessReturn(t *testing.T) {
	ctx := testContext(t)
	m := startManager(t, manager.InProcess())
	sem, err := manager.NewBoundedSemaphore(ctx, m, 2)
	require.NoError(t, err)
	runWorkers(ctx, t, m, 1, "semaphore.acquire-and-exit", &sem.Semaphore)
	require.NoError(t, sem.Acquire(ctx)) // waits until the manager has seen the worker go
	require.NoError(t, sem.Acquire(ctx))
	n, err := sem.Value(ctx)
	require.NoError(t, err)
	assert.Equal(t, 0, n)
}
