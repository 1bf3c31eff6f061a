package manager_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/goproc/manager"
)

func init() {
	manager.RegisterWorker("array.add", func(ctx context.Context, c *manager.Client, args manager.Args) error {
		var a *manager.Array[int64]
		var worker int
		if err := args.Decode(&a, &worker); err != nil {
			return err
		}
		for j := 0; j < 10; j++ {
			if _, err := a.Add(ctx, worker, 1); err != nil {
				return err
			}
			if _, err := a.Add(ctx, -1, 1); err != nil {
				return err
			}
		}
		return nil
	})
}

func TestArrayMethods(t *testing.T) {
	ctx := testContext(t)
	m := startManager(t, manager.InProcess())
	a, err := manager.NewArray(ctx, m, []float64{0, 1, 2, 3})
	require.NoError(t, err)

	n, err := a.Len(ctx)
	require.NoError(t, err)
	assert.Equal(t, 4, n)
	v, err := a.Get(ctx, -1)
	require.NoError(t, err)
	assert.Equal(t, 3.0, v)
	require.NoError(t, a.Set(ctx, 0, 0.5))
	_, err = a.Get(ctx, 4)
	assert.ErrorIs(t, err, manager.ErrIndexOutOfRange)
	assert.ErrorIs(t, a.Set(ctx, -5, 1), manager.ErrIndexOutOfRange)

	part, err := a.GetSlice(ctx, manager.SliceFrom(1).Step(2))
	require.NoError(t, err)
	assert.Equal(t, []float64{1, 3}, part)
	require.NoError(t, a.SetSlice(ctx, manager.SliceRange(1, 3), []float64{10, 20}))
	err = a.SetSlice(ctx, manager.SliceRange(1, 3), []float64{1})
	assert.ErrorIs(t, err, manager.ErrBadArguments, "an array cannot change length")
	sum, err := a.Add(ctx, 1, 0.5)
	require.NoError(t, err)
	assert.Equal(t, 10.5, sum)
	all, err := a.Copy(ctx)
	require.NoError(t, err)
	assert.Equal(t, []float64{0.5, 10.5, 20, 3}, all)

	got, err := a.Modify(ctx, func(items []float64) ([]float64, error) {
		for i := range items {
			items[i] = -items[i]
		}
		return items, nil
	})
	require.NoError(t, err)
	assert.Equal(t, []float64{-0.5, -10.5, -20, -3}, got)
	_, err = a.Modify(ctx, func(items []float64) ([]float64, error) { return items[:1], nil })
	assert.ErrorIs(t, err, manager.ErrBadArguments)

	zeros, err := manager.NewArray(ctx, m, make([]int, 3))
	require.NoError(t, err)
	zs, err := zeros.Copy(ctx)
	require.NoError(t, err)
	assert.Equal(t, []int{0, 0, 0}, zs)
}

func TestArrayAddAcrossProcesses(t *testing.T) {
	ctx := testContext(t)
	m := startManager(t, manager.InProcess())
	a, err := manager.OpenArray(ctx, m, "counts", make([]int64, 5))
	require.NoError(t, err)
	runWorkers(ctx, t, m, 4, "array.add", a)
	all, err := a.Copy(ctx)
	require.NoError(t, err)
	assert.Equal(t, []int64{10, 10, 10, 10, 40}, all)
}
