package redisengine

import (
	"context"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/goproc/manager/internal/builtin"
)

func p64(i int64) *int64 { return &i }

func raws(t testing.TB, vs ...any) []msgpack.RawMessage { return enc(t, vs...) }

func listOps(t testing.TB) []op {
	return []op{
		o("Len"), o("All"), o("Pop", -1), o("Get", 0), o("Append", 1), o("Extend", raws(t, 2, 3, 4, 5, 6)),
		o("Insert", 0, "first"), o("Insert", -1, "before last"), o("Insert", 100, "end"), o("Insert", -100, "start"), o("Insert", 3, "mid"),
		o("All"), o("Get", -1), o("Get", 100), o("Set", -2, "x"), o("Set", 50, "y"), o("Delete", 1), o("Delete", -50),
		o("Pop", 2), o("Pop", -1), o("Pop", 0), o("Pop", 99), o("All"),
		o("Remove", 4), o("Remove", 404), o("Index", 5, nil, nil), o("Index", 5, p64(-1), nil), o("Index", 404, nil, nil),
		o("Count", 5), o("Contains", 5), o("Contains", 404), o("Reverse"), o("All"),
		o("GetSlice", nil, nil, nil), o("GetSlice", p64(1), p64(-1), nil), o("GetSlice", nil, nil, p64(-1)), o("GetSlice", nil, nil, p64(2)),
		o("GetSlice", p64(-100), p64(100), p64(3)), o("GetSlice", p64(5), p64(1), p64(-2)), o("GetSlice", nil, nil, p64(0)),
		o("GetSlice", p64(math.MaxInt64), p64(math.MinInt64), p64(-1)),
		o("SetSlice", p64(1), p64(2), nil, raws(t, "a", "b", "c")), o("All"),
		o("SetSlice", nil, nil, p64(2), raws(t, 1)), o("SetSlice", nil, nil, p64(-3), raws(t, 7, 8, 9)), o("All"),
		o("SetSlice", p64(100), nil, nil, raws(t, "tail")), o("SetSlice", p64(3), p64(1), nil, raws(t, "in")), o("All"),
		o("DeleteSlice", nil, nil, p64(3)), o("All"), o("DeleteSlice", p64(5), p64(1), nil), o("DeleteSlice", nil, nil, p64(0)),
		o("LoadVersion"), o("StoreIfVersion", uint64(99), raws(t, 1)), o("Clear"), o("All"), o("Sort", false),
		o("Extend", raws(t, 3, 1.5, -2, true, uint64(math.MaxUint64), int64(math.MinInt64), 0, math.NaN(), 1, false)),
		o("Sort", false), o("All"), o("Sort", true), o("All"),
		o("Clear"), o("Extend", raws(t, "b", "a", "é", "ab", "")), o("Sort", false), o("All"), o("Append", 1), o("Sort", false),
		o("Append", []int{1}), o("Sort", true), o("LoadVersion"),
	}
}

func testListConformance(e *env) {
	s := e.session(0)
	l, err := builtin.NewList(context.Background(), raws(e.t, "x"))
	require.NoError(e.t, err)
	conform(e.t, l, e.newObj(s, "List", raws(e.t, "x")), listOps(e.t))
}

func testArrayConformance(e *env) {
	s := e.session(0)
	init := raws(e.t, 1, 2.5, uint8(3), "s")
	a, err := builtin.NewArray(context.Background(), init)
	require.NoError(e.t, err)
	conform(e.t, a, e.newObj(s, "Array", init), []op{
		o("Len"), o("All"), o("Get", -1), o("Get", 4), o("Set", 0, 10), o("Set", -5, 0), o("Add", 0, 5), o("Add", 1, 1),
		o("Add", 2, 253), o("Add", 3, 1), o("Add", 9, 1), o("GetSlice", nil, nil, p64(-1)),
		o("SetSlice", nil, p64(2), nil, raws(e.t, 0, 0)), o("SetSlice", nil, p64(2), nil, raws(e.t, 0)), o("All"),
		o("LoadVersion"), o("StoreIfVersion", uint64(8), raws(e.t, 1)), o("StoreIfVersion", uint64(1), raws(e.t, 1, 2, 3, 4)),
		o("StoreIfVersion", uint64(8), raws(e.t, 1, 2, 3, 4)), o("All"), o("LoadVersion"),
	})
}

func testNamespaceConformance(e *env) {
	t := e.t
	s := e.session(0)
	attrs := map[string]msgpack.RawMessage{"z": mp(t, 1), "a": mp(t, "x")}
	n, err := builtin.NewNamespace(context.Background(), attrs)
	require.NoError(t, err)
	r := e.newObj(s, "Namespace", attrs)
	conform(t, n, r, []op{
		o("Names"), o("Get", "a"), o("Get", "b"), o("Set", "b", 2), o("Has", "b"), o("Delete", "b"), o("Delete", "b"),
		o("Has", "b"), o("Add", "z", 41), o("Add", "new", 1.5), o("LoadVersion", "nope"), o("StoreIfVersion", "q", uint64(0), 1), o("Names"),
	})
	var want, got map[string]any
	want1, err := builtinCall(t, n, "Items", nil)
	require.NoError(t, err)
	require.NoError(t, msgpack.Unmarshal(want1, &want))
	require.NoError(t, msgpack.Unmarshal(r.must("Items"), &got))
	assert.Equal(t, want, got)
}

func TestList(t *testing.T) {
	runSuite(t, []suiteCase{
		{name: "List", fn: testListConformance},
		{name: "Array", fn: testArrayConformance},
		{name: "Namespace", fn: testNamespaceConformance},
	})
}
