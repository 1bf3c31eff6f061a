package manager_test

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/goproc/manager"
	"github.com/goproc/manager/internal/redistest"
)

// collectDict ranges over seq, failing the test on an error.
func collectDict[K comparable, V any](tb testing.TB, d *manager.Dict[K, V], ctx context.Context) []manager.Pair[K, V] {
	tb.Helper()
	var got []manager.Pair[K, V]
	for p, err := range d.All(ctx) {
		require.NoError(tb, err)
		got = append(got, p)
	}
	return got
}

// collectList ranges over l.All, failing the test on an error.
func collectList[T any](tb testing.TB, l *manager.List[T], ctx context.Context) []T {
	tb.Helper()
	var got []T
	for v, err := range l.All(ctx) {
		require.NoError(tb, err)
		got = append(got, v)
	}
	return got
}

// Dict.All and List.All walk containers of several pages in order, in
// both kinds of manager.
func TestAllWalksPages(t *testing.T) {
	for _, mode := range managerModes {
		t.Run(mode.Name, func(t *testing.T) {
			ctx := testContext(t)
			m := startManager(t, mode.Opts...)
			const n = 2500 // more than two pages of walkPageItems
			d, err := manager.NewDict[int, string](ctx, m)
			require.NoError(t, err)
			pairs := make([]manager.Pair[int, string], n)
			want := make([]int, n)
			for i := range n {
				pairs[i] = manager.Pair[int, string]{Key: n - i, Value: strings.Repeat("v", i%7)}
				want[i] = i * i
			}
			require.NoError(t, d.UpdatePairs(ctx, pairs))
			assert.Equal(t, pairs, collectDict(t, d, ctx), "every entry, in insertion order")

			l, err := manager.NewList(ctx, m, want...)
			require.NoError(t, err)
			assert.Equal(t, want, collectList(t, l, ctx))

			empty, err := manager.NewList[int](ctx, m)
			require.NoError(t, err)
			assert.Empty(t, collectList(t, empty, ctx))
		})
	}
}

// A dict and a list bigger than the frame limit cannot travel in one
// reply (Items, Copy fail) but are walked by All, whose pages follow the
// limit.
func TestAllBeyondTheFrameLimit(t *testing.T) {
	ctx := testContext(t)
	const frame = 64 << 10
	m := startManager(t, manager.InProcess(), manager.WithMaxFrameSize(frame))
	value := strings.Repeat("x", 4<<10)
	const n = 4 * frame / (4 << 10) // four frames' worth
	d, err := manager.NewDict[int, string](ctx, m)
	require.NoError(t, err)
	l, err := manager.NewList[string](ctx, m)
	require.NoError(t, err)
	for i := range n {
		require.NoError(t, d.Store(ctx, i, value))
		require.NoError(t, l.Append(ctx, value))
	}
	_, err = d.Items(ctx)
	require.Error(t, err, "the whole dict does not fit in a frame")
	_, err = l.Copy(ctx)
	require.Error(t, err, "the whole list does not fit in a frame")

	got := collectDict(t, d, ctx)
	require.Len(t, got, n)
	for i, p := range got {
		assert.Equal(t, i, p.Key)
	}
	assert.Len(t, collectList(t, l, ctx), n)
}

// An error is yielded once, as the last pair; a break reads no more.
func TestAllErrors(t *testing.T) {
	ctx := testContext(t)
	m := startManager(t, manager.InProcess())
	strs, err := manager.OpenDict[string, string](ctx, m, "walk-errors")
	require.NoError(t, err)
	require.NoError(t, strs.Store(ctx, "a", "not a number"))
	ints, err := manager.OpenDict[string, int](ctx, m, "walk-errors")
	require.NoError(t, err)

	var errs []error
	for _, err := range ints.All(ctx) {
		errs = append(errs, err)
	}
	require.Len(t, errs, 1)
	assert.ErrorIs(t, errs[0], manager.ErrWrongType)

	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	l, err := manager.NewList(ctx, m, 1, 2, 3)
	require.NoError(t, err)
	errs = errs[:0]
	for _, err := range l.All(cancelled) {
		errs = append(errs, err)
	}
	require.Len(t, errs, 1)
	assert.ErrorIs(t, errs[0], context.Canceled)

	errs = errs[:0]
	for _, err := range strs.All(cancelled) {
		errs = append(errs, err)
	}
	require.Len(t, errs, 1)
	assert.ErrorIs(t, errs[0], context.Canceled)

	seen := 0
	for v, err := range l.All(ctx) {
		require.NoError(t, err)
		assert.Equal(t, 1, v)
		seen++
		break
	}
	assert.Equal(t, 1, seen)

	var nilDict *manager.Dict[string, int]
	for _, err := range nilDict.All(ctx) {
		assert.ErrorIs(t, err, manager.ErrNilProxy)
	}
	var nilList *manager.List[int]
	for _, err := range nilList.All(ctx) {
		assert.ErrorIs(t, err, manager.ErrNilProxy)
	}
}

// On the Redis engine, which has no ItemsFrom, All falls back to Items
// and to GetSlice pages.
func TestAllOnRedis(t *testing.T) {
	ctx := testContext(t)
	srv := redistest.Standalone(t)
	r, err := manager.NewRedisSession(ctx, srv.Client(t))
	require.NoError(t, err)
	t.Cleanup(func() { r.Close() })

	d, err := manager.NewDict[string, int](ctx, r)
	require.NoError(t, err)
	pairs := []manager.Pair[string, int]{{Key: "b", Value: 2}, {Key: "a", Value: 1}, {Key: "c", Value: 3}}
	require.NoError(t, d.UpdatePairs(ctx, pairs))
	assert.Equal(t, pairs, collectDict(t, d, ctx))

	const n = 2100 // more than two GetSlice pages
	want := make([]int, n)
	for i := range n {
		want[i] = i
	}
	l, err := manager.NewList(ctx, r, want...)
	require.NoError(t, err)
	assert.Equal(t, want, collectList(t, l, ctx))
}
