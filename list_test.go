package manager_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/goproc/manager"
)

func init() {
	manager.RegisterWorker("list.extend", func(ctx context.Context, c *manager.Client, args manager.Args) error {
		var l *manager.List[int]
		var worker int
		if err := args.Decode(&l, &worker); err != nil {
			return err
		}
		for j := 0; j < 10; j++ {
			if err := l.Extend(ctx, worker*100+j); err != nil {
				return err
			}
		}
		return nil
	})
}

// newIntList returns a shared list holding items.
func newIntList(ctx context.Context, t testing.TB, m *manager.Manager, items ...int) *manager.List[int] {
	t.Helper()
	l, err := manager.NewList(ctx, m, items...)
	require.NoError(t, err)
	return l
}

func listContents(ctx context.Context, t testing.TB, l *manager.List[int]) []int {
	t.Helper()
	items, err := l.Copy(ctx)
	require.NoError(t, err)
	return items
}

func TestListSequenceMethods(t *testing.T) {
	ctx := testContext(t)
	m := startManager(t, manager.InProcess())
	l := newIntList(ctx, t, m, 3, 1, 2)

	require.NoError(t, l.Append(ctx, 1))
	require.NoError(t, l.Extend(ctx, 5, 4))
	require.NoError(t, l.Insert(ctx, 0, 9))
	require.NoError(t, l.Insert(ctx, -1, 8)) // before the last, as in Python
	require.NoError(t, l.Insert(ctx, 100, 7))
	assert.Equal(t, []int{9, 3, 1, 2, 1, 5, 8, 4, 7}, listContents(ctx, t, l))

	n, err := l.Len(ctx)
	require.NoError(t, err)
	assert.Equal(t, 9, n)
	count, err := l.Count(ctx, 1)
	require.NoError(t, err)
	assert.Equal(t, 2, count)
	i, err := l.Index(ctx, 1)
	require.NoError(t, err)
	assert.Equal(t, 2, i)
	i, err = l.IndexRange(ctx, 1, 3, -1)
	require.NoError(t, err)
	assert.Equal(t, 4, i)
	_, err = l.IndexRange(ctx, 9, 1, 100)
	assert.ErrorIs(t, err, manager.ErrNotFound)
	in, err := l.Contains(ctx, 8)
	require.NoError(t, err)
	assert.True(t, in)
	in, err = l.Contains(ctx, 42)
	require.NoError(t, err)
	assert.False(t, in)

	v, err := l.Get(ctx, -1)
	require.NoError(t, err)
	assert.Equal(t, 7, v)
	require.NoError(t, l.Set(ctx, 0, 0))
	require.NoError(t, l.Delete(ctx, -2))
	_, err = l.Get(ctx, 100)
	assert.ErrorIs(t, err, manager.ErrIndexOutOfRange)
	assert.ErrorIs(t, l.Set(ctx, -100, 1), manager.ErrIndexOutOfRange)
	assert.Equal(t, []int{0, 3, 1, 2, 1, 5, 8, 7}, listContents(ctx, t, l))

	v, err = l.Pop(ctx, -1)
	require.NoError(t, err)
	assert.Equal(t, 7, v)
	v, err = l.Pop(ctx, 0)
	require.NoError(t, err)
	assert.Equal(t, 0, v)
	require.NoError(t, l.Remove(ctx, 1))
	assert.ErrorIs(t, l.Remove(ctx, 42), manager.ErrNotFound)
	assert.Equal(t, []int{3, 2, 1, 5, 8}, listContents(ctx, t, l))

	require.NoError(t, l.Reverse(ctx))
	assert.Equal(t, []int{8, 5, 1, 2, 3}, listContents(ctx, t, l))
	require.NoError(t, l.Sort(ctx, false))
	assert.Equal(t, []int{1, 2, 3, 5, 8}, listContents(ctx, t, l))
	require.NoError(t, l.Sort(ctx, true))
	assert.Equal(t, []int{8, 5, 3, 2, 1}, listContents(ctx, t, l))

	require.NoError(t, l.Clear(ctx))
	_, err = l.Pop(ctx, -1)
	assert.ErrorIs(t, err, manager.ErrIndexOutOfRange, "pop from an empty list")
}

func TestListSlices(t *testing.T) {
	ctx := testContext(t)
	m := startManager(t, manager.InProcess())
	tests := []struct {
		name  string
		slice manager.Slice
		want  []int
	}{
		{"a[:]", manager.Slice{}, []int{0, 1, 2, 3, 4, 5}},
		{"a[2:]", manager.SliceFrom(2), []int{2, 3, 4, 5}},
		{"a[-2:]", manager.SliceFrom(-2), []int{4, 5}},
		{"a[:3]", manager.SliceTo(3), []int{0, 1, 2}},
		{"a[1:4]", manager.SliceRange(1, 4), []int{1, 2, 3}},
		{"a[1:100] clamps", manager.SliceRange(1, 100), []int{1, 2, 3, 4, 5}},
		{"a[::2]", manager.Slice{}.Step(2), []int{0, 2, 4}},
		{"a[::-1]", manager.Slice{}.Step(-1), []int{5, 4, 3, 2, 1, 0}},
		{"a[4:1:-1]", manager.SliceRange(4, 1).Step(-1), []int{4, 3, 2}},
		{"a[5:1] is empty", manager.SliceRange(5, 1), []int{}},
	}
	l := newIntList(ctx, t, m, 0, 1, 2, 3, 4, 5)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := l.GetSlice(ctx, tt.slice)
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestListSliceAssignment(t *testing.T) {
	ctx := testContext(t)
	m := startManager(t, manager.InProcess())
	tests := []struct {
		name    string
		slice   manager.Slice
		give    []int
		want    []int
		wantErr error
	}{
		{"replace and grow", manager.SliceRange(1, 3), []int{7, 8, 9}, []int{0, 7, 8, 9, 3, 4}, nil},
		{"replace and shrink", manager.SliceFrom(1), []int{7}, []int{0, 7}, nil},
		{"insert at the front", manager.SliceTo(0), []int{7}, []int{7, 0, 1, 2, 3, 4}, nil},
		{"extended slice", manager.Slice{}.Step(2), []int{7, 8, 9}, []int{7, 1, 8, 3, 9}, nil},
		{"extended slice, wrong length", manager.Slice{}.Step(2), []int{7}, []int{0, 1, 2, 3, 4}, manager.ErrBadArguments},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newIntList(ctx, t, m, 0, 1, 2, 3, 4)
			err := l.SetSlice(ctx, tt.slice, tt.give)
			assert.ErrorIs(t, err, tt.wantErr)
			assert.Equal(t, tt.want, listContents(ctx, t, l))
		})
	}

	l := newIntList(ctx, t, m, 0, 1, 2, 3, 4, 5)
	require.NoError(t, l.DeleteSlice(ctx, manager.SliceFrom(1).Step(2)))
	assert.Equal(t, []int{0, 2, 4}, listContents(ctx, t, l))
}

func TestListSortRefusesUnorderedElements(t *testing.T) {
	ctx := testContext(t)
	m := startManager(t, manager.InProcess())
	type pair struct{ A, B int }
	l, err := manager.NewList(ctx, m, pair{2, 1}, pair{1, 2})
	require.NoError(t, err)
	assert.ErrorIs(t, l.Sort(ctx, false), manager.ErrBadArguments)

	words, err := manager.NewList(ctx, m, "pear", "apple", "fig")
	require.NoError(t, err)
	require.NoError(t, words.Sort(ctx, false))
	got, err := words.Copy(ctx)
	require.NoError(t, err)
	assert.Equal(t, []string{"apple", "fig", "pear"}, got)
}

func TestListModify(t *testing.T) {
	ctx := testContext(t)
	m := startManager(t, manager.InProcess())
	l := newIntList(ctx, t, m, 1, 2, 3)
	got, err := l.Modify(ctx, func(items []int) ([]int, error) {
		for i := range items {
			items[i] *= 10
		}
		return append(items, 40), nil
	})
	require.NoError(t, err)
	assert.Equal(t, []int{10, 20, 30, 40}, got)
	assert.Equal(t, got, listContents(ctx, t, l))
}

func TestListExtendAcrossProcesses(t *testing.T) {
	ctx := testContext(t)
	m := startManager(t, manager.InProcess())
	l := newIntList(ctx, t, m)
	runWorkers(ctx, t, m, 4, "list.extend", l)
	n, err := l.Len(ctx)
	require.NoError(t, err)
	assert.Equal(t, 40, n)
	i, err := l.Index(ctx, 309)
	require.NoError(t, err)
	assert.GreaterOrEqual(t, i, 9)
}

func TestListOfMapsComparesByContent(t *testing.T) {
	ctx := testContext(t)
	m := startManager(t, manager.InProcess())
	row := map[string]int{"a": 1, "b": 2, "c": 3, "d": 4, "e": 5, "f": 6}
	l, err := manager.NewList(ctx, m, row, row, map[string]int{})
	require.NoError(t, err)
	n, err := l.Count(ctx, map[string]int{"f": 6, "e": 5, "d": 4, "c": 3, "b": 2, "a": 1})
	require.NoError(t, err)
	assert.Equal(t, 2, n)
}
