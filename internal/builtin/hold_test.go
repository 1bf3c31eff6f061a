package builtin

import (
	"context"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/goproc/manager/internal/callctx"
	"github.com/goproc/manager/internal/errs"
)

// direct is the context of a method called directly, as most tests here
// do: it carries no callctx.Holder, so Retain and Release do nothing.
var direct = context.Background()

// heldCounter is a callctx.Holder that counts, per encoded value, how
// many times the container holds it, and notes any Release of a value
// not held. Numbers are not counted: they carry no proxy, and a numeric
// Add replaces one without holding or releasing it.
type heldCounter struct {
	mu        sync.Mutex
	n         map[string]int
	overdrawn []string
}

func (h *heldCounter) Retain(raw []byte) {
	if _, err := numericDecode(raw); err == nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.n[string(raw)]++
}

func (h *heldCounter) Release(raw []byte) {
	if _, err := numericDecode(raw); err == nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.n[string(raw)] == 0 {
		h.overdrawn = append(h.overdrawn, string(raw))
		return
	}
	if h.n[string(raw)]--; h.n[string(raw)] == 0 {
		delete(h.n, string(raw))
	}
}

// newHeldCounter returns a counter and a context carrying it, as the
// server's per-call context carries its holder.
func newHeldCounter(tb testing.TB) (*heldCounter, context.Context) {
	tb.Helper()
	h := &heldCounter{n: map[string]int{}}
	return h, callctx.WithHolder(syncTestCtx(tb), h)
}

// assertHolds checks that h holds exactly the encoded values in want (a
// multiset) and was never asked to release what it did not hold.
func (h *heldCounter) assertHolds(tb testing.TB, want []msgpack.RawMessage, step string) {
	tb.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	wantN := map[string]int{}
	for _, w := range want {
		if _, err := numericDecode(w); err != nil {
			wantN[string(w)]++
		}
	}
	assert.Equal(tb, wantN, h.n, "after %s", step)
	assert.Empty(tb, h.overdrawn, "released without being held, after %s", step)
}

// holdStep is one operation on a container, after which the container
// must hold exactly what it contains.
type holdStep struct {
	name string
	do   func(ctx context.Context)
}

// runHoldSteps runs steps with a counting holder and checks after each
// that what is held is what contents returns.
func runHoldSteps(t *testing.T, build func(ctx context.Context), steps []holdStep, contents func() []msgpack.RawMessage) {
	t.Helper()
	h, ctx := newHeldCounter(t)
	build(ctx)
	h.assertHolds(t, contents(), "construction")
	for _, st := range steps {
		st.do(ctx)
		h.assertHolds(t, contents(), st.name)
	}
}

func TestDictHoldsWhatItContains(t *testing.T) {
	e := func(v any) msgpack.RawMessage { return containerEncode(t, v) }
	var d *Dict
	contents := func() []msgpack.RawMessage { return append(d.Keys(), d.Values()...) }
	runHoldSteps(t, func(ctx context.Context) {
		var err error
		d, err = NewDict(ctx, []Pair{{Key: e("a"), Value: e("A1")}, {Key: e("b"), Value: e("B")}, {Key: e("a"), Value: e("A2")}})
		require.NoError(t, err)
	}, []holdStep{
		{"Store new", func(ctx context.Context) { d.Store(ctx, e("c"), e("C")) }},
		{"Store over", func(ctx context.Context) { d.Store(ctx, e("c"), e("C2")) }},
		{"LoadOrStore loads", func(ctx context.Context) { d.LoadOrStore(ctx, e("c"), e("X")) }},
		{"LoadOrStore stores", func(ctx context.Context) { d.LoadOrStore(ctx, e("d"), e("D")) }},
		{"SetDefault stores", func(ctx context.Context) { d.SetDefault(ctx, e("e"), e("E")) }},
		{"Swap", func(ctx context.Context) { d.Swap(ctx, e("e"), e("E2")) }},
		{"Swap new", func(ctx context.Context) { d.Swap(ctx, e("f"), e("F")) }},
		{"CompareAndSwap fails", func(ctx context.Context) { d.CompareAndSwap(ctx, e("f"), e("nope"), e("X")) }},
		{"CompareAndSwap", func(ctx context.Context) { d.CompareAndSwap(ctx, e("f"), e("F"), e("F2")) }},
		{"CompareAndDelete fails", func(ctx context.Context) { d.CompareAndDelete(ctx, e("f"), e("nope")) }},
		{"CompareAndDelete", func(ctx context.Context) { d.CompareAndDelete(ctx, e("f"), e("F2")) }},
		{"LoadAndDelete", func(ctx context.Context) { d.LoadAndDelete(ctx, e("e")) }},
		{"Pop absent", func(ctx context.Context) { d.Pop(ctx, e("zz")) }},
		{"Delete", func(ctx context.Context) { d.Delete(ctx, e("d")) }},
		{"Update", func(ctx context.Context) {
			d.Update(ctx, []Pair{{Key: e("g"), Value: e("G")}, {Key: e("a"), Value: e("A3")}, {Key: e("g"), Value: e("G2")}})
		}},
		{"PopItem", func(ctx context.Context) { _, err := d.PopItem(ctx); require.NoError(t, err) }},
		{"StoreIfVersion stale", func(ctx context.Context) { d.StoreIfVersion(ctx, e("a"), 1, e("X")) }},
		{"StoreIfVersion", func(ctx context.Context) {
			require.True(t, d.StoreIfVersion(ctx, e("a"), d.LoadVersion(e("a")).Version, e("A4")))
		}},
		{"StoreIfVersion absent", func(ctx context.Context) { require.True(t, d.StoreIfVersion(ctx, e("h"), 0, e("H"))) }},
		{"Clear", func(ctx context.Context) { d.Clear(ctx) }},
		{"Store after Clear", func(ctx context.Context) { d.Store(ctx, e("a"), e("A")) }},
	}, contents)
}

func TestDictAddHoldsOnlyANewKey(t *testing.T) {
	h, ctx := newHeldCounter(t)
	d, err := NewDict(ctx, nil)
	require.NoError(t, err)
	k := containerEncode(t, "n")
	_, err = d.Add(ctx, k, containerEncode(t, int64(1)))
	require.NoError(t, err)
	_, err = d.Add(ctx, k, containerEncode(t, int64(2)))
	require.NoError(t, err)
	h.assertHolds(t, []msgpack.RawMessage{k}, "Add: a number replaces a number, and only the new key is held")
	d.Delete(ctx, k)
	h.assertHolds(t, nil, "Delete")
}

func TestNamespaceHoldsWhatItContains(t *testing.T) {
	e := func(v any) msgpack.RawMessage { return containerEncode(t, v) }
	var n *Namespace
	contents := func() []msgpack.RawMessage {
		var out []msgpack.RawMessage
		for _, v := range n.Items() {
			out = append(out, v)
		}
		return out
	}
	runHoldSteps(t, func(ctx context.Context) {
		var err error
		n, err = NewNamespace(ctx, map[string]msgpack.RawMessage{"a": e("A"), "b": e("B")})
		require.NoError(t, err)
	}, []holdStep{
		{"Set new", func(ctx context.Context) { n.Set(ctx, "c", e("C")) }},
		{"Set over", func(ctx context.Context) { n.Set(ctx, "c", e("C2")) }},
		{"Delete", func(ctx context.Context) { n.Delete(ctx, "a") }},
		{"Delete absent", func(ctx context.Context) { n.Delete(ctx, "zz") }},
		{"StoreIfVersion stale", func(ctx context.Context) { n.StoreIfVersion(ctx, "b", 999, e("X")) }},
		{"StoreIfVersion", func(ctx context.Context) {
			require.True(t, n.StoreIfVersion(ctx, "b", n.LoadVersion("b").Version, e("B2")))
		}},
	}, contents)
}

func TestValueHoldsWhatItContains(t *testing.T) {
	e := func(v any) msgpack.RawMessage { return containerEncode(t, v) }
	var v *Value
	contents := func() []msgpack.RawMessage { return []msgpack.RawMessage{v.Load()} }
	runHoldSteps(t, func(ctx context.Context) {
		var err error
		v, err = NewValue(ctx, e("one"))
		require.NoError(t, err)
	}, []holdStep{
		{"Store", func(ctx context.Context) { v.Store(ctx, e("two")) }},
		{"Swap", func(ctx context.Context) { v.Swap(ctx, e("three")) }},
		{"CompareAndSwap fails", func(ctx context.Context) { v.CompareAndSwap(ctx, e("nope"), e("X")) }},
		{"CompareAndSwap", func(ctx context.Context) { v.CompareAndSwap(ctx, e("three"), e("four")) }},
		{"StoreIfVersion stale", func(ctx context.Context) { v.StoreIfVersion(ctx, 1, e("X")) }},
		{"StoreIfVersion", func(ctx context.Context) {
			require.True(t, v.StoreIfVersion(ctx, v.LoadVersion().Version, e("five")))
		}},
	}, contents)
}

func TestListHoldsWhatItContains(t *testing.T) {
	e := func(v any) msgpack.RawMessage { return containerEncode(t, v) }
	es := func(vs ...any) []msgpack.RawMessage { return containerEncodeAll(t, vs...) }
	i64 := func(n int64) *int64 { return &n }
	var l *List
	runHoldSteps(t, func(ctx context.Context) {
		var err error
		l, err = NewList(ctx, es("a", "b"))
		require.NoError(t, err)
	}, []holdStep{
		{"Append", func(ctx context.Context) { l.Append(ctx, e("c")) }},
		{"Extend", func(ctx context.Context) { l.Extend(ctx, es("d", "e", "a")) }},
		{"Insert", func(ctx context.Context) { l.Insert(ctx, 1, e("f")) }},
		{"Set", func(ctx context.Context) { require.NoError(t, l.Set(ctx, -1, e("g"))) }},
		{"Set out of range", func(ctx context.Context) { require.Error(t, l.Set(ctx, 99, e("X"))) }},
		{"Pop", func(ctx context.Context) { _, err := l.Pop(ctx, 0); require.NoError(t, err) }},
		{"Remove", func(ctx context.Context) { require.NoError(t, l.Remove(ctx, e("d"))) }},
		{"Remove absent", func(ctx context.Context) { require.Error(t, l.Remove(ctx, e("zz"))) }},
		{"Delete", func(ctx context.Context) { require.NoError(t, l.Delete(ctx, 0)) }},
		{"Reverse", func(ctx context.Context) { l.Reverse() }},
		{"Sort", func(ctx context.Context) { require.NoError(t, l.Sort(false)) }},
		{"SetSlice grows", func(ctx context.Context) { require.NoError(t, l.SetSlice(ctx, i64(0), i64(1), nil, es("h", "i", "j"))) }},
		{"SetSlice shrinks", func(ctx context.Context) { require.NoError(t, l.SetSlice(ctx, i64(1), i64(4), nil, es("k"))) }},
		{"SetSlice extended", func(ctx context.Context) { require.NoError(t, l.SetSlice(ctx, nil, nil, i64(2), es("l", "m"))) }},
		{"SetSlice wrong size", func(ctx context.Context) { require.Error(t, l.SetSlice(ctx, nil, nil, i64(2), es("X"))) }},
		{"DeleteSlice", func(ctx context.Context) { require.NoError(t, l.DeleteSlice(ctx, nil, nil, i64(2))) }},
		{"StoreIfVersion stale", func(ctx context.Context) { l.StoreIfVersion(ctx, 1, es("X")) }},
		{"StoreIfVersion", func(ctx context.Context) {
			require.True(t, l.StoreIfVersion(ctx, l.LoadVersion().Version, es("o", "p", "o")))
		}},
		{"Clear", func(ctx context.Context) { l.Clear(ctx) }},
	}, func() []msgpack.RawMessage { return l.All() })
}

func TestArrayHoldsWhatItContains(t *testing.T) {
	e := func(v any) msgpack.RawMessage { return containerEncode(t, v) }
	es := func(vs ...any) []msgpack.RawMessage { return containerEncodeAll(t, vs...) }
	i64 := func(n int64) *int64 { return &n }
	var a *Array
	runHoldSteps(t, func(ctx context.Context) {
		var err error
		a, err = NewArray(ctx, es("a", "b", "c"))
		require.NoError(t, err)
	}, []holdStep{
		{"Set", func(ctx context.Context) { require.NoError(t, a.Set(ctx, 1, e("d"))) }},
		{"SetSlice", func(ctx context.Context) { require.NoError(t, a.SetSlice(ctx, i64(0), i64(2), nil, es("e", "f"))) }},
		{"SetSlice wrong size", func(ctx context.Context) { require.Error(t, a.SetSlice(ctx, nil, nil, nil, es("X"))) }},
		{"StoreIfVersion stale", func(ctx context.Context) {
			ok, err := a.StoreIfVersion(ctx, 1, es("X", "Y", "Z"))
			require.NoError(t, err)
			require.False(t, ok)
		}},
		{"StoreIfVersion", func(ctx context.Context) {
			ok, err := a.StoreIfVersion(ctx, a.LoadVersion().Version, es("g", "h", "g"))
			require.NoError(t, err)
			require.True(t, ok)
		}},
	}, func() []msgpack.RawMessage { return a.All() })
}

// TestQueueHoldsItemsUntilHandedOut: a Queue holds an item from its Put
// until a Get returns it; a withdrawn Put holds nothing.
func TestQueueHoldsItemsUntilHandedOut(t *testing.T) {
	h, ctx := newHeldCounter(t)
	q, err := NewQueue(1)
	require.NoError(t, err)
	one, two := containerEncode(t, "one"), containerEncode(t, "two")

	require.NoError(t, q.Put(ctx, one))
	h.assertHolds(t, []msgpack.RawMessage{one}, "Put")
	require.ErrorIs(t, q.TryPut(ctx, two), errs.Full)
	h.assertHolds(t, []msgpack.RawMessage{one}, "TryPut on a full queue")

	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	require.ErrorIs(t, q.Put(cancelled, two), context.Canceled)
	h.assertHolds(t, []msgpack.RawMessage{one}, "withdrawn Put")

	got, err := q.Get(ctx)
	require.NoError(t, err)
	assert.Equal(t, one, got)
	h.assertHolds(t, nil, "Get")

	require.NoError(t, q.TryPut(ctx, two))
	_, err = q.TryGet(ctx)
	require.NoError(t, err)
	h.assertHolds(t, nil, "TryPut then TryGet")

	// Handed straight from Put to a waiting Get (queueGetAsync returns
	// once the Get waits).
	got2 := queueGetAsync(t, ctx, q)
	require.NoError(t, q.Put(ctx, two))
	assert.Equal(t, two, syncRecv(t, ctx, got2))
	h.assertHolds(t, nil, "Put to a waiting Get")
}

// TestJoinableQueueHoldsItemsUntilTaskDone: an item got but not
// acknowledged may be delivered again, so it stays held until TaskDone.
func TestJoinableQueueHoldsItemsUntilTaskDone(t *testing.T) {
	h, ctx := newHeldCounter(t)
	q, err := NewJoinableQueue(0)
	require.NoError(t, err)
	one := containerEncode(t, "one")
	alice := syncAs(ctx, 1, 0)

	require.NoError(t, q.Put(ctx, one))
	_, err = q.Get(alice)
	require.NoError(t, err)
	h.assertHolds(t, []msgpack.RawMessage{one}, "Get without TaskDone")

	q.ReleaseSession(syncSession(1))
	h.assertHolds(t, []msgpack.RawMessage{one}, "requeued by the getter's end")

	_, err = q.Get(alice)
	require.NoError(t, err)
	require.NoError(t, q.TaskDone(alice))
	h.assertHolds(t, nil, "TaskDone")
}
