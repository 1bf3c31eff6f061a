package builtin

import (
	"math"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/goproc/manager/internal/errs"
)

// listP returns a pointer to n, for a slice bound.
func listP(n int64) *int64 { return &n }

// newTestList returns a List holding ns, each encoded as an int64.
func newTestList(tb testing.TB, ns ...int64) *List {
	tb.Helper()
	l, err := NewList(direct, containerInts(tb, ns...))
	require.NoError(tb, err)
	return l
}

// listInts decodes the whole list as int64s.
func listInts(tb testing.TB, l *List) []int64 {
	tb.Helper()
	return containerDecodeAll[int64](tb, l.All())
}

// listRange returns 0, 1, ..., n-1.
func listRange(n int64) []int64 {
	out := make([]int64, n)
	for i := range out {
		out[i] = int64(i)
	}
	return out
}

// The slice tests' expected values are worked out by hand from Python's
// rules (PySlice_Unpack, PySlice_AdjustIndices, list_ass_subscript) and
// name the Python expression they stand for.

func TestListGetSlice(t *testing.T) {
	tests := []struct {
		name              string
		give              []int64
		start, stop, step *int64
		want              []int64
	}{
		{"a[:]", listRange(10), nil, nil, nil, listRange(10)},
		{"a[2:5]", listRange(10), listP(2), listP(5), nil, []int64{2, 3, 4}},
		{"a[-3:]", listRange(10), listP(-3), nil, nil, []int64{7, 8, 9}},
		{"a[:-3]", listRange(10), nil, listP(-3), nil, []int64{0, 1, 2, 3, 4, 5, 6}},
		{"a[::2]", listRange(10), nil, nil, listP(2), []int64{0, 2, 4, 6, 8}},
		{"a[1::3]", listRange(10), listP(1), nil, listP(3), []int64{1, 4, 7}},
		{"a[::-1]", listRange(10), nil, nil, listP(-1), []int64{9, 8, 7, 6, 5, 4, 3, 2, 1, 0}},
		{"a[8:2:-2]", listRange(10), listP(8), listP(2), listP(-2), []int64{8, 6, 4}},
		{"a[-1:-4:-1]", listRange(10), listP(-1), listP(-4), listP(-1), []int64{9, 8, 7}},
		{"a[5:2]", listRange(10), listP(5), listP(2), nil, []int64{}},
		{"a[2:5:-1]", listRange(10), listP(2), listP(5), listP(-1), []int64{}},
		{"a[100:]", listRange(10), listP(100), nil, nil, []int64{}},
		{"a[-100:3]", listRange(10), listP(-100), listP(3), nil, []int64{0, 1, 2}},
		{"a[:100]", listRange(10), nil, listP(100), nil, listRange(10)},
		{"a[3:-100:-1]", listRange(10), listP(3), listP(-100), listP(-1), []int64{3, 2, 1, 0}},
		{"a[100::-3]", listRange(10), listP(100), nil, listP(-3), []int64{9, 6, 3, 0}},
		{"a[:-100:-1]", listRange(10), nil, listP(-100), listP(-1), []int64{9, 8, 7, 6, 5, 4, 3, 2, 1, 0}},
		{"a[-100::-1]", listRange(10), listP(-100), nil, listP(-1), []int64{}},
		{"a[::huge negative]", listRange(10), nil, nil, listP(math.MinInt64), []int64{9}},
		{"a[::huge]", listRange(10), nil, nil, listP(math.MaxInt64), []int64{0}},
		{"a[min:max]", listRange(10), listP(math.MinInt64), listP(math.MaxInt64), nil, listRange(10)},
		{"a[max:min:-1]", listRange(10), listP(math.MaxInt64), listP(math.MinInt64), listP(-1), []int64{9, 8, 7, 6, 5, 4, 3, 2, 1, 0}},
		{"a[1:2:100]", listRange(10), listP(1), listP(2), listP(100), []int64{1}},
		{"empty[::-1]", nil, nil, nil, listP(-1), []int64{}},
		{"empty[1:5]", nil, listP(1), listP(5), nil, []int64{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newTestList(t, tt.give...)
			got, err := l.GetSlice(tt.start, tt.stop, tt.step)
			require.NoError(t, err)
			assert.Equal(t, tt.want, containerDecodeAll[int64](t, got))
		})
	}
}

func TestListSetSlice(t *testing.T) {
	tests := []struct {
		name              string
		start, stop, step *int64
		values            []int64
		want              []int64 // starting from [0, 1, 2, 3, 4]
	}{
		{"a[1:3] = [7, 8, 9]", listP(1), listP(3), nil, []int64{7, 8, 9}, []int64{0, 7, 8, 9, 3, 4}},
		{"a[1:1] = [7]", listP(1), listP(1), nil, []int64{7}, []int64{0, 7, 1, 2, 3, 4}},
		{"a[3:1] = [7]", listP(3), listP(1), nil, []int64{7}, []int64{0, 1, 2, 7, 3, 4}},
		{"a[:] = []", nil, nil, nil, nil, []int64{}},
		{"a[-2:] = []", listP(-2), nil, nil, nil, []int64{0, 1, 2}},
		{"a[10:] = [5]", listP(10), nil, nil, []int64{5}, []int64{0, 1, 2, 3, 4, 5}},
		{"a[:-10] = [9]", nil, listP(-10), nil, []int64{9}, []int64{9, 0, 1, 2, 3, 4}},
		{"a[0:2:1] = [9]", listP(0), listP(2), listP(1), []int64{9}, []int64{9, 2, 3, 4}},
		{"a[::2] = [7, 8, 9]", nil, nil, listP(2), []int64{7, 8, 9}, []int64{7, 1, 8, 3, 9}},
		{"a[::-1] = [5, 6, 7, 8, 9]", nil, nil, listP(-1), []int64{5, 6, 7, 8, 9}, []int64{9, 8, 7, 6, 5}},
		{"a[3::-2] = [7, 8]", listP(3), nil, listP(-2), []int64{7, 8}, []int64{0, 8, 2, 7, 4}},
		{"a[5::2] = []", listP(5), nil, listP(2), nil, []int64{0, 1, 2, 3, 4}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newTestList(t, listRange(5)...)
			require.NoError(t, l.SetSlice(direct, tt.start, tt.stop, tt.step, containerInts(t, tt.values...)))
			assert.Equal(t, tt.want, listInts(t, l))
		})
	}
}

func TestListSetSliceErrors(t *testing.T) {
	tests := []struct {
		name              string
		start, stop, step *int64
		values            []int64
	}{
		{"a[::2] = [7]", nil, nil, listP(2), []int64{7}},
		{"a[::-1] = [1]", nil, nil, listP(-1), []int64{1}},
		{"a[::0] = []", nil, nil, listP(0), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newTestList(t, listRange(5)...)
			err := l.SetSlice(direct, tt.start, tt.stop, tt.step, containerInts(t, tt.values...))
			require.ErrorIs(t, err, errs.BadArguments)
			assert.Equal(t, listRange(5), listInts(t, l), "a failed assignment changes nothing")
		})
	}
}

func TestListDeleteSlice(t *testing.T) {
	tests := []struct {
		name              string
		start, stop, step *int64
		want              []int64 // starting from [0, 1, 2, 3, 4]
	}{
		{"del a[1:3]", listP(1), listP(3), nil, []int64{0, 3, 4}},
		{"del a[::2]", nil, nil, listP(2), []int64{1, 3}},
		{"del a[::-2]", nil, nil, listP(-2), []int64{1, 3}},
		{"del a[3:1]", listP(3), listP(1), nil, []int64{0, 1, 2, 3, 4}},
		{"del a[:]", nil, nil, nil, []int64{}},
		{"del a[-2::-3]", listP(-2), nil, listP(-3), []int64{1, 2, 4}},
		{"del a[-100:100]", listP(-100), listP(100), nil, []int64{}},
		{"del a[4:]", listP(4), nil, nil, []int64{0, 1, 2, 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newTestList(t, listRange(5)...)
			require.NoError(t, l.DeleteSlice(direct, tt.start, tt.stop, tt.step))
			assert.Equal(t, tt.want, listInts(t, l))
		})
	}
}

func TestListSliceZeroStep(t *testing.T) {
	l := newTestList(t, 1, 2, 3)
	_, err := l.GetSlice(nil, nil, listP(0))
	assert.ErrorIs(t, err, errs.BadArguments)
	assert.ErrorIs(t, l.DeleteSlice(direct, nil, nil, listP(0)), errs.BadArguments)
	assert.Equal(t, []int64{1, 2, 3}, listInts(t, l))
}

func TestListGetSetDelete(t *testing.T) {
	l := newTestList(t, 10, 11, 12)
	tests := []struct {
		name string
		give int64
		want int64
	}{
		{"first", 0, 10},
		{"last", 2, 12},
		{"negative last", -1, 12},
		{"negative first", -3, 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := l.Get(tt.give)
			require.NoError(t, err)
			assert.Equal(t, tt.want, containerDecode[int64](t, got))
		})
	}

	for _, i := range []int64{3, -4, math.MaxInt64, math.MinInt64} {
		_, err := l.Get(i)
		assert.ErrorIs(t, err, errs.IndexOutOfRange, "Get(%d)", i)
		assert.ErrorIs(t, l.Set(direct, i, containerEncode(t, int64(0))), errs.IndexOutOfRange, "Set(%d)", i)
		assert.ErrorIs(t, l.Delete(direct, i), errs.IndexOutOfRange, "Delete(%d)", i)
	}
	assert.Equal(t, []int64{10, 11, 12}, listInts(t, l))

	require.NoError(t, l.Set(direct, -1, containerEncode(t, int64(99))))
	assert.Equal(t, []int64{10, 11, 99}, listInts(t, l))
	require.NoError(t, l.Delete(direct, -3))
	assert.Equal(t, []int64{11, 99}, listInts(t, l))
}

func TestListAppendExtendInsert(t *testing.T) {
	l := newTestList(t)
	assert.Equal(t, 0, l.Len())
	l.Append(direct, containerEncode(t, int64(1)))
	l.Extend(direct, containerInts(t, 2, 3))
	l.Extend(direct, nil)
	assert.Equal(t, []int64{1, 2, 3}, listInts(t, l))

	tests := []struct {
		name string
		give int64
		want []int64 // inserting 9 into [0, 1, 2]
	}{
		{"insert(0)", 0, []int64{9, 0, 1, 2}},
		{"insert(1)", 1, []int64{0, 9, 1, 2}},
		{"insert(3)", 3, []int64{0, 1, 2, 9}},
		{"insert(100)", 100, []int64{0, 1, 2, 9}},
		{"insert(-1)", -1, []int64{0, 1, 9, 2}},
		{"insert(-3)", -3, []int64{9, 0, 1, 2}},
		{"insert(-100)", -100, []int64{9, 0, 1, 2}},
		{"insert(min)", math.MinInt64, []int64{9, 0, 1, 2}},
		{"insert(max)", math.MaxInt64, []int64{0, 1, 2, 9}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newTestList(t, 0, 1, 2)
			l.Insert(direct, tt.give, containerEncode(t, int64(9)))
			assert.Equal(t, tt.want, listInts(t, l))
		})
	}
}

func TestListPop(t *testing.T) {
	l := newTestList(t, 0, 1, 2, 3)
	got, err := l.Pop(direct, -1)
	require.NoError(t, err)
	assert.Equal(t, int64(3), containerDecode[int64](t, got))
	got, err = l.Pop(direct, 0)
	require.NoError(t, err)
	assert.Equal(t, int64(0), containerDecode[int64](t, got))
	assert.Equal(t, []int64{1, 2}, listInts(t, l))

	_, err = l.Pop(direct, 2)
	assert.ErrorIs(t, err, errs.IndexOutOfRange)
	_, err = l.Pop(direct, -3)
	assert.ErrorIs(t, err, errs.IndexOutOfRange)
	assert.Equal(t, []int64{1, 2}, listInts(t, l))

	empty := newTestList(t)
	_, err = empty.Pop(direct, -1)
	assert.ErrorIs(t, err, errs.IndexOutOfRange)
}

func TestListRemoveIndexCountContains(t *testing.T) {
	l := newTestList(t, 0, 1, 2, 1, 0)
	one, two, zero := containerEncode(t, int64(1)), containerEncode(t, int64(2)), containerEncode(t, int64(0))

	assert.Equal(t, 2, l.Count(one))
	assert.Equal(t, 0, l.Count(containerEncode(t, int8(1))), "equality is byte equality")
	assert.True(t, l.Contains(two))
	assert.False(t, l.Contains(containerEncode(t, int64(5))))

	tests := []struct {
		name        string
		value       msgpack.RawMessage
		start, stop *int64
		want        int
	}{
		{"index(1)", one, nil, nil, 1},
		{"index(1, 2)", one, listP(2), nil, 3},
		{"index(1, -2)", one, listP(-2), nil, 3},
		{"index(0, 1)", zero, listP(1), nil, 4},
		{"index(0, -100, 100)", zero, listP(-100), listP(100), 0},
		{"index(2, 0, -2)", two, listP(0), listP(-2), 2},
		{"index(1, None, 2)", one, nil, listP(2), 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := l.Index(tt.value, tt.start, tt.stop)
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}

	notFound := []struct {
		name        string
		value       msgpack.RawMessage
		start, stop *int64
	}{
		{"index(5)", containerEncode(t, int64(5)), nil, nil},
		{"index(1, 0, 1)", one, listP(0), listP(1)},
		{"index(2, 3)", two, listP(3), nil},
		{"index(0, 1, -1)", zero, listP(1), listP(-1)},
		{"index(0, 100)", zero, listP(100), nil},
		{"index(0, 0, -100)", zero, listP(0), listP(-100)},
	}
	for _, tt := range notFound {
		t.Run(tt.name, func(t *testing.T) {
			_, err := l.Index(tt.value, tt.start, tt.stop)
			assert.ErrorIs(t, err, errs.NotFound)
		})
	}

	require.NoError(t, l.Remove(direct, one))
	assert.Equal(t, []int64{0, 2, 1, 0}, listInts(t, l))
	assert.ErrorIs(t, l.Remove(direct, containerEncode(t, int64(5))), errs.NotFound)
	assert.Equal(t, []int64{0, 2, 1, 0}, listInts(t, l))
}

func TestListReverseClear(t *testing.T) {
	l := newTestList(t, 1, 2, 3)
	l.Reverse()
	assert.Equal(t, []int64{3, 2, 1}, listInts(t, l))
	l.Clear(direct)
	assert.Equal(t, 0, l.Len())
	assert.Empty(t, l.All())
	l.Reverse()
	assert.Empty(t, l.All())
}

func TestListSortNumbers(t *testing.T) {
	l, err := NewList(direct, containerEncodeAll(t,
		int64(3), 1.5, true, uint64(math.MaxUint64), int64(-2), int8(0), float32(2), false, -0.5, math.Inf(-1)))
	require.NoError(t, err)
	require.NoError(t, l.Sort(false))
	want := containerEncodeAll(t,
		math.Inf(-1), int64(-2), -0.5, int8(0), false, true, 1.5, float32(2), int64(3), uint64(math.MaxUint64))
	// int8(0) and false are equal and keep their order; so do the rest.
	assert.Equal(t, want, l.All())

	require.NoError(t, l.Sort(true))
	want = containerEncodeAll(t,
		uint64(math.MaxUint64), int64(3), float32(2), 1.5, true, int8(0), false, -0.5, int64(-2), math.Inf(-1))
	assert.Equal(t, want, l.All())
}

func TestListSortIsStable(t *testing.T) {
	// 1, true, 1.0 and int8(1) are all equal numbers: sorting either way
	// keeps them in their original order, as Python's sort does.
	give := containerEncodeAll(t, int64(2), int64(1), true, 1.0, int8(1), int64(0))
	tests := []struct {
		name    string
		reverse bool
		want    []msgpack.RawMessage
	}{
		{"ascending", false, containerEncodeAll(t, int64(0), int64(1), true, 1.0, int8(1), int64(2))},
		{"descending", true, containerEncodeAll(t, int64(2), int64(1), true, 1.0, int8(1), int64(0))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := NewList(direct, give)
			require.NoError(t, err)
			require.NoError(t, l.Sort(tt.reverse))
			assert.Equal(t, tt.want, l.All())
		})
	}
}

func TestListSortExact(t *testing.T) {
	// 2^53+1 is not a float64; converting it would make it equal 2^53.
	l, err := NewList(direct, containerEncodeAll(t, int64(1<<53+1), float64(1<<53), math.NaN(), uint64(1<<63), float64(1<<63)))
	require.NoError(t, err)
	require.NoError(t, l.Sort(false))
	got := l.All()
	require.Len(t, got, 5)
	assert.True(t, math.IsNaN(containerDecode[float64](t, got[0])), "NaN sorts first")
	assert.Equal(t, containerEncodeAll(t, float64(1<<53), int64(1<<53+1), uint64(1<<63), float64(1<<63)), got[1:])
}

func TestListSortStrings(t *testing.T) {
	l, err := NewList(direct, containerEncodeAll(t, "pear", "apple", "é", "Zebra", ""))
	require.NoError(t, err)
	require.NoError(t, l.Sort(false))
	assert.Equal(t, []string{"", "Zebra", "apple", "pear", "é"}, containerDecodeAll[string](t, l.All()))
	require.NoError(t, l.Sort(true))
	assert.Equal(t, []string{"é", "pear", "apple", "Zebra", ""}, containerDecodeAll[string](t, l.All()))
}

func TestListSortErrors(t *testing.T) {
	tests := []struct {
		name string
		give []msgpack.RawMessage
	}{
		{"string and int", containerEncodeAll(t, "a", int64(1))},
		{"int and string", containerEncodeAll(t, int64(1), "a")},
		{"nil", containerEncodeAll(t, int64(1), nil)},
		{"two nils", containerEncodeAll(t, nil, nil)},
		{"bytes", containerEncodeAll(t, []byte("a"), []byte("b"))},
		{"lists", containerEncodeAll(t, []int{1}, []int{0})},
		{"maps", containerEncodeAll(t, map[string]int{}, map[string]int{})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := NewList(direct, tt.give)
			require.NoError(t, err)
			require.ErrorIs(t, l.Sort(false), errs.BadArguments)
			assert.Equal(t, tt.give, l.All(), "a failed sort changes nothing")
		})
	}

	// As in Python, fewer than two elements are never compared.
	for _, give := range [][]msgpack.RawMessage{nil, containerEncodeAll(t, nil)} {
		l, err := NewList(direct, give)
		require.NoError(t, err)
		assert.NoError(t, l.Sort(false))
	}
}

func TestListAllIsASnapshot(t *testing.T) {
	l := newTestList(t, 1, 2, 3)
	snap := l.All()
	require.NoError(t, l.Set(direct, 0, containerEncode(t, int64(9))))
	l.Reverse()
	assert.Equal(t, []int64{1, 2, 3}, containerDecodeAll[int64](t, snap))

	give := containerInts(t, 1, 2)
	l2, err := NewList(direct, give)
	require.NoError(t, err)
	give[0] = containerEncode(t, int64(7))
	assert.Equal(t, []int64{1, 2}, listInts(t, l2), "NewList does not share the caller's slice")
}

func TestListVersions(t *testing.T) {
	l := newTestList(t, 1)
	got := l.LoadVersion()
	assert.Equal(t, []int64{1}, containerDecodeAll[int64](t, got.Items))
	assert.NotZero(t, got.Version)

	assert.True(t, l.StoreIfVersion(direct, got.Version, containerInts(t, 1, 2)))
	assert.False(t, l.StoreIfVersion(direct, got.Version, containerInts(t, 5)), "stale version")
	assert.False(t, l.StoreIfVersion(direct, 0, containerInts(t, 5)), "0 is never a list's version")
	assert.Equal(t, []int64{1, 2}, listInts(t, l))

	// Every write changes the version.
	writes := []struct {
		name string
		fn   func()
	}{
		{"Append", func() { l.Append(direct, containerEncode(t, int64(3))) }},
		{"Extend", func() { l.Extend(direct, containerInts(t, 4)) }},
		{"Insert", func() { l.Insert(direct, 0, containerEncode(t, int64(0))) }},
		{"Set", func() { require.NoError(t, l.Set(direct, 0, containerEncode(t, int64(0)))) }},
		{"Reverse", func() { l.Reverse() }},
		{"Sort", func() { require.NoError(t, l.Sort(false)) }},
		{"SetSlice", func() { require.NoError(t, l.SetSlice(direct, nil, listP(1), nil, containerInts(t, 0))) }},
		{"Pop", func() { _, err := l.Pop(direct, -1); require.NoError(t, err) }},
		{"Remove", func() { require.NoError(t, l.Remove(direct, containerEncode(t, int64(0)))) }},
		{"Delete", func() { require.NoError(t, l.Delete(direct, 0)) }},
		{"DeleteSlice", func() { require.NoError(t, l.DeleteSlice(direct, nil, listP(1), nil)) }},
		{"Clear", func() { l.Clear(direct) }},
	}
	for _, w := range writes {
		before := l.LoadVersion().Version
		w.fn()
		assert.NotEqual(t, before, l.LoadVersion().Version, w.name)
	}
}

func TestListConcurrentAppend(t *testing.T) {
	const goroutines, appends = 16, 100
	l := newTestList(t)
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range appends {
				l.Append(direct, containerEncode(t, int64(g*appends+i)))
				l.All()
				l.Len()
				l.Contains(containerEncode(t, int64(i)))
			}
		})
	}
	wg.Wait()
	assert.Equal(t, goroutines*appends, l.Len())
	require.NoError(t, l.Sort(false))
	assert.Equal(t, listRange(goroutines*appends), listInts(t, l), "every append landed exactly once")
}

func TestListConcurrentModifyLosesNoUpdate(t *testing.T) {
	// A client's Modify of the whole list: load with version, change,
	// store if unchanged, else retry.
	const goroutines, updates = 8, 50
	l := newTestList(t)
	var wg sync.WaitGroup
	for range goroutines {
		wg.Go(func() {
			for range updates {
				for {
					got := l.LoadVersion()
					next := append(got.Items, containerEncode(t, int64(len(got.Items))))
					if l.StoreIfVersion(direct, got.Version, next) {
						break
					}
				}
			}
		})
	}
	wg.Wait()
	assert.Equal(t, listRange(goroutines*updates), listInts(t, l))
}
