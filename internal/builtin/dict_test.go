package builtin

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/goproc/manager/internal/errs"
)

// newTestDict returns an empty Dict.
func newTestDict(tb testing.TB) *Dict {
	tb.Helper()
	d, err := NewDict(direct, nil)
	require.NoError(tb, err)
	return d
}

// dictKeys decodes the keys of d as strings.
func dictKeys(tb testing.TB, d *Dict) []string {
	tb.Helper()
	return containerDecodeAll[string](tb, d.Keys())
}

func TestDictLoadStore(t *testing.T) {
	d := newTestDict(t)
	k, v := containerEncode(t, "k"), containerEncode(t, int64(1))

	assert.Equal(t, LoadResult{}, d.Load(k))
	assert.False(t, d.Has(k))

	d.Store(direct, k, v)
	assert.Equal(t, LoadResult{Value: v, OK: true}, d.Load(k))
	assert.True(t, d.Has(k))
	assert.Equal(t, 1, d.Len())

	// Keys are compared as encoded bytes: an int8 1 is not an int64 1.
	assert.False(t, d.Has(containerEncode(t, []byte("k"))))
	d.Store(direct, containerEncode(t, int64(1)), v)
	assert.False(t, d.Has(containerEncode(t, int8(1))))
}

func TestDictNewWithItems(t *testing.T) {
	d, err := NewDict(direct, []Pair{
		{Key: containerEncode(t, "b"), Value: containerEncode(t, int64(1))},
		{Key: containerEncode(t, "a"), Value: containerEncode(t, int64(2))},
		{Key: containerEncode(t, "b"), Value: containerEncode(t, int64(3))},
	})
	require.NoError(t, err)
	assert.Equal(t, []string{"b", "a"}, dictKeys(t, d))
	assert.Equal(t, []int64{3, 2}, containerDecodeAll[int64](t, d.Values()))
}

func TestDictLoadOrStore(t *testing.T) {
	d := newTestDict(t)
	k := containerEncode(t, "k")
	v1, v2 := containerEncode(t, "one"), containerEncode(t, "two")

	assert.Equal(t, LoadResult{Value: v1, OK: false}, d.LoadOrStore(direct, k, v1))
	assert.Equal(t, LoadResult{Value: v1, OK: true}, d.LoadOrStore(direct, k, v2))
	assert.Equal(t, LoadResult{Value: v1, OK: true}, d.SetDefault(direct, k, v2))
	assert.Equal(t, LoadResult{Value: v2, OK: false}, d.SetDefault(direct, containerEncode(t, "j"), v2))
}

func TestDictDeleteFamily(t *testing.T) {
	d := newTestDict(t)
	k, v := containerEncode(t, "k"), containerEncode(t, "v")

	assert.False(t, d.Delete(direct, k))
	d.Store(direct, k, v)
	assert.True(t, d.Delete(direct, k))
	assert.False(t, d.Has(k))

	assert.Equal(t, LoadResult{}, d.LoadAndDelete(direct, k))
	d.Store(direct, k, v)
	assert.Equal(t, LoadResult{Value: v, OK: true}, d.LoadAndDelete(direct, k))
	assert.Equal(t, 0, d.Len())

	assert.Equal(t, LoadResult{}, d.Pop(direct, k))
	d.Store(direct, k, v)
	assert.Equal(t, LoadResult{Value: v, OK: true}, d.Pop(direct, k))
	assert.Equal(t, 0, d.Len())
}

func TestDictSwap(t *testing.T) {
	d := newTestDict(t)
	k := containerEncode(t, "k")
	v1, v2 := containerEncode(t, "one"), containerEncode(t, "two")

	assert.Equal(t, LoadResult{}, d.Swap(direct, k, v1))
	assert.Equal(t, LoadResult{Value: v1, OK: true}, d.Swap(direct, k, v2))
	assert.Equal(t, v2, d.Load(k).Value)
}

func TestDictCompareAndSwap(t *testing.T) {
	d := newTestDict(t)
	k := containerEncode(t, "k")
	v1, v2 := containerEncode(t, int64(1)), containerEncode(t, int64(2))

	assert.False(t, d.CompareAndSwap(direct, k, v1, v2), "absent key is never swapped")
	assert.False(t, d.Has(k))
	d.Store(direct, k, v1)
	assert.False(t, d.CompareAndSwap(direct, k, v2, v1))
	assert.False(t, d.CompareAndSwap(direct, k, containerEncode(t, int8(1)), v2), "equality is byte equality")
	assert.True(t, d.CompareAndSwap(direct, k, v1, v2))
	assert.Equal(t, v2, d.Load(k).Value)
}

func TestDictCompareAndDelete(t *testing.T) {
	d := newTestDict(t)
	k := containerEncode(t, "k")
	v1, v2 := containerEncode(t, int64(1)), containerEncode(t, int64(2))

	assert.False(t, d.CompareAndDelete(direct, k, v1))
	d.Store(direct, k, v1)
	assert.False(t, d.CompareAndDelete(direct, k, v2))
	assert.True(t, d.Has(k))
	assert.True(t, d.CompareAndDelete(direct, k, v1))
	assert.False(t, d.Has(k))
}

func TestDictOrder(t *testing.T) {
	d := newTestDict(t)
	for _, k := range []string{"a", "b", "c", "d"} {
		d.Store(direct, containerEncode(t, k), containerEncode(t, k+k))
	}
	d.Store(direct, containerEncode(t, "b"), containerEncode(t, "BB")) // overwrite keeps place
	d.Delete(direct, containerEncode(t, "a"))
	d.Store(direct, containerEncode(t, "a"), containerEncode(t, "AA")) // re-insert goes last

	assert.Equal(t, []string{"b", "c", "d", "a"}, dictKeys(t, d))
	assert.Equal(t, []string{"BB", "cc", "dd", "AA"}, containerDecodeAll[string](t, d.Values()))
	want := []Pair{
		{Key: containerEncode(t, "b"), Value: containerEncode(t, "BB")},
		{Key: containerEncode(t, "c"), Value: containerEncode(t, "cc")},
		{Key: containerEncode(t, "d"), Value: containerEncode(t, "dd")},
		{Key: containerEncode(t, "a"), Value: containerEncode(t, "AA")},
	}
	assert.Equal(t, want, d.Items())
	assert.Equal(t, want, d.Copy())
}

func TestDictOrderSurvivesCompaction(t *testing.T) {
	d := newTestDict(t)
	var want []string
	for i := range 1000 {
		d.Store(direct, containerEncode(t, fmt.Sprint(i)), containerEncode(t, int64(i)))
	}
	for i := range 1000 {
		if i%7 != 0 {
			d.Delete(direct, containerEncode(t, fmt.Sprint(i)))
		} else {
			want = append(want, fmt.Sprint(i))
		}
	}
	assert.Equal(t, want, dictKeys(t, d))
	assert.Equal(t, len(want), d.Len())
	// PopItem still takes the last inserted after compaction.
	p, err := d.PopItem(direct)
	require.NoError(t, err)
	assert.Equal(t, want[len(want)-1], containerDecode[string](t, p.Key))
	assert.Equal(t, want[:len(want)-1], dictKeys(t, d))
}

func TestDictClear(t *testing.T) {
	d := newTestDict(t)
	d.Store(direct, containerEncode(t, "a"), containerEncode(t, 1))
	d.Store(direct, containerEncode(t, "b"), containerEncode(t, 2))
	d.Clear(direct)
	assert.Equal(t, 0, d.Len())
	assert.Empty(t, d.Keys())
	assert.Empty(t, d.Items())
	d.Store(direct, containerEncode(t, "c"), containerEncode(t, 3))
	assert.Equal(t, []string{"c"}, dictKeys(t, d))
}

func TestDictUpdate(t *testing.T) {
	d := newTestDict(t)
	d.Store(direct, containerEncode(t, "a"), containerEncode(t, int64(0)))
	d.Update(direct, []Pair{
		{Key: containerEncode(t, "b"), Value: containerEncode(t, int64(1))},
		{Key: containerEncode(t, "a"), Value: containerEncode(t, int64(2))},
		{Key: containerEncode(t, "b"), Value: containerEncode(t, int64(3))},
	})
	assert.Equal(t, []string{"a", "b"}, dictKeys(t, d))
	assert.Equal(t, []int64{2, 3}, containerDecodeAll[int64](t, d.Values()))
	d.Update(direct, nil)
	assert.Equal(t, 2, d.Len())
}

func TestPairsDecode(t *testing.T) {
	big := strings.Repeat("x", 2*arenaMaxEntry)
	tests := []struct {
		name    string
		give    any
		want    Pairs
		wantErr bool
	}{
		{name: "pairs", give: []any{[]any{"a", 1}, []any{map[string]int{"b": 2}, []any{nil, true}}}, want: Pairs{
			{Key: containerEncode(t, "a"), Value: containerEncode(t, 1)},
			{Key: containerEncode(t, map[string]int{"b": 2}), Value: containerEncode(t, []any{nil, true})},
		}},
		{name: "a big value", give: []any{[]any{"a", big}}, want: Pairs{{Key: containerEncode(t, "a"), Value: containerEncode(t, big)}}},
		{name: "nil", give: nil, want: nil},
		{name: "empty", give: []any{}, want: Pairs{}},
		{name: "not an array", give: map[string]int{"a": 1}, wantErr: true},
		{name: "a pair of three", give: []any{[]any{"a", 1, 2}}, wantErr: true},
		{name: "a pair that is not an array", give: []any{"a"}, wantErr: true},
		{name: "more pairs than bytes", give: msgpack.RawMessage{0xdd, 0xff, 0xff, 0xff, 0xff, 0x92, 1, 2}, wantErr: true},
		{name: "cut short", give: msgpack.RawMessage{0x92, 0x92, 1, 2, 0x92, 1}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got Pairs
			err := msgpack.Unmarshal(containerEncode(t, tt.give), &got)
			assert.Equal(t, tt.wantErr, err != nil, "error: %v", err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestDictUpdateBigEntryKeepsNoBatch(t *testing.T) {
	d := newTestDict(t)
	big := strings.Repeat("x", 2*arenaMaxEntry)
	var items Pairs
	require.NoError(t, msgpack.Unmarshal(containerEncode(t, []any{[]any{"a", big}, []any{"b", 1}}), &items))
	d.Update(direct, items)
	clear(items[0].Value) // the list the caller decoded, reused
	assert.Equal(t, LoadResult{Value: containerEncode(t, big), OK: true}, d.Load(containerEncode(t, "a")))
}

func TestDictPopItem(t *testing.T) {
	d := newTestDict(t)
	_, err := d.PopItem(direct)
	require.ErrorIs(t, err, errs.Empty)

	for _, k := range []string{"a", "b", "c"} {
		d.Store(direct, containerEncode(t, k), containerEncode(t, k))
	}
	d.Delete(direct, containerEncode(t, "c"))
	for _, want := range []string{"b", "a"} {
		p, err := d.PopItem(direct)
		require.NoError(t, err)
		assert.Equal(t, want, containerDecode[string](t, p.Key))
		assert.Equal(t, want, containerDecode[string](t, p.Value))
	}
	_, err = d.PopItem(direct)
	assert.ErrorIs(t, err, errs.Empty)
}

func TestDictVersions(t *testing.T) {
	d := newTestDict(t)
	a, b := containerEncode(t, "a"), containerEncode(t, "b")
	v1, v2 := containerEncode(t, int64(1)), containerEncode(t, int64(2))

	assert.Equal(t, VersionedValue{}, d.LoadVersion(a))
	assert.False(t, d.StoreIfVersion(direct, a, 7, v1), "a version never matches an absent key")
	assert.True(t, d.StoreIfVersion(direct, a, 0, v1), "version 0 stores if absent")
	assert.False(t, d.StoreIfVersion(direct, a, 0, v2), "version 0 refuses a present key")

	got := d.LoadVersion(a)
	assert.Equal(t, v1, got.Value)
	assert.True(t, got.OK)
	assert.NotZero(t, got.Version)

	d.Store(direct, b, v1)
	assert.NotEqual(t, got.Version, d.LoadVersion(b).Version, "versions are unique across the dict")
	assert.Equal(t, got.Version, d.LoadVersion(a).Version, "writing b leaves a's version alone")

	assert.True(t, d.StoreIfVersion(direct, a, got.Version, v2))
	assert.False(t, d.StoreIfVersion(direct, a, got.Version, v1), "stale version")
	assert.Equal(t, v2, d.Load(a).Value)

	// Delete and re-insert: the old version must not match (no ABA).
	old := d.LoadVersion(a).Version
	d.Delete(direct, a)
	d.Store(direct, a, v2)
	assert.False(t, d.StoreIfVersion(direct, a, old, v1))

	// Clear and re-insert: likewise.
	old = d.LoadVersion(a).Version
	d.Clear(direct)
	d.Store(direct, a, v2)
	assert.False(t, d.StoreIfVersion(direct, a, old, v1))
}

func TestDictAdd(t *testing.T) {
	d := newTestDict(t)
	k := containerEncode(t, "n")

	got, err := d.Add(direct, k, containerEncode(t, int64(5)))
	require.NoError(t, err)
	assert.Equal(t, containerEncode(t, int64(5)), got, "absent key counts as zero")
	got, err = d.Add(direct, k, containerEncode(t, int64(-7)))
	require.NoError(t, err)
	assert.Equal(t, containerEncode(t, int64(-2)), got)
	assert.Equal(t, got, d.Load(k).Value)

	f := containerEncode(t, "f")
	got, err = d.Add(direct, f, containerEncode(t, 0.5))
	require.NoError(t, err)
	assert.Equal(t, containerEncode(t, 0.5), got)

	_, err = d.Add(direct, k, containerEncode(t, 0.5))
	require.ErrorIs(t, err, errs.BadArguments)
	assert.Equal(t, containerEncode(t, int64(-2)), d.Load(k).Value, "a failed add changes nothing")

	s := containerEncode(t, "s")
	d.Store(direct, s, containerEncode(t, "text"))
	_, err = d.Add(direct, s, containerEncode(t, int64(1)))
	assert.ErrorIs(t, err, errs.BadArguments)

	_, err = d.Add(direct, containerEncode(t, "absent"), containerEncode(t, "x"))
	assert.ErrorIs(t, err, errs.BadArguments)
	assert.False(t, d.Has(containerEncode(t, "absent")))
}

func TestDictConcurrentAdd(t *testing.T) {
	const goroutines, adds = 32, 200
	d := newTestDict(t)
	k := containerEncode(t, "n")
	var wg sync.WaitGroup
	for range goroutines {
		wg.Go(func() {
			for range adds {
				_, err := d.Add(direct, k, containerEncode(t, int64(1)))
				assert.NoError(t, err)
			}
		})
	}
	wg.Wait()
	assert.Equal(t, int64(goroutines*adds), containerDecode[int64](t, d.Load(k).Value))
}

// dictModify is what a client's Modify does: load with version, compute,
// store if the version is unchanged, retry otherwise.
func dictModify(d *Dict, key msgpack.RawMessage, fn func(cur int64) int64) error {
	for {
		got := d.LoadVersion(key)
		var cur int64
		if got.OK {
			if err := msgpack.Unmarshal(got.Value, &cur); err != nil {
				return err
			}
		}
		next, err := msgpack.Marshal(fn(cur))
		if err != nil {
			return err
		}
		if d.StoreIfVersion(direct, key, got.Version, next) {
			return nil
		}
	}
}

func TestDictConcurrentModifyLosesNoUpdate(t *testing.T) {
	const goroutines, updates = 16, 200
	d := newTestDict(t)
	k := containerEncode(t, "n")
	other := containerEncode(t, "other")
	var wg sync.WaitGroup
	for range goroutines {
		wg.Go(func() {
			for range updates {
				assert.NoError(t, dictModify(d, k, func(cur int64) int64 { return cur + 1 }))
				d.Store(direct, other, containerEncode(t, int64(0))) // unrelated churn
			}
		})
	}
	wg.Wait()
	assert.Equal(t, int64(goroutines*updates), containerDecode[int64](t, d.Load(k).Value))
}

func TestDictConcurrentMixed(t *testing.T) {
	// Every method at once, for the race detector; the final state of the
	// keys each goroutine owns is exact.
	const goroutines = 16
	d := newTestDict(t)
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			own := containerEncode(t, fmt.Sprint("own", g))
			for i := range 50 {
				v := containerEncode(t, int64(i))
				d.Store(direct, own, v)
				d.Load(own)
				d.CompareAndSwap(direct, own, v, v)
				d.Keys()
				d.Items()
				d.Values()
				d.Len()
				tmp := containerEncode(t, fmt.Sprint("tmp", g, i))
				d.LoadOrStore(direct, tmp, v)
				d.Swap(direct, tmp, v)
				d.LoadAndDelete(direct, tmp)
			}
		})
	}
	wg.Wait()
	assert.Equal(t, goroutines, d.Len())
	for g := range goroutines {
		assert.Equal(t, int64(49), containerDecode[int64](t, d.Load(containerEncode(t, fmt.Sprint("own", g))).Value))
	}
}

func TestDictResultsTravelAsArrays(t *testing.T) {
	// The client decodes results positionally; check the wire shape.
	b, err := msgpack.Marshal(LoadResult{Value: containerEncode(t, "v"), OK: true})
	require.NoError(t, err)
	var lr []any
	require.NoError(t, msgpack.Unmarshal(b, &lr))
	assert.Equal(t, []any{"v", true}, lr)

	b, err = msgpack.Marshal(VersionedValue{Value: containerEncode(t, "v"), Version: 3, OK: true})
	require.NoError(t, err)
	var vv []any
	require.NoError(t, msgpack.Unmarshal(b, &vv))
	assert.Equal(t, []any{"v", uint64(3), true}, vv)

	b, err = msgpack.Marshal([]Pair{{Key: containerEncode(t, "k"), Value: containerEncode(t, int64(1))}})
	require.NoError(t, err)
	var pairs [][2]any
	require.NoError(t, msgpack.Unmarshal(b, &pairs))
	assert.Equal(t, [][2]any{{"k", int64(1)}}, pairs)

	var back []Pair
	require.NoError(t, msgpack.Unmarshal(b, &back))
	assert.Equal(t, []Pair{{Key: containerEncode(t, "k"), Value: containerEncode(t, int64(1))}}, back)
}
