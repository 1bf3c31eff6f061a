package redisengine

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/goproc/manager/internal/builtin"
	"github.com/goproc/manager/internal/errs"
)

// Dict.Load is one HGET of the values hash, which checks no type, and the
// Lock's fast scripts see the queue through the 'w' field: these cases
// check what that must not change.

// testHGetWrongType: a Dict proxy forged onto an object of another type
// gets wrong_type from Load, even where that object has an entry under
// the key (a Namespace's attribute).
func testHGetWrongType(e *env) {
	t := e.t
	s := e.session(0)
	for _, o := range []*obj{
		e.newObj(s, "Namespace", map[string]msgpack.RawMessage{"k": mp(t, 1)}),
		e.newObj(s, "Value", "k"),
		e.newObj(s, "List", []any{"k"}),
		e.newObj(s, "Queue", 0),
		e.newObj(s, "Lock"),
	} {
		forged := &obj{t: t, s: s, id: o.id, typeid: "Dict", handle: 1}
		_, err := forged.call(e.ctx(), "Load", "k")
		require.ErrorIs(t, err, errs.WrongType, "a Dict Load on a %s", o.typeid)
	}
}

// testHGetFreed: a Load after the key's Delete finds nothing; one after
// the dict was freed says no_such_object.
func testHGetFreed(e *env) {
	t := e.t
	s := e.session(0)
	d := e.newObj(s, "Dict")
	d.must("Store", "k", 1)
	d.must("Store", "other", 2)
	assert.Equal(t, mp(t, []any{1, true}), d.must("Load", "k"))
	d.must("Delete", "k")
	assert.Equal(t, mp(t, []any{nil, false}), d.must("Load", "k"))
	require.NoError(t, s.Release(e.ctx(), d.id))
	_, err := d.call(e.ctx(), "Load", "other")
	require.ErrorIs(t, err, errs.NoSuchObject)
}

// testDictVersionsMove: every write of a key gives it a version none of
// the dict's entries had before, also after a Delete or a Clear; an
// overwrite keeps the key's place, a store after a Delete moves it last.
func testDictVersionsMove(e *env) {
	t := e.t
	s := e.session(0)
	d := e.newObj(s, "Dict")
	seen := map[uint64]string{}
	versionOf := func(key, what string) uint64 {
		t.Helper()
		var vv builtin.VersionedValue
		require.NoError(t, msgpack.Unmarshal(d.must("LoadVersion", key), &vv))
		require.True(t, vv.OK, what)
		prev, dup := seen[vv.Version]
		require.False(t, dup, "%s: version %d again (first after %s)", what, vv.Version, prev)
		seen[vv.Version] = what
		return vv.Version
	}
	version := func(what string) uint64 { t.Helper(); return versionOf("k", what) }
	d.must("Store", "first", 0)
	versionOf("first", "Store first")
	d.must("Store", "k", 1)
	version("Store")
	d.must("Store", "k", 2)
	version("Store again")
	d.must("Swap", "k", 3)
	version("Swap")
	d.must("CompareAndSwap", "k", 3, 4)
	version("CompareAndSwap")
	d.must("Add", "k", 1)
	v := version("Add")
	assert.Equal(t, mp(t, true), d.must("StoreIfVersion", "k", v, 6))
	v = version("StoreIfVersion")
	d.must("Store", "last", 0)
	versionOf("last", "Store last")
	d.must("Store", "k", 7)
	assert.Equal(t, mp(t, []string{"first", "k", "last"}), d.must("Keys"), "an overwrite keeps the key's place")
	assert.Equal(t, mp(t, false), d.must("StoreIfVersion", "k", v, 8), "the version moved")
	version("Store after StoreIfVersion")
	d.must("Delete", "k")
	d.must("Store", "k", 9)
	version("Store after Delete")
	assert.Equal(t, mp(t, []string{"first", "last", "k"}), d.must("Keys"), "stored again after a Delete: last")
	d.must("Clear")
	d.must("Update", []builtin.Pair{{Key: mp(t, "k"), Value: mp(t, 10)}})
	version("Update after Clear")
	assert.Equal(t, mp(t, []any{10, true}), d.must("Load", "k"))
	assert.Equal(t, mp(t, 1), d.must("Len"))
	d.must("Store", "first", 1)
	versionOf("first", "Store after Clear")
	// An empty argument is no msgpack value: refused, the dict intact.
	for _, m := range []string{"Load", "Store", "Has"} {
		args := []msgpack.RawMessage{{}, mp(t, 1)}[:map[string]int{"Load": 1, "Store": 2, "Has": 1}[m]]
		_, err := s.Call(e.ctx(), d.id, "Dict", 1, m, args)
		require.ErrorIs(t, err, errs.BadArguments, m)
	}
	d.must("Store", "k", 11)
	version("Store after the refused calls")
	assert.Equal(t, mp(t, 2), d.must("Len"))
}

// testLockNotifyQueues: a Condition on a Lock queues the waiter it
// notifies for the lock, so the holder's Release hands the lock on: the
// Lock's fast Release must see that queue, or a third session would find
// the lock free.
func testLockNotifyQueues(e *env) {
	t := e.t
	a, b, c := e.session(0), e.session(0), e.session(0)
	la := e.newObj(a, "Lock")
	ca := e.newObj(a, "Condition", la.id)
	lb, cb, lc := la.as(b, 1), ca.as(b, 1), la.as(c, 1)
	la.must("Acquire")
	wait := goCall(e.ctx(), ca, "Wait")
	waitWaiters(t, ca, "wb", 1)
	lb.must("Acquire")
	cb.must("Notify", 1)
	lb.must("Release")
	assert.Equal(t, mp(t, false), lc.must("TryAcquire"), "handed on to the notified waiter")
	require.NoError(t, recv(t, wait).err)
	la.must("Release")
	queued, err := a.rdb.HExists(e.ctx(), a.prefix(la.id)+"m", "w").Result()
	require.NoError(t, err)
	assert.False(t, queued, "a dispatch that found the queue empty cleared 'w'")
	assert.Equal(t, mp(t, true), lc.must("TryAcquire"))
	lc.must("Release")
}

func TestFastLayouts(t *testing.T) {
	runSuite(t, []suiteCase{
		{name: "HGetWrongType", fn: testHGetWrongType},
		{name: "HGetFreed", fn: testHGetFreed},
		{name: "DictVersionsMove", fn: testDictVersionsMove},
		{name: "LockNotifyQueues", fn: testLockNotifyQueues},
	})
}
