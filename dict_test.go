package manager_test

import (
	"context"
	"fmt"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/goproc/manager"
)

func init() {
	manager.RegisterWorker("dict.modify-nested", func(ctx context.Context, c *manager.Client, args manager.Args) error {
		var d *manager.Dict[string, map[string]int]
		var worker int
		if err := args.Decode(&d, &worker); err != nil {
			return err
		}
		for j := 0; j < 10; j++ {
			key := fmt.Sprintf("w%d-%d", worker, j)
			_, err := d.Modify(ctx, "nested", func(old map[string]int, ok bool) (map[string]int, error) {
				if old == nil {
					old = map[string]int{}
				}
				old[key] = worker
				return old, nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	manager.RegisterWorker("dict.add", func(ctx context.Context, c *manager.Client, args manager.Args) error {
		var d *manager.Dict[string, int]
		if err := args.Decode(&d); err != nil {
			return err
		}
		for j := 0; j < 10; j++ {
			if _, err := d.Add(ctx, "n", 1); err != nil {
				return err
			}
		}
		return nil
	})
	manager.RegisterWorker("dict.append-to-lists", func(ctx context.Context, c *manager.Client, args manager.Args) error {
		var d *manager.Dict[string, *manager.List[int]]
		var worker int
		if err := args.Decode(&d, &worker); err != nil {
			return err
		}
		return d.Range(ctx, func(name string, l *manager.List[int]) bool {
			defer l.Close()
			return l.Append(ctx, worker) == nil
		})
	})
}

func TestDictMapMethods(t *testing.T) {
	ctx := testContext(t)
	m := startManager(t, manager.InProcess())
	d, err := manager.NewDict[string, int](ctx, m)
	require.NoError(t, err)

	// setitem, getitem, get, contains, len
	require.NoError(t, d.Store(ctx, "a", 1))
	require.NoError(t, d.Store(ctx, "b", 2))
	v, ok, err := d.Load(ctx, "a")
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Equal(t, 1, v)
	v, ok, err = d.Load(ctx, "missing")
	require.NoError(t, err)
	assert.False(t, ok)
	assert.Equal(t, 0, v)
	has, err := d.Has(ctx, "b")
	require.NoError(t, err)
	assert.True(t, has)
	n, err := d.Len(ctx)
	require.NoError(t, err)
	assert.Equal(t, 2, n)

	// setdefault
	actual, loaded, err := d.LoadOrStore(ctx, "a", 10)
	require.NoError(t, err)
	assert.True(t, loaded)
	assert.Equal(t, 1, actual)
	actual, loaded, err = d.LoadOrStore(ctx, "c", 3)
	require.NoError(t, err)
	assert.False(t, loaded)
	assert.Equal(t, 3, actual)

	// keys, values, items (insertion order), iter, copy
	keys, err := d.Keys(ctx)
	require.NoError(t, err)
	assert.Equal(t, []string{"a", "b", "c"}, keys)
	values, err := d.Values(ctx)
	require.NoError(t, err)
	assert.Equal(t, []int{1, 2, 3}, values)
	items, err := d.Items(ctx)
	require.NoError(t, err)
	assert.Equal(t, []manager.Pair[string, int]{{Key: "a", Value: 1}, {Key: "b", Value: 2}, {Key: "c", Value: 3}}, items)
	copied, err := d.Copy(ctx)
	require.NoError(t, err)
	assert.Equal(t, map[string]int{"a": 1, "b": 2, "c": 3}, copied)
	var seen []string
	require.NoError(t, d.Range(ctx, func(k string, v int) bool {
		seen = append(seen, k)
		return k != "b"
	}))
	assert.Equal(t, []string{"a", "b"}, seen, "Range stops when fn returns false")

	// Swap, CompareAndSwap, CompareAndDelete
	prev, loaded, err := d.Swap(ctx, "a", 100)
	require.NoError(t, err)
	assert.True(t, loaded)
	assert.Equal(t, 1, prev)
	swapped, err := d.CompareAndSwap(ctx, "a", 1, 5)
	require.NoError(t, err)
	assert.False(t, swapped, "stale old value")
	swapped, err = d.CompareAndSwap(ctx, "a", 100, 5)
	require.NoError(t, err)
	assert.True(t, swapped)
	deleted, err := d.CompareAndDelete(ctx, "a", 6)
	require.NoError(t, err)
	assert.False(t, deleted)
	deleted, err = d.CompareAndDelete(ctx, "a", 5)
	require.NoError(t, err)
	assert.True(t, deleted)

	// pop, delitem, popitem (LIFO)
	v, loaded, err = d.LoadAndDelete(ctx, "b")
	require.NoError(t, err)
	assert.True(t, loaded)
	assert.Equal(t, 2, v)
	_, loaded, err = d.LoadAndDelete(ctx, "b")
	require.NoError(t, err)
	assert.False(t, loaded)
	deleted, err = d.Delete(ctx, "c")
	require.NoError(t, err)
	assert.True(t, deleted)
	deleted, err = d.Delete(ctx, "c")
	require.NoError(t, err)
	assert.False(t, deleted)

	// update, popitem, clear
	require.NoError(t, d.UpdatePairs(ctx, []manager.Pair[string, int]{{Key: "x", Value: 1}, {Key: "y", Value: 2}, {Key: "x", Value: 3}}))
	require.NoError(t, d.Update(ctx, map[string]int{"z": 26}))
	k, v, err := d.PopItem(ctx)
	require.NoError(t, err)
	assert.Equal(t, "z", k)
	assert.Equal(t, 26, v)
	copied, err = d.Copy(ctx)
	require.NoError(t, err)
	assert.Equal(t, map[string]int{"x": 3, "y": 2}, copied)
	require.NoError(t, d.Clear(ctx))
	n, err = d.Len(ctx)
	require.NoError(t, err)
	assert.Equal(t, 0, n)
	_, _, err = d.PopItem(ctx)
	assert.ErrorIs(t, err, manager.ErrEmpty)
}

func TestDictAdd(t *testing.T) {
	ctx := testContext(t)
	m := startManager(t, manager.InProcess())
	ints, err := manager.NewDict[string, int64](ctx, m)
	require.NoError(t, err)
	sum, err := ints.Add(ctx, "n", 5)
	require.NoError(t, err)
	assert.Equal(t, int64(5), sum, "an absent key counts as zero")
	sum, err = ints.Add(ctx, "n", -7)
	require.NoError(t, err)
	assert.Equal(t, int64(-2), sum)

	floats, err := manager.NewDict[string, float64](ctx, m)
	require.NoError(t, err)
	f, err := floats.Add(ctx, "x", 0.5)
	require.NoError(t, err)
	assert.Equal(t, 0.5, f)

	strs, err := manager.NewDict[string, string](ctx, m)
	require.NoError(t, err)
	_, err = strs.Add(ctx, "s", "x")
	assert.ErrorIs(t, err, manager.ErrBadArguments, "Add on a string")
}

// TestDictValuesCompareByContent checks that map values, whose encoding
// would otherwise follow Go's random map order, compare equal when equal.
func TestDictValuesCompareByContent(t *testing.T) {
	ctx := testContext(t)
	m := startManager(t, manager.InProcess())
	d, err := manager.NewDict[string, map[string]int](ctx, m)
	require.NoError(t, err)
	big := map[string]int{}
	for i := 0; i < 50; i++ {
		big[fmt.Sprint("k", i)] = i
	}
	require.NoError(t, d.Store(ctx, "m", big))
	for i := 0; i < 10; i++ {
		copied := map[string]int{}
		for k, v := range big {
			copied[k] = v
		}
		swapped, err := d.CompareAndSwap(ctx, "m", copied, copied)
		require.NoError(t, err)
		assert.True(t, swapped)
	}

	type point struct{ X, Y int }
	keyed, err := manager.NewDict[point, string](ctx, m)
	require.NoError(t, err)
	require.NoError(t, keyed.Store(ctx, point{1, 2}, "a"))
	v, ok, err := keyed.Load(ctx, point{1, 2})
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Equal(t, "a", v)
}

// TestDictModifyKeepsEveryUpdate is the fix for Python's
// d['k']['x'] = 1 trap: 8 processes add distinct keys to one nested map,
// and none is lost.
func TestDictModifyKeepsEveryUpdate(t *testing.T) {
	ctx := testContext(t)
	m := startManager(t)
	d, err := manager.NewDict[string, map[string]int](ctx, m)
	require.NoError(t, err)

	runWorkers(ctx, t, m, 8, "dict.modify-nested", d)
	nested, ok, err := d.Load(ctx, "nested")
	require.NoError(t, err)
	require.True(t, ok)
	assert.Len(t, nested, 80)
	assert.Equal(t, 7, nested["w7-9"])
}

func TestDictModifyStopsOnError(t *testing.T) {
	ctx := testContext(t)
	m := startManager(t, manager.InProcess())
	d, err := manager.NewDict[string, int](ctx, m)
	require.NoError(t, err)
	require.NoError(t, d.Store(ctx, "k", 1))
	boom := fmt.Errorf("boom")
	_, err = d.Modify(ctx, "k", func(old int, ok bool) (int, error) { return 0, boom })
	assert.ErrorIs(t, err, boom)
	v, _, err := d.Load(ctx, "k")
	require.NoError(t, err)
	assert.Equal(t, 1, v, "nothing stored")

	got, err := d.Modify(ctx, "new", func(old int, ok bool) (int, error) {
		assert.False(t, ok)
		return old + 1, nil
	})
	require.NoError(t, err)
	assert.Equal(t, 1, got)
}

func TestDictAddAcrossProcesses(t *testing.T) {
	ctx := testContext(t)
	m := startManager(t, manager.InProcess())
	d, err := manager.NewDict[string, int](ctx, m)
	require.NoError(t, err)
	runWorkers(ctx, t, m, 10, "dict.add", d)
	n, _, err := d.Load(ctx, "n")
	require.NoError(t, err)
	assert.Equal(t, 100, n)
}

// TestDictOfListProxies stores List proxies in a Dict, passes the Dict to
// forked workers, and checks that they reach the lists through it.
func TestDictOfListProxies(t *testing.T) {
	ctx := testContext(t)
	m := startManager(t, manager.InProcess())
	d, err := manager.NewDict[string, *manager.List[int]](ctx, m)
	require.NoError(t, err)
	lists := map[string]*manager.List[int]{}
	for _, name := range []string{"a", "b"} {
		l, err := manager.NewList[int](ctx, m)
		require.NoError(t, err)
		require.NoError(t, d.Store(ctx, name, l))
		lists[name] = l
	}

	runWorkers(ctx, t, m, 3, "dict.append-to-lists", d)
	for name, l := range lists {
		got, err := l.Copy(ctx)
		require.NoError(t, err)
		assert.ElementsMatch(t, []int{0, 1, 2}, got, "list %s", name)
	}
	loaded, ok, err := d.Load(ctx, "a")
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, lists["a"].Proxy().ID(), loaded.Proxy().ID())
	require.NoError(t, loaded.Close())
	n, err := lists["a"].Len(ctx)
	require.NoError(t, err)
	assert.Equal(t, 3, n, "closing the loaded proxy leaves the original working")
}

func TestOpenDictSharesByName(t *testing.T) {
	ctx := testContext(t)
	m := startManager(t, manager.InProcess())
	a, err := manager.OpenDict[string, int](ctx, m, "shared")
	require.NoError(t, err)
	b, err := manager.OpenDict[string, int](ctx, secondSession(t, m), "shared")
	require.NoError(t, err)
	require.NoError(t, a.Store(ctx, "k", 7))
	v, ok, err := b.Load(ctx, "k")
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Equal(t, 7, v)
	_, err = manager.OpenDict[string, int](ctx, m, "")
	assert.Error(t, err, "empty name")
}

// BenchmarkDict measures the typed calls over a manager process: one
// round trip each (Modify two), and the cost of canonical map encoding.
func BenchmarkDict(b *testing.B) {
	ctx := testContext(b)
	m := startManager(b)
	ints, err := manager.NewDict[string, int](ctx, m)
	require.NoError(b, err)
	maps, err := manager.NewDict[string, map[string]int](ctx, m)
	require.NoError(b, err)
	row := map[string]int{"a": 1, "b": 2, "c": 3, "d": 4, "e": 5, "f": 6, "g": 7, "h": 8}
	require.NoError(b, ints.Store(ctx, "k", 1))

	b.Run("Store", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := ints.Store(ctx, "k", 1); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Load", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, _, err := ints.Load(ctx, "k"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Add", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := ints.Add(ctx, "k", 1); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Modify", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := ints.Modify(ctx, "k", func(old int, _ bool) (int, error) { return old + 1, nil }); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("StoreMap8", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := maps.Store(ctx, "k", row); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Items1000", func(b *testing.B) {
		for i := 0; i < 1000; i++ {
			require.NoError(b, ints.Store(ctx, fmt.Sprint(i), i))
		}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := ints.Items(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// The bulk paths write and read elements without boxing each: the same
// bytes as the single calls, canonical keys and maps included.
func TestDictBulkPaths(t *testing.T) {
	ctx := testContext(t)
	m := startManager(t)
	d, err := manager.NewDict[float64, map[string]int](ctx, m)
	require.NoError(t, err)
	negZero := math.Copysign(0, -1)
	require.NoError(t, d.UpdatePairs(ctx, []manager.Pair[float64, map[string]int]{
		{Key: 1.5, Value: map[string]int{"b": 2, "a": 1}},
		{Key: negZero, Value: nil},
		{Key: 1.5, Value: map[string]int{"c": 3}},
	}))
	v, ok, err := d.Load(ctx, 0)
	require.NoError(t, err)
	assert.True(t, ok, "-0 is stored as 0")
	assert.Nil(t, v)
	swapped, err := d.CompareAndSwap(ctx, 1.5, map[string]int{"c": 3}, map[string]int{"a": 1, "b": 2, "c": 3, "d": 4})
	require.NoError(t, err)
	assert.True(t, swapped, "the map went in canonically encoded")
	items, err := d.Items(ctx)
	require.NoError(t, err)
	assert.Equal(t, []manager.Pair[float64, map[string]int]{
		{Key: 1.5, Value: map[string]int{"a": 1, "b": 2, "c": 3, "d": 4}},
		{Key: 0, Value: nil},
	}, items)

	s, err := manager.OpenDict[int, string](ctx, m, "bulk.s")
	require.NoError(t, err)
	require.NoError(t, s.UpdatePairs(ctx, []manager.Pair[int, string]{{Key: 1, Value: "one"}, {Key: 300, Value: "three hundred"}}))
	sItems, err := s.Items(ctx)
	require.NoError(t, err)
	assert.Equal(t, []manager.Pair[int, string]{{Key: 1, Value: "one"}, {Key: 300, Value: "three hundred"}}, sItems)
	asInts, err := manager.OpenDict[int, int](ctx, m, "bulk.s") // the same dict, read with another V
	require.NoError(t, err)
	_, err = asInts.Items(ctx)
	assert.ErrorIs(t, err, manager.ErrWrongType)

	l, err := manager.NewList[int](ctx, m)
	require.NoError(t, err)
	require.NoError(t, l.Extend(ctx, 1, 300, -5))
	require.NoError(t, l.Extend(ctx))
	all, err := l.Copy(ctx)
	require.NoError(t, err)
	assert.Equal(t, []int{1, 300, -5}, all)
}
