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
	manager.RegisterWorker("value.add", func(ctx context.Context, c *manager.Client, args manager.Args) error {
		var v *manager.Value[int]
		if err := args.Decode(&v); err != nil {
			return err
		}
		for j := 0; j < 10; j++ {
			if _, err := v.Add(ctx, 1); err != nil {
				return err
			}
		}
		return nil
	})
	manager.RegisterWorker("value.modify", func(ctx context.Context, c *manager.Client, args manager.Args) error {
		var v *manager.Value[[]int]
		var worker int
		if err := args.Decode(&v, &worker); err != nil {
			return err
		}
		for j := 0; j < 10; j++ {
			_, err := v.Modify(ctx, func(old []int) ([]int, error) { return append(old, worker), nil })
			if err != nil {
				return err
			}
		}
		return nil
	})
}

func TestValueMethods(t *testing.T) {
	ctx := testContext(t)
	m := startManager(t, manager.InProcess())
	v, err := manager.NewValue(ctx, m, 10)
	require.NoError(t, err)

	got, err := v.Load(ctx)
	require.NoError(t, err)
	assert.Equal(t, 10, got)
	require.NoError(t, v.Store(ctx, 20))
	prev, err := v.Swap(ctx, 30)
	require.NoError(t, err)
	assert.Equal(t, 20, prev)
	swapped, err := v.CompareAndSwap(ctx, 20, 40)
	require.NoError(t, err)
	assert.False(t, swapped)
	swapped, err = v.CompareAndSwap(ctx, 30, 40)
	require.NoError(t, err)
	assert.True(t, swapped)
	sum, err := v.Add(ctx, 2)
	require.NoError(t, err)
	assert.Equal(t, 42, sum)
	swapped, err = v.CompareAndSwap(ctx, 42, 0)
	require.NoError(t, err)
	assert.True(t, swapped, "a sum compares equal to the same number stored")

	doubled, err := v.Modify(ctx, func(old int) (int, error) { return old*2 + 1, nil })
	require.NoError(t, err)
	assert.Equal(t, 1, doubled)
	boom := errors.New("boom")
	_, err = v.Modify(ctx, func(old int) (int, error) { return 0, boom })
	assert.ErrorIs(t, err, boom)

	s, err := manager.NewValue(ctx, m, "text")
	require.NoError(t, err)
	_, err = s.Add(ctx, "more")
	assert.ErrorIs(t, err, manager.ErrBadArguments)

	f, err := manager.NewValue(ctx, m, 0.25)
	require.NoError(t, err)
	fsum, err := f.Add(ctx, 0.5)
	require.NoError(t, err)
	assert.Equal(t, 0.75, fsum)
}

// TestValueAddAcrossProcesses is the fix for Python's v.value += 1: 10
// processes adding 1 ten times give exactly 100.
func TestValueAddAcrossProcesses(t *testing.T) {
	ctx := testContext(t)
	m := startManager(t)
	v, err := manager.NewValue(ctx, m, 0)
	require.NoError(t, err)
	runWorkers(ctx, t, m, 10, "value.add", v)
	got, err := v.Load(ctx)
	require.NoError(t, err)
	assert.Equal(t, 100, got)
}

func TestValueModifyAcrossProcesses(t *testing.T) {
	ctx := testContext(t)
	m := startManager(t, manager.InProcess())
	v, err := manager.NewValue[[]int](ctx, m, nil)
	require.NoError(t, err)
	runWorkers(ctx, t, m, 4, "value.modify", v)
	got, err := v.Load(ctx)
	require.NoError(t, err)
	assert.Len(t, got, 40)
}
