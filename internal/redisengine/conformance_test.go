package redisengine

import (
	"context"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/goproc/manager/internal/builtin"
	"github.com/goproc/manager/internal/callctx"
	"github.com/goproc/manager/internal/errs"
)

// The conformance tests run one sequence of calls on an internal/builtin
// object, called directly as the manager's server calls it, and on the
// Redis engine's object, and require the same encoded results and the
// same error sentinels, call by call.

// op is one call: a method and its arguments (encoded as a proxy does).
type op struct {
	method string
	args   []any
}

func o(method string, args ...any) op { return op{method, args} }

var ctxType = reflect.TypeFor[context.Context]()

// builtinCall calls method of recv by reflection, as the manager does:
// ctx first if the method takes one, arguments decoded from msgpack, and
// the result encoded with msgpack.
func builtinCall(t testing.TB, recv any, method string, args []msgpack.RawMessage) ([]byte, error) {
	t.Helper()
	m := reflect.ValueOf(recv).MethodByName(method)
	require.True(t, m.IsValid(), "builtin has no method %s", method)
	mt := m.Type()
	var in []reflect.Value
	first := 0
	if mt.NumIn() > 0 && mt.In(0) == ctxType {
		ctx := callctx.With(context.Background(), callctx.Caller{Handle: 1})
		in = append(in, reflect.ValueOf(ctx))
		first = 1
	}
	require.Equal(t, mt.NumIn()-first, len(args), "arguments of %s", method)
	for i, a := range args {
		p := reflect.New(mt.In(first + i))
		require.NoError(t, msgpack.Unmarshal(a, p.Interface()))
		in = append(in, p.Elem())
	}
	out := m.Call(in)
	if n := len(out); n > 0 && mt.Out(n-1) == reflect.TypeFor[error]() {
		if err, _ := out[n-1].Interface().(error); err != nil {
			return nil, err
		}
		out = out[:n-1]
	}
	if len(out) == 0 {
		return mp(t, nil), nil
	}
	return mp(t, out[0].Interface()), nil
}

// conform runs ops on recv (builtin) and on r (Redis), comparing each.
func conform(t *testing.T, recv any, r *obj, ops []op) {
	t.Helper()
	for i, op := range ops {
		args := enc(t, op.args...)
		want, wantErr := builtinCall(t, recv, op.method, args)
		got, gotErr := r.s.Call(t.Context(), r.id, r.typeid, r.handle, op.method, args)
		what := fmt.Sprintf("op %d: %s%v", i, op.method, op.args)
		if wantErr != nil {
			require.Error(t, gotErr, what)
			assert.Equal(t, errs.CodeOf(wantErr), errs.CodeOf(gotErr), "%s: want %v, got %v", what, wantErr, gotErr)
			continue
		}
		require.NoError(t, gotErr, what)
		if string(want) == "\xc0" && string(got) == "\x90" {
			// builtin encodes a nil slice (a list emptied by Clear) as
			// nil, Redis an empty array: the proxies decode both alike.
			continue
		}
		assert.Equal(t, want, got, "%s: want % x, got % x", what, want, got)
	}
}

func dictOps() []op {
	return []op{
		o("Len"), o("Load", "a"), o("Store", "a", 1), o("Load", "a"), o("Has", "a"), o("Has", "b"),
		o("LoadOrStore", "a", 2), o("LoadOrStore", "b", 2), o("SetDefault", "c", []int{1, 2}),
		o("Keys"), o("Values"), o("Items"), o("Copy"), o("Len"),
		o("LoadMany", []string{"c", "nope", "a"}), o("LoadMany", []string{}), o("LoadMany", nil),
		o("ItemsFrom", uint64(0), 100, 1<<20), o("ItemsFrom", uint64(0), 0, 1), o("ItemsFrom", uint64(0), 1, 0),
		o("Swap", "a", 10), o("Swap", "z", 0), o("Delete", "z"), o("Delete", "z"),
		o("CompareAndSwap", "a", 10, 11), o("CompareAndSwap", "a", 10, 12), o("CompareAndSwap", "q", 1, 2),
		o("CompareAndDelete", "b", 3), o("CompareAndDelete", "b", 2), o("Load", "b"),
		o("Store", "b", "again"), o("Store", "a", "moved?"), o("Items"),
		o("LoadAndDelete", "a"), o("LoadAndDelete", "a"), o("Pop", "c"), o("Pop", "c"),
		o("Update", []builtin.Pair{{Key: mp(t0, "x"), Value: mp(t0, 1)}, {Key: mp(t0, "y"), Value: mp(t0, 2)}, {Key: mp(t0, "x"), Value: mp(t0, 3)}}),
		o("Items"), o("PopItem"), o("PopItem"), o("Items"),
		// Add: every numeric family and width, overflow, floats, errors.
		o("Add", "n", 1), o("Add", "n", 41), o("Load", "n"), o("Add", "n", -100), o("Add", "n", 200),
		o("Add", "i64", int64(5)), o("Add", "i64", int64(math.MaxInt64-5)), o("Add", "i64", int64(1)), o("Load", "i64"),
		o("Add", "i64", int64(math.MinInt64)), o("Add", "i64", int64(math.MinInt64)), o("Load", "i64"),
		o("Add", "u8", uint8(250)), o("Add", "u8", 10), o("Load", "u8"), o("Add", "u8", int8(-100)), o("Add", "u8", -1000),
		o("Add", "u64", uint64(math.MaxUint64-1)), o("Add", "u64", 1), o("Add", "u64", 1), o("Load", "u64"),
		o("Add", "i8", int8(100)), o("Add", "i8", int8(100)), o("Add", "i8", int32(-1<<20)), o("Load", "i8"),
		o("Add", "f64", 1.5), o("Add", "f64", 2), o("Add", "f64", uint64(1<<60)), o("Load", "f64"),
		o("Add", "f32", float32(0.1)), o("Add", "f32", float32(0.2)), o("Add", "f32", 1e10), o("Load", "f32"),
		o("Add", "n", 0.5), o("Add", "b", 1), o("Add", "new", "x"), o("Has", "new"),
		o("Add", "neg", -40), o("Add", "neg", -100000), o("Add", "neg", int64(math.MinInt64)), o("Load", "neg"),
		o("Add", "big", uint64(math.MaxUint64)), o("Add", "big", int64(math.MinInt64)), o("Add", "big", int64(math.MinInt64)), o("Add", "big", int64(math.MinInt64)), o("Load", "big"),
		// Versions.
		o("LoadVersion", "missing"), o("StoreIfVersion", "missing", uint64(1), "no"), o("StoreIfVersion", "missing", uint64(0), "yes"),
		o("StoreIfVersion", "missing", uint64(0), "no"), o("Load", "missing"),
		o("Clear"), o("Len"), o("Items"), o("Keys"), o("PopItem"),
		o("ItemsFrom", uint64(0), 10, 100), o("LoadMany", []string{"a"}),
	}
}

// t0 encodes test fixtures outside a test.
var t0 = &testing.T{}

func valueOps() []op {
	return []op{
		o("Load"), o("Store", "x"), o("Load"), o("Swap", 5), o("CompareAndSwap", 4, 6), o("CompareAndSwap", 5, 6), o("Load"),
		o("Add", 10), o("Add", 1.5), o("Add", int64(-100)), o("Load"),
		o("Store", uint16(65535)), o("Add", 1), o("Load"), o("Add", -70000), o("Store", "s"), o("Add", 1),
	}
}

// versionOps checks that versions move together: LoadVersion's versions
// differ between engines (they count differently), so they are compared
// by use, not by value.
func testVersions(e *env) {
	t := e.t
	s := e.session(0)
	d := e.newObj(s, "Dict")
	d.must("Store", "k", 1)
	var vv builtin.VersionedValue
	require.NoError(t, msgpack.Unmarshal(d.must("LoadVersion", "k"), &vv))
	require.True(t, vv.OK)
	require.NotZero(t, vv.Version)
	assert.Equal(t, mp(t, true), d.must("StoreIfVersion", "k", vv.Version, 2))
	assert.Equal(t, mp(t, false), d.must("StoreIfVersion", "k", vv.Version, 3), "stale version")
	var vv2 builtin.VersionedValue
	require.NoError(t, msgpack.Unmarshal(d.must("LoadVersion", "k"), &vv2))
	assert.NotEqual(t, vv.Version, vv2.Version)
	assert.Equal(t, mp(t, 2), []byte(vv2.Value))

	v := e.newObj(s, "Value", 7)
	require.NoError(t, msgpack.Unmarshal(v.must("LoadVersion"), &vv))
	assert.Equal(t, uint64(1), vv.Version, "a new Value is at version 1, as builtin's")
	assert.Equal(t, mp(t, true), v.must("StoreIfVersion", vv.Version, 8))
	assert.Equal(t, mp(t, false), v.must("StoreIfVersion", vv.Version, 9))
	assert.Equal(t, mp(t, 8), v.must("Load"))
}

func testDictConformance(e *env) {
	s := e.session(0)
	recv, err := builtin.NewDict(context.Background(), nil)
	require.NoError(e.t, err)
	conform(e.t, recv, e.newObj(s, "Dict"), dictOps())
}

func testValueConformance(e *env) {
	s := e.session(0)
	recv, err := builtin.NewValue(context.Background(), mp(e.t, 3))
	require.NoError(e.t, err)
	conform(e.t, recv, e.newObj(s, "Value", 3), valueOps())
}

// testDictInit: NewDict's items, in order.
func testDictInit(e *env) {
	s := e.session(0)
	items := []builtin.Pair{{Key: mp(e.t, "b"), Value: mp(e.t, 1)}, {Key: mp(e.t, "a"), Value: mp(e.t, 2)}}
	d := e.newObj(s, "Dict", items)
	assert.Equal(e.t, mp(e.t, items), d.must("Items"))
}

func TestConformance(t *testing.T) {
	runSuite(t, []suiteCase{
		{name: "Dict", fn: testDictConformance},
		{name: "DictInit", fn: testDictInit},
		{name: "Value", fn: testValueConformance},
		{name: "Versions", fn: testVersions},
		{name: "DictLarge", fn: testDictLarge},
		{name: "ItemsFrom", fn: testItemsFrom},
	})
}

var _ = errors.Is

// testDictLarge: a dict larger than Lua's unpack limit lists and frees.
func testDictLarge(e *env) {
	t := e.t
	s := e.session(0)
	const n = 10000
	items := make([]builtin.Pair, n)
	for i := range items {
		items[i] = builtin.Pair{Key: mp(t, i), Value: mp(t, -i)}
	}
	d := e.newObj(s, "Dict")
	d.must("Update", items)
	var got []builtin.Pair
	require.NoError(t, msgpack.Unmarshal(d.must("Items"), &got))
	require.Len(t, got, n)
	assert.Equal(t, mp(t, n-1), []byte(got[n-1].Key), "in insertion order")
	require.NoError(t, s.Release(e.ctx(), d.id))
	assert.False(t, exists(t, s, d.id))
}

// testItemsFrom walks a Dict and a List a page at a time on builtin and
// on Redis, with page bounds by count and by bytes and with the dict
// changed between pages (an entry deleted, one deleted and stored again,
// one added), and requires the same pages: the same entries, the same
// Done. The cursors themselves may differ (they are opaque).
func testItemsFrom(e *env) {
	t := e.t
	s := e.session(0)
	type page struct {
		Items []builtin.Pair
		Next  uint64
		Done  bool
	}
	type lpage struct {
		Items []msgpack.RawMessage
		Next  int64
		Done  bool
	}
	for _, bounds := range [][2]int{{1, 1 << 20}, {3, 1 << 20}, {1000, 40}, {4, 30}, {100, 1}} {
		t.Run(fmt.Sprintf("%d items %d bytes", bounds[0], bounds[1]), func(t *testing.T) {
			recv, err := builtin.NewDict(context.Background(), nil)
			require.NoError(t, err)
			r := e.newObj(s, "Dict")
			both := func(method string, args ...any) {
				t.Helper()
				a := enc(t, args...)
				_, err := builtinCall(t, recv, method, a)
				require.NoError(t, err)
				_, err = r.s.Call(t.Context(), r.id, r.typeid, r.handle, method, a)
				require.NoError(t, err)
			}
			for i := range 12 {
				both("Store", fmt.Sprint("k", i), strings.Repeat("v", i*3))
			}
			var cw, cr uint64
			for step := 0; ; step++ {
				a := enc(t, cw, bounds[0], bounds[1])
				want, err := builtinCall(t, recv, "ItemsFrom", a)
				require.NoError(t, err)
				got, err := r.s.Call(t.Context(), r.id, r.typeid, r.handle, "ItemsFrom", enc(t, cr, bounds[0], bounds[1]))
				require.NoError(t, err)
				var pw, pr page
				require.NoError(t, msgpack.Unmarshal(want, &pw))
				require.NoError(t, msgpack.Unmarshal(got, &pr))
				require.Equal(t, pw.Items, pr.Items, "page %d", step)
				require.Equal(t, pw.Done, pr.Done, "page %d", step)
				if pw.Done {
					break
				}
				cw, cr = pw.Next, pr.Next
				switch step {
				case 0:
					both("Delete", "k5")
				case 1:
					both("Delete", "k1") // behind the walk: not seen again
					both("Store", "k1", "back")
				case 2:
					both("Store", "new", "n")
				}
				require.Less(t, step, 100, "the walk does not end")
			}
		})
	}
	recv, err := builtin.NewList(context.Background(), nil)
	require.NoError(t, err)
	var items []any
	for i := range 9 {
		items = append(items, strings.Repeat("x", i))
	}
	l := e.newObj(s, "List", items)
	_, err = builtinCall(t, recv, "Extend", enc(t, items))
	require.NoError(t, err)
	for _, bounds := range [][2]int{{1, 1 << 20}, {4, 1 << 20}, {100, 20}, {100, 1}} {
		var start int64
		for step := 0; ; step++ {
			a := enc(t, start, bounds[0], bounds[1])
			want, err := builtinCall(t, recv, "ItemsFrom", a)
			require.NoError(t, err)
			got := l.must("ItemsFrom", start, bounds[0], bounds[1])
			assert.Equal(t, want, got, "bounds %v page %d", bounds, step)
			var p lpage
			require.NoError(t, msgpack.Unmarshal(got, &p))
			if p.Done {
				break
			}
			start = p.Next
			require.Less(t, step, 100, "the walk does not end")
		}
	}
	conform(t, recv, l, []op{o("ItemsFrom", int64(-1), 1, 1), o("ItemsFrom", int64(100), 1, 1), o("ItemsFrom", int64(0), 0, 5), o("ItemsFrom", int64(0), 5, 0)})
}
