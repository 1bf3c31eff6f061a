package manager_test

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/goproc/manager"
)

// requireWrongType checks that err satisfies errors.Is(err, ErrWrongType)
// and names the msgpack value found and the Go type wanted.
func requireWrongType(t testing.TB, err error, got, want string) {
	t.Helper()
	require.ErrorIs(t, err, manager.ErrWrongType)
	assert.Contains(t, err.Error(), got)
	assert.Contains(t, err.Error(), want)
}

// retype returns a proxy of type P to p's object, as a process that
// opened it with other type parameters would have.
func retype[P any](p *manager.Proxy) (P, error) {
	var out P
	raw, err := msgpack.Marshal(p)
	if err != nil {
		return out, err
	}
	err = msgpack.Unmarshal(raw, &out)
	return out, err
}

// record and recordNarrow are one struct at two widths.
type record struct {
	Name  string
	Count int
}

type recordNarrow struct {
	Name  string
	Count uint8
}

// TestWrongTypeQueue gets an item through a Queue of another type: the
// error says so, names both types, and the item is still there for a
// proxy of the right type (issue 10, item 5).
func TestWrongTypeQueue(t *testing.T) {
	ctx := testContext(t)
	m := startManager(t, manager.InProcess())
	tests := []struct {
		name     string
		joinable bool
		try      bool
	}{
		{"Queue.Get", false, false},
		{"Queue.TryGet", false, true},
		{"JoinableQueue.Get", true, false},
		{"JoinableQueue.TryGet", true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ints *manager.Queue[int]
			var strs *manager.Queue[string]
			if tt.joinable {
				jq, err := manager.NewJoinableQueue[int](ctx, m, 0)
				require.NoError(t, err)
				ints = &jq.Queue
				sq, err := retype[*manager.JoinableQueue[string]](jq.Proxy())
				require.NoError(t, err)
				strs = &sq.Queue
			} else {
				var err error
				ints, err = manager.NewQueue[int](ctx, m, 0)
				require.NoError(t, err)
				strs, err = retype[*manager.Queue[string]](ints.Proxy())
				require.NoError(t, err)
			}
			require.NoError(t, ints.Put(ctx, 42))
			get := strs.Get
			if tt.try {
				get = strs.TryGet
			}
			_, err := get(ctx)
			requireWrongType(t, err, "int 42", "string")
			n, err := ints.Len(ctx)
			require.NoError(t, err)
			assert.Equal(t, 1, n, "the item was consumed")
			got, err := ints.Get(ctx)
			require.NoError(t, err)
			assert.Equal(t, 42, got)
		})
	}

}

// TestWrongTypeNarrowing loads values a narrower Go type cannot hold:
// errors, never a changed value, and nothing removed.
func TestWrongTypeNarrowing(t *testing.T) {
	ctx := testContext(t)
	m := startManager(t, manager.InProcess())

	t.Run("Dict.Load uint8", func(t *testing.T) {
		wide, err := manager.NewDict[string, int](ctx, m)
		require.NoError(t, err)
		narrow, err := retype[*manager.Dict[string, uint8]](wide.Proxy())
		require.NoError(t, err)
		require.NoError(t, wide.Store(ctx, "k", 300))
		_, _, err = narrow.Load(ctx, "k")
		requireWrongType(t, err, "int 300", "uint8")
		require.NoError(t, wide.Store(ctx, "small", 200))
		v, ok, err := narrow.Load(ctx, "small")
		require.NoError(t, err)
		assert.True(t, ok)
		assert.Equal(t, uint8(200), v)
	})
	t.Run("Dict.Values int16", func(t *testing.T) {
		wide, err := manager.NewDict[string, int](ctx, m)
		require.NoError(t, err)
		narrow, err := retype[*manager.Dict[string, int16]](wide.Proxy())
		require.NoError(t, err)
		require.NoError(t, wide.Store(ctx, "a", 1))
		require.NoError(t, wide.Store(ctx, "b", 70000))
		_, err = narrow.Values(ctx)
		requireWrongType(t, err, "int 70000", "int16")
		assert.Contains(t, err.Error(), "[1]")
	})
	t.Run("Dict.LoadAndDelete", func(t *testing.T) {
		wide, err := manager.NewDict[string, int](ctx, m)
		require.NoError(t, err)
		narrow, err := retype[*manager.Dict[string, int8]](wide.Proxy())
		require.NoError(t, err)
		require.NoError(t, wide.Store(ctx, "k", -200))
		_, _, err = narrow.LoadAndDelete(ctx, "k")
		requireWrongType(t, err, "int -200", "int8")
		v, ok, err := wide.LoadAndDelete(ctx, "k")
		require.NoError(t, err)
		assert.True(t, ok)
		assert.Equal(t, -200, v)
	})
	t.Run("Dict.PopItem", func(t *testing.T) {
		wide, err := manager.NewDict[string, int](ctx, m)
		require.NoError(t, err)
		narrow, err := retype[*manager.Dict[string, uint16]](wide.Proxy())
		require.NoError(t, err)
		require.NoError(t, wide.Store(ctx, "k", -1))
		_, _, err = narrow.PopItem(ctx)
		requireWrongType(t, err, "int -1", "uint16")
		k, v, err := wide.PopItem(ctx)
		require.NoError(t, err)
		assert.Equal(t, "k", k)
		assert.Equal(t, -1, v)
	})
	t.Run("Dict.Swap", func(t *testing.T) {
		wide, err := manager.NewDict[string, float64](ctx, m)
		require.NoError(t, err)
		narrow, err := retype[*manager.Dict[string, int]](wide.Proxy())
		require.NoError(t, err)
		require.NoError(t, wide.Store(ctx, "k", 2.5))
		_, _, err = narrow.Swap(ctx, "k", 3)
		requireWrongType(t, err, "float64 2.5", "int")
		v, _, err := wide.Load(ctx, "k")
		require.NoError(t, err)
		assert.Equal(t, 2.5, v, "Swap stored over a value it could not return")
	})
	t.Run("List.Pop struct field", func(t *testing.T) {
		wide, err := manager.NewList(ctx, m, record{Name: "a", Count: 1000})
		require.NoError(t, err)
		narrow, err := retype[*manager.List[recordNarrow]](wide.Proxy())
		require.NoError(t, err)
		_, err = narrow.Pop(ctx, -1)
		requireWrongType(t, err, "int 1000", "uint8")
		assert.Contains(t, err.Error(), ".Count")
		got, err := wide.Pop(ctx, -1)
		require.NoError(t, err)
		assert.Equal(t, record{Name: "a", Count: 1000}, got)
	})
	t.Run("Value.Swap and Load", func(t *testing.T) {
		wide, err := manager.NewValue[int64](ctx, m, 1<<40)
		require.NoError(t, err)
		narrow, err := retype[*manager.Value[int32]](wide.Proxy())
		require.NoError(t, err)
		_, err = narrow.Load(ctx)
		requireWrongType(t, err, "int 1099511627776", "int32")
		_, err = narrow.Swap(ctx, 5)
		requireWrongType(t, err, "int 1099511627776", "int32")
		_, err = narrow.Modify(ctx, func(old int32) (int32, error) { return old + 1, nil })
		requireWrongType(t, err, "int 1099511627776", "int32")
		v, err := wide.Load(ctx)
		require.NoError(t, err)
		assert.Equal(t, int64(1<<40), v)
	})
	t.Run("Namespace.Get", func(t *testing.T) {
		ns, err := manager.NewNamespace(ctx, m)
		require.NoError(t, err)
		require.NoError(t, ns.Set(ctx, "x", 300))
		var small uint8
		_, err = ns.Get(ctx, "x", &small)
		requireWrongType(t, err, "int 300", "uint8")
		var s string
		_, err = ns.Get(ctx, "x", &s)
		requireWrongType(t, err, "int 300", "string")
		var n int
		ok, err := ns.Get(ctx, "x", &n)
		require.NoError(t, err)
		assert.True(t, ok)
		assert.Equal(t, 300, n)
	})
}

// TestDictFloatKeys: -0.0 and 0.0 are one key, as they are equal, and a
// NaN key can be loaded and deleted (issue 10, item 9).
func TestDictFloatKeys(t *testing.T) {
	ctx := testContext(t)
	m := startManager(t, manager.InProcess())
	d, err := manager.NewDict[float64, string](ctx, m)
	require.NoError(t, err)
	negZero := math.Copysign(0, -1)
	require.NoError(t, d.Store(ctx, 0.0, "zero"))
	require.NoError(t, d.Store(ctx, negZero, "negative zero"))
	n, err := d.Len(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	v, ok, err := d.Load(ctx, 0.0)
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Equal(t, "negative zero", v)

	require.NoError(t, d.Store(ctx, math.NaN(), "nan"))
	otherNaN := math.Float64frombits(0x7ff8000000000abc)
	v, ok, err = d.Load(ctx, otherNaN)
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Equal(t, "nan", v)
	deleted, err := d.Delete(ctx, math.NaN())
	require.NoError(t, err)
	assert.True(t, deleted)

	f32, err := manager.NewDict[float32, int](ctx, m)
	require.NoError(t, err)
	require.NoError(t, f32.Store(ctx, float32(negZero), 1))
	has, err := f32.Has(ctx, 0)
	require.NoError(t, err)
	assert.True(t, has)
}

// TestWrongTypeProxyItem gets a proxy through a Queue of proxies of
// another type: the manager sees the proxy's typeid, so the item stays.
func TestWrongTypeProxyItem(t *testing.T) {
	ctx := testContext(t)
	m := startManager(t, manager.InProcess())
	dicts, err := manager.NewQueue[*manager.Dict[string, int]](ctx, m, 0)
	require.NoError(t, err)
	lists, err := retype[*manager.Queue[*manager.List[int]]](dicts.Proxy())
	require.NoError(t, err)
	d, err := manager.NewDict[string, int](ctx, m)
	require.NoError(t, err)
	require.NoError(t, dicts.Put(ctx, d))
	_, err = lists.TryGet(ctx)
	requireWrongType(t, err, "proxy to a Dict", "List")
	got, err := dicts.TryGet(ctx)
	require.NoError(t, err)
	assert.Equal(t, d.Proxy().ID(), got.Proxy().ID())
	require.NoError(t, got.Close())
}

// TestShapeOfRecursiveType sends a recursive type through a Queue and
// reads it through a narrower one: the check follows the recursion.
func TestShapeOfRecursiveType(t *testing.T) {
	type wideTree struct {
		V    int
		Kids []wideTree
	}
	type narrowTree struct {
		V    int8
		Kids []narrowTree
	}
	ctx := testContext(t)
	m := startManager(t, manager.InProcess())
	wide, err := manager.NewQueue[wideTree](ctx, m, 0)
	require.NoError(t, err)
	narrow, err := retype[*manager.Queue[narrowTree]](wide.Proxy())
	require.NoError(t, err)
	deep := wideTree{V: 1, Kids: []wideTree{{V: 2, Kids: []wideTree{{V: 1000}}}}}
	require.NoError(t, wide.Put(ctx, deep))
	_, err = narrow.TryGet(ctx)
	requireWrongType(t, err, "int 1000", "int8")
	assert.Contains(t, err.Error(), ".Kids[0].Kids[0].V")
	got, err := wide.TryGet(ctx)
	require.NoError(t, err)
	assert.Equal(t, deep, got)
}
