package redisengine

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/goproc/manager/internal/errs"
)

// The fast scripts (family.fast) handle the common state of an object
// and leave every other to the family's script: these cases put objects
// in the states a fast script must not handle and check that the call
// still does what the family's script does.

// testFastErrors: a fast script's wrong-type and freed-object errors are
// the family script's, word for word.
func testFastErrors(e *env) {
	t := e.t
	s := e.session(0)
	d := e.newObj(s, "Dict")
	l := e.newObj(s, "Lock")
	jq := e.newObj(s, "JoinableQueue", 0)
	// body drops the "Type.Method: " that names the call.
	body := func(err error) string {
		t.Helper()
		require.Error(t, err)
		_, b, ok := strings.Cut(err.Error(), ": ")
		require.True(t, ok, err.Error())
		return b
	}
	for _, c := range []struct {
		id           uint64
		typeid       string
		fast, family string // a fast method, a method of the family script
	}{
		{d.id, "Lock", "Acquire", "Locked"},
		{d.id, "Lock", "Release", "Locked"},
		{d.id, "Lock", "TryAcquire", "Locked"},
		{l.id, "Queue", "Put", "TryPut"},
		{l.id, "Queue", "Get", "Len"},
		{jq.id, "Queue", "TryGet", "Len"},
		{l.id, "Dict", "Store", "Len"},
		{l.id, "Dict", "Load", "Len"},
	} {
		ob := &obj{t: t, s: s, id: c.id, typeid: c.typeid, handle: 1}
		args := map[string][]any{"Put": {"x"}, "Store": {"k", 1}, "Load": {"k"}, "TryPut": {"x"}}
		_, ferr := ob.call(e.ctx(), c.fast, args[c.fast]...)
		require.ErrorIs(t, ferr, errs.WrongType, "%s.%s", c.typeid, c.fast)
		_, gerr := ob.call(e.ctx(), c.family, args[c.family]...)
		assert.Equal(t, body(gerr), body(ferr), "%s.%s", c.typeid, c.fast)
	}
	// Freed: the object's keys are gone.
	gone := e.newObj(s, "Lock")
	require.NoError(t, s.Release(e.ctx(), gone.id))
	_, ferr := gone.call(e.ctx(), "Acquire")
	require.ErrorIs(t, ferr, errs.NoSuchObject)
	_, gerr := gone.call(e.ctx(), "Locked")
	assert.Equal(t, body(gerr), body(ferr))
}

// testFastLockWaiter: an Acquire of a free lock that a call waits for
// does not jump the queue. A free lock with a live waiter is a state the
// engine passes through only inside a script (a Release hands the lock
// on at once); the test makes it by taking the holder's hold away behind
// the engine's back, so that the next call's dispatch must hand it on.
func testFastLockWaiter(e *env) {
	t := e.t
	a, b, c := e.session(liveLease), e.session(liveLease), e.session(liveLease)
	la := e.newObj(a, "Lock")
	lb, lc := la.as(b, 1), la.as(c, 1)
	la.must("Acquire")
	got := goCall(e.ctx(), lb, "Acquire")
	waitWaiters(t, la, "wa", 1)
	require.NoError(t, e.srv.rdb.HDel(e.ctx(), a.prefix(la.id)+"m", "h", "c", "tk").Err())
	assert.Equal(t, mp(t, false), lc.must("TryAcquire"), "the waiter comes first")
	require.NoError(t, recv(t, got).err)
	assert.NotZero(t, token(t, lb), "the waiter holds the lock")
	ch := goCall(e.ctx(), lc, "Acquire")
	waitWaiters(t, la, "wa", 1)
	lb.must("Release") // a release with a waiter hands the lock on
	require.NoError(t, recv(t, ch).err)
	assert.NotZero(t, token(t, lc))
	lc.must("Release")
	assert.Equal(t, mp(t, false), lc.must("Locked"))
}

// testFastLockAbandoned: once a dead holder's hold was reaped (here by
// Locked), the lock is free, and the next Acquire (and only that one)
// says it was abandoned.
func testFastLockAbandoned(e *env) {
	t := e.t
	const lease = 300 * time.Millisecond
	dead, live := e.session(lease), e.session(liveLease)
	ld := e.newObj(dead, "Lock")
	ll := ld.as(live, 1)
	ld.must("Acquire")
	dead.stopHeartbeat()
	waitGone(t, live, live.prefix(ld.id)+"l:"+dead.sid)
	assert.Equal(t, mp(t, false), ll.must("Locked"), "reaped")
	_, err := ll.call(e.ctx(), "Acquire")
	require.ErrorIs(t, err, errs.Abandoned)
	ll.must("Release")
	ll.must("Acquire")
	ll.must("Release")
}

// testFastQueueJoinable: a JoinableQueue's Put and Get keep count of the
// unfinished items (no fast script takes them).
func testFastQueueJoinable(e *env) {
	t := e.t
	s := e.session(0)
	q := e.newObj(s, "JoinableQueue", 0)
	q.must("Put", "a")
	assert.Equal(t, mp(t, "a"), q.must("Get"))
	join := goCall(e.ctx(), q, "Join")
	waitWaiters(t, q, "wc", 1)
	q.must("TaskDone")
	require.NoError(t, recv(t, join).err)
	_, err := q.call(e.ctx(), "TaskDone")
	require.ErrorIs(t, err, errs.BadArguments)
}

// testFastQueueStates: Put and Get in the states their fast scripts
// leave to the family's script: bounded and full, shut down, empty.
func testFastQueueStates(e *env) {
	t := e.t
	s := e.session(0)
	q := e.newObj(s, "Queue", 1)
	q.must("Put", "a")
	_, err := q.call(e.ctx(), "TryPut", "b")
	require.ErrorIs(t, err, errs.Full)
	put := goCall(e.ctx(), q, "Put", "b")
	waitWaiters(t, q, "wb", 1)
	assert.Equal(t, mp(t, "a"), q.must("TryGet"), "the waiting Put comes in")
	require.NoError(t, recv(t, put).err)
	assert.Equal(t, mp(t, 1), q.must("Len"))
	assert.Equal(t, mp(t, "b"), q.must("Get"))
	_, err = q.call(e.ctx(), "TryGet")
	require.ErrorIs(t, err, errs.Empty)
	q.must("Put", "c")
	q.must("Shutdown", false)
	_, err = q.call(e.ctx(), "Put", "d")
	require.ErrorIs(t, err, errs.ShutDown)
	assert.Equal(t, mp(t, "c"), q.must("Get"), "drained after shutdown")
	_, err = q.call(e.ctx(), "Get")
	require.ErrorIs(t, err, errs.ShutDown)
}

// testFastBatchOrder: in a batch, calls keep their order even when a
// fast script would have left one to the family's script: a TryGet of an
// empty queue before a Put finds it empty.
func testFastBatchOrder(e *env) {
	t := e.t
	s := e.session(0)
	q := e.newObj(s, "Queue", 0)
	l := e.newObj(s, "Lock")
	calls := []*BatchCall{
		{ID: q.id, TypeID: "Queue", Handle: 1, Method: "TryGet"},
		{ID: q.id, TypeID: "Queue", Handle: 1, Method: "Put", Args: enc(t, "x")},
		{ID: l.id, TypeID: "Lock", Handle: 1, Method: "Release"},
		{ID: l.id, TypeID: "Lock", Handle: 1, Method: "TryAcquire"},
	}
	s.CallBatch(e.ctx(), calls)
	require.ErrorIs(t, calls[0].Err, errs.Empty)
	require.NoError(t, calls[1].Err)
	require.ErrorIs(t, calls[2].Err, errs.NotHeld)
	require.NoError(t, calls[3].Err)
	assert.Equal(t, mp(t, true), calls[3].Result)
	assert.Equal(t, mp(t, "x"), q.must("TryGet"))
}

func TestFastPaths(t *testing.T) {
	runSuite(t, []suiteCase{
		{name: "Errors", fn: testFastErrors},
		{name: "LockWaiter", fn: testFastLockWaiter},
		{name: "LockAbandoned", fn: testFastLockAbandoned},
		{name: "QueueJoinable", fn: testFastQueueJoinable},
		{name: "QueueStates", fn: testFastQueueStates},
		{name: "BatchOrder", fn: testFastBatchOrder},
	})
}
