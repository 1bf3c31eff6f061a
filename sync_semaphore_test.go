package manager_test

import (
	"context"
	"testing"
	"time"

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

// TestSemaphorePermitsOfDeadProcessReturn has a worker exit holding both
// permits of a BoundedSemaphore: they come back, and each of the next two
// acquirers holds one and is told (ErrAbandoned), once per permit.
func TestSemaphorePermitsOfDeadProcessReturn(t *testing.T) {
	tests := []struct {
		name    string
		acquire func(ctx context.Context, t *testing.T, sem *manager.BoundedSemaphore) error
	}{
		{
			name: "Acquire",
			acquire: func(ctx context.Context, t *testing.T, sem *manager.BoundedSemaphore) error {
				return sem.Acquire(ctx) // waits until the manager has seen the worker go
			},
		},
		{
			name: "TryAcquire",
			acquire: func(ctx context.Context, t *testing.T, sem *manager.BoundedSemaphore) error {
				waitUntil(t, 10*time.Second, "the dead worker's permit is back", func() bool {
					n, err := sem.Value(ctx)
					return err == nil && n > 0
				})
				ok, err := sem.TryAcquire(ctx)
				assert.True(t, ok, "the caller holds the permit, even when told it was abandoned")
				return err
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := testContext(t)
			m := startManager(t, manager.InProcess())
			sem, err := manager.NewBoundedSemaphore(ctx, m, 2)
			require.NoError(t, err)
			runWorkers(ctx, t, m, 1, "semaphore.acquire-and-exit", &sem.Semaphore)

			assert.ErrorIs(t, tt.acquire(ctx, t, sem), manager.ErrAbandoned)
			assert.ErrorIs(t, tt.acquire(ctx, t, sem), manager.ErrAbandoned, "one report per returned permit")
			n, err := sem.Value(ctx)
			require.NoError(t, err)
			assert.Equal(t, 0, n, "the caller holds both permits")

			require.NoError(t, sem.Release(ctx))
			require.NoError(t, tt.acquire(ctx, t, sem), "reported once")
			require.NoError(t, sem.Release(ctx))
			require.NoError(t, sem.Release(ctx))
			assert.ErrorIs(t, sem.Release(ctx), manager.ErrOverReleased, "the dead worker's permits were returned, not added")
		})
	}
}
