package manager_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/goproc/manager"
)

// confDictPaged: Dict.LoadMany and a Dict.All walk of several pages
// behave alike on every engine. The walk reads each page when it gets
// there (on Redis too: not one snapshot), so a key stored during the
// walk is seen and a key deleted before its page is not.
func confDictPaged(ctx context.Context, t *testing.T, e *confEnv) {
	d, err := manager.NewDict[int, int](ctx, e.s)
	require.NoError(t, err)
	const n = 2500 // more than two pages of 1024
	pairs := make(map[int]int, n)
	for i := range n {
		pairs[i] = -i
	}
	require.NoError(t, d.Update(ctx, pairs))
	// Update stores in no particular order: the walk's order is the
	// insertion order, which Keys gives.
	order, err := d.Keys(ctx)
	require.NoError(t, err)

	got, err := d.LoadMany(ctx, []int{5, n + 1, 0, n - 1})
	require.NoError(t, err)
	assert.Equal(t, []manager.LoadResult[int]{{Value: -5, OK: true}, {}, {Value: 0, OK: true}, {Value: -(n - 1), OK: true}}, got)
	none, err := d.LoadMany(ctx, nil)
	require.NoError(t, err)
	assert.Empty(t, none)

	last := order[n-1]
	var walked []int
	for p, err := range d.All(ctx) {
		require.NoError(t, err)
		if len(walked) == 0 {
			// On the first page: the last key goes, a new one comes.
			_, err := d.Delete(ctx, last)
			require.NoError(t, err)
			require.NoError(t, d.Store(ctx, -1, 1))
		}
		assert.Equal(t, -p.Key, p.Value, "key %d", p.Key)
		walked = append(walked, p.Key)
	}
	want := append(append([]int{}, order[:n-1]...), -1)
	assert.Equal(t, want, walked, "insertion order; the key deleted before its page is not seen, the one stored during the walk is")
}

// confListPaged: List.All walks a list of several pages by index on
// every engine, seeing an element appended during the walk.
func confListPaged(ctx context.Context, t *testing.T, e *confEnv) {
	const n = 2100
	xs := make([]int, n)
	for i := range xs {
		xs[i] = i
	}
	l, err := manager.NewList(ctx, e.s, xs...)
	require.NoError(t, err)
	var walked []int
	for x, err := range l.All(ctx) {
		require.NoError(t, err)
		if len(walked) == 0 {
			require.NoError(t, l.Append(ctx, n))
		}
		walked = append(walked, x)
	}
	assert.Equal(t, append(xs, n), walked)
}

// confArrayPaged: Array.All walks an array of several pages on every
// engine, each page read when the walk reaches it; breaking out of the
// loop stops it, and an element that does not decode ends it with an
// error.
func confArrayPaged(ctx context.Context, t *testing.T, e *confEnv) {
	const n = 2100
	xs := make([]int64, n)
	for i := range xs {
		xs[i] = int64(i)
	}
	a, err := manager.NewArray(ctx, e.s, xs)
	require.NoError(t, err)
	var walked []int64
	for x, err := range a.All(ctx) {
		require.NoError(t, err)
		if len(walked) == 0 {
			require.NoError(t, a.Set(ctx, n-1, -1)) // on a later page: seen
		}
		walked = append(walked, x)
	}
	want := append(append([]int64{}, xs[:n-1]...), -1)
	assert.Equal(t, want, walked)
	count := 0
	for range a.All(ctx) {
		if count++; count == 3 {
			break
		}
	}
	assert.Equal(t, 3, count)

	small, err := manager.OpenArray(ctx, e.s, e.name("neg"), []int64{-1})
	require.NoError(t, err)
	require.NoError(t, small.Set(ctx, 0, -5))
	unsigned, err := manager.OpenArray(ctx, e.s, e.name("neg"), []uint64{0})
	require.NoError(t, err)
	var errs []error
	for _, err := range unsigned.All(ctx) {
		errs = append(errs, err)
	}
	require.Len(t, errs, 1)
	assert.Error(t, errs[0], "-5 does not decode into a uint64")
}
