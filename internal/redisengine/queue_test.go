package redisengine

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/goproc/manager/internal/builtin"
	"github.com/goproc/manager/internal/errs"
)

func queueOps() []op {
	return []op{
		o("Len"), o("Empty"), o("Full"), o("Cap"), o("TryGet"),
		o("Put", 1), o("Put", "two"), o("Full"), o("TryPut", 3), o("Len"),
		o("Get"), o("TryGet"), o("TryGet"), o("Empty"), o("TryPut", []int{3}), o("Get"),
	}
}

func joinableOps() []op {
	return append(queueOps(),
		o("TaskDone"), o("TaskDone"), o("TaskDone"), o("TaskDone"), o("TaskDone"), o("Join"),
		o("Put", 1), o("Get"), o("TaskDone"), o("Join"))
}

func testQueueConformance(e *env) {
	s := e.session(0)
	recv, err := builtin.NewQueue(2)
	require.NoError(e.t, err)
	conform(e.t, recv, e.newObj(s, "Queue", 2), queueOps())
}

func testJoinableConformance(e *env) {
	s := e.session(0)
	recv, err := builtin.NewJoinableQueue(2)
	require.NoError(e.t, err)
	conform(e.t, recv, e.newObj(s, "JoinableQueue", 2), joinableOps())
}

// result is one call's outcome, from a goroutine.
type result struct {
	b   []byte
	err error
}

// goCall calls method in a goroutine and returns the channel of its result.
func goCall(ctx context.Context, ob *obj, method string, args ...any) <-chan result {
	ch := make(chan result, 1)
	a := enc(ob.t, args...)
	go func() {
		b, err := ob.s.Call(ctx, ob.id, ob.typeid, ob.handle, method, a)
		ch <- result{b, err}
	}()
	return ch
}

// recv waits for a result, bounded by the suite's timeout.
func recv(t testing.TB, ch <-chan result) result {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(suiteTimeout):
		t.Fatal("no result within the suite timeout")
		return result{}
	}
}

// waitWaiters waits until n calls wait in list of ob (they registered):
// a blocking call's registration is visible in Redis, so tests wait on it
// rather than on time.
func waitWaiters(t testing.TB, ob *obj, list string, n int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), suiteTimeout)
	defer cancel()
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for {
		got, err := ob.s.rdb.LLen(ctx, ob.s.prefix(ob.id)+list).Result()
		require.NoError(t, err)
		if got == n {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%d waiters in %s, want %d", got, list, n)
		case <-tick.C:
		}
	}
}

func testQueueBlocking(e *env) {
	t := e.t
	a, b := e.session(0), e.session(0)
	q := e.newObj(a, "Queue", 0)
	qb := q.as(b, 1)
	ctx := e.ctx()
	// Two getters wait, served in arrival order.
	first := goCall(ctx, q, "Get")
	waitWaiters(t, q, "wa", 1)
	second := goCall(ctx, qb, "Get")
	waitWaiters(t, q, "wa", 2)
	qb.must("Put", "x")
	qb.must("Put", "y")
	r1, r2 := recv(t, first), recv(t, second)
	require.NoError(t, r1.err)
	require.NoError(t, r2.err)
	assert.Equal(t, mp(t, "x"), r1.b)
	assert.Equal(t, mp(t, "y"), r2.b)
	assert.Equal(t, mp(t, 0), q.must("Len"))
	n, err := a.rdb.HLen(ctx, a.prefix(q.id)+"p").Result()
	require.NoError(t, err)
	assert.Zero(t, n, "items received are acknowledged")
}

func testQueueDeadline(e *env) {
	t := e.t
	s := e.session(0)
	q := e.newObj(s, "Queue", 0)
	const wait = 150 * time.Millisecond
	ctx, cancel := context.WithTimeout(e.ctx(), wait)
	defer cancel()
	start := time.Now()
	_, err := q.call(ctx, "Get")
	took := time.Since(start)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.GreaterOrEqual(t, took, wait)
	t.Logf("Get with a %v deadline returned after %v", wait, took)
	// Withdrawn: no waiter left, and a later item is not consumed.
	waitWaiters(t, q, "wa", 0)
	q.must("Put", 1)
	assert.Equal(t, mp(t, 1), q.must("Len"))
}

func testQueueCancel(e *env) {
	t := e.t
	s := e.session(0)
	q := e.newObj(s, "Queue", 0)
	ctx, cancel := context.WithCancel(e.ctx())
	ch := goCall(ctx, q, "Get")
	waitWaiters(t, q, "wa", 1)
	cancel()
	r := recv(t, ch)
	require.ErrorIs(t, r.err, context.Canceled)
	waitWaiters(t, q, "wa", 0)
	q.must("Put", 1)
	assert.Equal(t, mp(t, 1), q.must("Len"))
}

func testQueuePutBlocks(e *env) {
	t := e.t
	s := e.session(0)
	q := e.newObj(s, "Queue", 1)
	q.must("Put", 1)
	// A withdrawn Put leaves nothing behind.
	ctx, cancel := context.WithCancel(e.ctx())
	ch := goCall(ctx, q, "Put", 2)
	waitWaiters(t, q, "wb", 1)
	cancel()
	require.ErrorIs(t, recv(t, ch).err, context.Canceled)
	// A waiting Put goes in when a Get makes room.
	ch = goCall(e.ctx(), q, "Put", 3)
	waitWaiters(t, q, "wb", 1)
	assert.Equal(t, mp(t, 1), q.must("Get"))
	require.NoError(t, recv(t, ch).err)
	assert.Equal(t, mp(t, 3), q.must("Get"))
	assert.Equal(t, mp(t, true), q.must("Empty"))
}

// testJoinableRedelivery: a session that got items and died before
// TaskDone has them delivered again, to a Get that was waiting, once its
// lease expires; Join then completes.
func testJoinableRedelivery(e *env) {
	t := e.t
	const lease = 300 * time.Millisecond
	dead, live := e.session(lease), e.session(liveLease)
	q := e.newObj(live, "JoinableQueue", 0)
	qd := q.as(dead, 1)
	q.must("Put", "a")
	q.must("Put", "b")
	assert.Equal(t, mp(t, "a"), qd.must("Get"))
	assert.Equal(t, mp(t, "b"), qd.must("Get"))
	dead.stopHeartbeat()
	join := goCall(e.ctx(), q, "Join")
	start := time.Now()
	assert.Equal(t, mp(t, "a"), q.must("Get"), "redelivered, in order")
	t.Logf("redelivered %v after the heartbeat stopped (lease %v)", time.Since(start), lease)
	assert.Equal(t, mp(t, "b"), q.must("Get"))
	q.must("TaskDone")
	q.must("TaskDone")
	require.NoError(t, recv(t, join).err)
	_, err := q.call(e.ctx(), "TaskDone")
	require.ErrorIs(t, err, errs.BadArguments)
}

// testQueueHandedToDead: an item handed to a waiting Get goes into the
// getter's reply list, and the getter's pop is its delivery; a getter
// that died before its pop (its process killed, here: it registered and
// never popped) has the item put back once its lease expires, for a Get
// that was waiting meanwhile.
func testQueueHandedToDead(e *env) {
	t := e.t
	ctx := e.ctx()
	const lease = 2 * time.Second // long enough to Put before it lapses on a loaded machine
	dead, live := e.session(lease), e.session(liveLease)
	q := e.newObj(live, "Queue", 0)
	cid := dead.newCID()
	reply, err := dead.run(ctx, familyOf("Queue"), q.id, "Queue", "Get", "1", "c", nil, cid)
	require.NoError(t, err)
	require.Equal(t, "W", reply[:1], "registered as a waiting Get")
	q.must("Put", "x")
	replyKey := dead.tag(q.id) + "r:" + cid
	handed, err := live.rdb.LRange(ctx, replyKey, 0, -1).Result()
	require.NoError(t, err)
	assert.Equal(t, []string{"=" + string(mp(t, "x"))}, handed, "the item waits in the getter's reply list")
	assert.Equal(t, mp(t, 0), q.must("Len"))
	dead.stopHeartbeat()
	start := time.Now()
	assert.Equal(t, mp(t, "x"), q.must("Get"), "put back when the getter's lease expired")
	t.Logf("put back %v after the heartbeat stopped (lease %v)", time.Since(start), lease)
	n, err := live.rdb.Exists(ctx, replyKey, live.prefix(q.id)+"p").Result()
	require.NoError(t, err)
	assert.Zero(t, n, "no reply list, no record left")
}

// testSessionClose: Close wakes the session's blocked calls with
// errs.Closed and puts back its unacknowledged items at once.
func testSessionClose(e *env) {
	t := e.t
	a, b := e.session(0), e.session(0)
	q := e.newObj(b, "JoinableQueue", 0)
	qa := q.as(a, 1)
	q.must("Put", "x")
	assert.Equal(t, mp(t, "x"), qa.must("Get"))
	blocked := goCall(e.ctx(), qa, "Get")
	waitWaiters(t, q, "wa", 1)
	require.NoError(t, a.Close())
	require.ErrorIs(t, recv(t, blocked).err, errs.Closed)
	assert.Equal(t, mp(t, "x"), q.must("Get"), "given back by Close, not after a lease")
	_, err := qa.call(e.ctx(), "Len")
	require.ErrorIs(t, err, errs.Closed)
}

func TestQueue(t *testing.T) {
	runSuite(t, []suiteCase{
		{name: "Conformance", fn: testQueueConformance},
		{name: "JoinableConformance", fn: testJoinableConformance},
		{name: "Blocking", fn: testQueueBlocking},
		{name: "Deadline", fn: testQueueDeadline},
		{name: "Cancel", fn: testQueueCancel},
		{name: "PutBlocks", fn: testQueuePutBlocks},
		{name: "JoinableRedelivery", fn: testJoinableRedelivery},
		{name: "SessionClose", fn: testSessionClose},
		{name: "HandedToDead", fn: testQueueHandedToDead, long: true},
	})
}
