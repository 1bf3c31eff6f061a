package server

import (
	"reflect"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/goproc/manager/internal/builtin"
	"github.com/goproc/manager/internal/callctx"
)

// testObject returns the type and value of an object to put in a table:
// a Dict, whatever it stands for in the test.
func testObject(tb testing.TB) (*typeInfo, reflect.Value) {
	tb.Helper()
	typ, ok := lookupType(builtin.TypeDict)
	require.True(tb, ok)
	return typ, reflect.ValueOf(&builtin.Dict{})
}

// newTestTable returns an empty table and a function adding an object
// with one reference from session s.
func newTestTable(tb testing.TB) (*objectTable, func(s callctx.SessionID) uint64) {
	tb.Helper()
	typ, recv := testObject(tb)
	t := newObjectTable()
	return t, func(s callctx.SessionID) uint64 {
		o := t.add(typ, recv)
		t.incref(o.id, s)
		return o.id
	}
}

func TestObjectTableHeldObjectOutlivesItsSession(t *testing.T) {
	tab, add := newTestTable(t)
	alice := callctx.SessionID{1}
	c, x := add(alice), add(alice)
	tab.hold(c, []uint64{x})
	tab.endSession(callctx.SessionID{9}) // someone else's end changes nothing
	tab.decref(x, alice)
	assert.Equal(t, 2, tab.len(), "x is held by c")

	tab.unhold(c, []uint64{x})
	assert.Equal(t, 1, tab.len(), "dropped by c: freed")
	tab.unhold(c, []uint64{x})
	assert.Equal(t, 1, tab.len(), "a second release of one reference is ignored")
}

func TestObjectTableCascade(t *testing.T) {
	tab, add := newTestTable(t)
	alice := callctx.SessionID{1}
	// A chain far longer than any recursion should go: c0 holds c1
	// holds … holds c999, plus a fan-out at the end.
	const n = 1000
	ids := make([]uint64, n)
	for i := range ids {
		ids[i] = add(alice)
	}
	for i := 0; i+1 < n; i++ {
		tab.hold(ids[i], []uint64{ids[i+1]})
	}
	leafA, leafB := add(alice), add(alice)
	tab.hold(ids[n-1], []uint64{leafA, leafB, leafA})
	shared := add(alice)
	tab.hold(ids[0], []uint64{shared})
	for _, id := range append(ids[1:], leafA, leafB) {
		tab.decref(id, alice)
	}
	assert.Equal(t, n+3, tab.len())

	tab.endSession(alice)
	assert.Equal(t, 0, tab.len(), "the session's end freed c0, and c0 everything it held")
	assert.Empty(t, tab.held, "no container's holdings are left behind")
}

func TestObjectTableCycleLives(t *testing.T) {
	tab, add := newTestTable(t)
	alice := callctx.SessionID{1}
	a, b := add(alice), add(alice)
	tab.hold(a, []uint64{b})
	tab.hold(b, []uint64{a})
	self := add(alice)
	tab.hold(self, []uint64{self})
	tab.endSession(alice)
	assert.Equal(t, 3, tab.len(), "cycles are not collected: they live until the server goes")

	tab.unhold(self, []uint64{self})
	assert.Equal(t, 2, tab.len(), "breaking a cycle frees it")
}

func TestObjectTableHoldByFreedContainerIsIgnored(t *testing.T) {
	tab, add := newTestTable(t)
	alice := callctx.SessionID{1}
	c, x := add(alice), add(alice)
	tab.decref(c, alice) // c freed while one of its calls still runs
	tab.hold(c, []uint64{x})
	tab.decref(x, alice)
	assert.Equal(t, 0, tab.len(), "a freed container holds nothing, so x is not leaked")
	assert.Empty(t, tab.held)
}

func TestObjectTableConstruction(t *testing.T) {
	typ, recv := testObject(t)
	tab, add := newTestTable(t)
	alice := callctx.SessionID{1}
	x := add(alice)

	// A constructor that fails: what it held is given back.
	failed := tab.reserve()
	tab.hold(failed, []uint64{x})
	tab.abandon(failed)
	// A named object that lost the race to another with its name.
	winner, existed := tab.addNamed(tab.reserve(), typ, recv, "n")
	require.False(t, existed)
	loser := tab.reserve()
	tab.hold(loser, []uint64{x})
	got, existed := tab.addNamed(loser, typ, recv, "n")
	require.True(t, existed)
	assert.Equal(t, winner, got)
	// One that is built: it holds x from its constructor on.
	built := tab.reserve()
	tab.hold(built, []uint64{x})
	o := tab.addReserved(built, typ, recv)
	tab.incref(o.id, alice)

	tab.decref(x, alice)
	assert.Equal(t, 3, tab.len(), "x (held by the built object), the built one, the named one")
	tab.decref(o.id, alice)
	assert.Equal(t, 1, tab.len(), "the built object and x are freed; the named one stays")
	assert.Empty(t, tab.building)
	assert.Empty(t, tab.held)
}
