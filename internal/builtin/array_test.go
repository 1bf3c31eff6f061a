package builtin

import (
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/goproc/manager/internal/errs"
)

// newTestArray returns an Array holding ns, each encoded as an int64.
func newTestArray(tb testing.TB, ns ...int64) *Array {
	tb.Helper()
	a, err := NewArray(direct, containerInts(tb, ns...))
	require.NoError(tb, err)
	return a
}

// arrayInts decodes the whole array as int64s.
func arrayInts(tb testing.TB, a *Array) []int64 {
	tb.Helper()
	return containerDecodeAll[int64](tb, a.All())
}

func TestArrayGetSet(t *testing.T) {
	a := newTestArray(t, 10, 11, 12)
	assert.Equal(t, 3, a.Len())

	got, err := a.Get(-1)
	require.NoError(t, err)
	assert.Equal(t, int64(12), containerDecode[int64](t, got))
	require.NoError(t, a.Set(direct, -3, containerEncode(t, int64(0))))
	assert.Equal(t, []int64{0, 11, 12}, arrayInts(t, a))

	for _, i := range []int64{3, -4} {
		_, err := a.Get(i)
		assert.ErrorIs(t, err, errs.IndexOutOfRange)
		assert.ErrorIs(t, a.Set(direct, i, containerEncode(t, int64(0))), errs.IndexOutOfRange)
		_, err = a.Add(i, containerEncode(t, int64(1)))
		assert.ErrorIs(t, err, errs.IndexOutOfRange)
	}
	assert.Equal(t, []int64{0, 11, 12}, arrayInts(t, a))

	empty, err := NewArray(direct, nil)
	require.NoError(t, err)
	assert.Equal(t, 0, empty.Len())
	_, err = empty.Get(0)
	assert.ErrorIs(t, err, errs.IndexOutOfRange)
}

func TestArrayGetSlice(t *testing.T) {
	a := newTestArray(t, listRange(6)...)
	tests := []struct {
		name              string
		start, stop, step *int64
		want              []int64
	}{
		{"a[:]", nil, nil, nil, listRange(6)},
		{"a[1:-1]", listP(1), listP(-1), nil, []int64{1, 2, 3, 4}},
		{"a[::-2]", nil, nil, listP(-2), []int64{5, 3, 1}},
		{"a[10:20]", listP(10), listP(20), nil, []int64{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := a.GetSlice(tt.start, tt.stop, tt.step)
			require.NoError(t, err)
			assert.Equal(t, tt.want, containerDecodeAll[int64](t, got))
		})
	}
	_, err := a.GetSlice(nil, nil, listP(0))
	assert.ErrorIs(t, err, errs.BadArguments)
}

func TestArraySetSlice(t *testing.T) {
	tests := []struct {
		name              string
		start, stop, step *int64
		values            []int64
		want              []int64 // starting from [0, 1, 2, 3, 4]
	}{
		{"a[1:3] = [7, 8]", listP(1), listP(3), nil, []int64{7, 8}, []int64{0, 7, 8, 3, 4}},
		{"a[:] = [5, 6, 7, 8, 9]", nil, nil, nil, []int64{5, 6, 7, 8, 9}, []int64{5, 6, 7, 8, 9}},
		{"a[::2] = [7, 8, 9]", nil, nil, listP(2), []int64{7, 8, 9}, []int64{7, 1, 8, 3, 9}},
		{"a[::-1] = [5, 6, 7, 8, 9]", nil, nil, listP(-1), []int64{5, 6, 7, 8, 9}, []int64{9, 8, 7, 6, 5}},
		{"a[3:1] = []", listP(3), listP(1), nil, nil, []int64{0, 1, 2, 3, 4}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newTestArray(t, listRange(5)...)
			require.NoError(t, a.SetSlice(direct, tt.start, tt.stop, tt.step, containerInts(t, tt.values...)))
			assert.Equal(t, tt.want, arrayInts(t, a))
		})
	}

	errorTests := []struct {
		name              string
		start, stop, step *int64
		values            []int64
	}{
		{"a[1:3] = [7]", listP(1), listP(3), nil, []int64{7}},
		{"a[1:3] = [7, 8, 9]", listP(1), listP(3), nil, []int64{7, 8, 9}},
		{"a[3:1] = [7]", listP(3), listP(1), nil, []int64{7}},
		{"a[::2] = [7]", nil, nil, listP(2), []int64{7}},
		{"a[::0] = []", nil, nil, listP(0), nil},
	}
	for _, tt := range errorTests {
		t.Run(tt.name, func(t *testing.T) {
			a := newTestArray(t, listRange(5)...)
			err := a.SetSlice(direct, tt.start, tt.stop, tt.step, containerInts(t, tt.values...))
			require.ErrorIs(t, err, errs.BadArguments)
			assert.Equal(t, listRange(5), arrayInts(t, a), "the length and contents do not change")
		})
	}
}

func TestArrayAdd(t *testing.T) {
	a, err := NewArray(direct, containerEncodeAll(t, int64(1), 0.5, "x"))
	require.NoError(t, err)

	got, err := a.Add(0, containerEncode(t, int64(2)))
	require.NoError(t, err)
	assert.Equal(t, containerEncode(t, int64(3)), got)
	got, err = a.Add(-2, containerEncode(t, 0.25))
	require.NoError(t, err)
	assert.Equal(t, containerEncode(t, 0.75), got)

	_, err = a.Add(2, containerEncode(t, int64(1)))
	require.ErrorIs(t, err, errs.BadArguments)
	_, err = a.Add(0, containerEncode(t, 0.5))
	require.ErrorIs(t, err, errs.BadArguments)
	assert.Equal(t, containerEncodeAll(t, int64(3), 0.75, "x"), a.All())
}

func TestArrayVersions(t *testing.T) {
	a := newTestArray(t, 1, 2)
	got := a.LoadVersion()
	assert.Equal(t, []int64{1, 2}, containerDecodeAll[int64](t, got.Items))
	assert.NotZero(t, got.Version)

	ok, err := a.StoreIfVersion(direct, got.Version, containerInts(t, 3))
	require.ErrorIs(t, err, errs.BadArguments, "the length cannot change")
	assert.False(t, ok)

	ok, err = a.StoreIfVersion(direct, got.Version, containerInts(t, 3, 4))
	require.NoError(t, err)
	assert.True(t, ok)
	ok, err = a.StoreIfVersion(direct, got.Version, containerInts(t, 5, 6))
	require.NoError(t, err)
	assert.False(t, ok, "stale version")
	assert.Equal(t, []int64{3, 4}, arrayInts(t, a))

	writes := []struct {
		name string
		fn   func()
	}{
		{"Set", func() { require.NoError(t, a.Set(direct, 0, containerEncode(t, int64(0)))) }},
		{"SetSlice", func() { require.NoError(t, a.SetSlice(direct, nil, nil, nil, containerInts(t, 1, 1))) }},
		{"Add", func() { _, err := a.Add(0, containerEncode(t, int64(1))); require.NoError(t, err) }},
	}
	for _, w := range writes {
		before := a.LoadVersion().Version
		w.fn()
		assert.NotEqual(t, before, a.LoadVersion().Version, w.name)
	}
}

func TestArrayAllIsASnapshot(t *testing.T) {
	a := newTestArray(t, 1, 2)
	snap := a.All()
	require.NoError(t, a.Set(direct, 0, containerEncode(t, int64(9))))
	assert.Equal(t, []int64{1, 2}, containerDecodeAll[int64](t, snap))
}

func TestArrayConcurrentAdd(t *testing.T) {
	const goroutines, adds, size = 16, 100, 4
	a := newTestArray(t, make([]int64, size)...)
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range adds {
				_, err := a.Add(int64((g+i)%size), containerEncode(t, int64(1)))
				assert.NoError(t, err)
				a.All()
			}
		})
	}
	wg.Wait()
	got := arrayInts(t, a)
	var total int64
	for _, n := range got {
		total += n
	}
	assert.Equal(t, int64(goroutines*adds), total)
	assert.Equal(t, []int64{goroutines * adds / size, goroutines * adds / size, goroutines * adds / size, goroutines * adds / size}, got)
}
