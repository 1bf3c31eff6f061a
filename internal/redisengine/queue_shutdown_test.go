package redisengine

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/goproc/manager/internal/errs"
)

// Queue.Shutdown(immediate) and IsShutDown, Python 3.13's semantics, as
// internal/builtin's Queue has them.

// step is one call and its expected outcome: a result, or an error
// wrapping wantErr.
type step struct {
	op      op
	want    any
	wantErr error
}

func runSteps(t *testing.T, ob *obj, steps []step) {
	t.Helper()
	for i, st := range steps {
		got, err := ob.call(t.Context(), st.op.method, st.op.args...)
		if st.wantErr != nil {
			require.ErrorIs(t, err, st.wantErr, "step %d: %s%v", i, st.op.method, st.op.args)
			continue
		}
		require.NoError(t, err, "step %d: %s%v", i, st.op.method, st.op.args)
		assert.Equal(t, mp(t, st.want), got, "step %d: %s%v", i, st.op.method, st.op.args)
	}
}

// testShutdownDrains: after Shutdown, puts fail at once, gets drain what
// is left and then fail with errs.ShutDown (TryGet too, not errs.Empty);
// Shutdown twice is fine.
func testShutdownDrains(e *env) {
	t := e.t
	for _, typeid := range []string{"Queue", "JoinableQueue"} {
		func() {
			s := e.session(0)
			q := e.newObj(s, typeid, 2)
			runSteps(t, q, []step{
				{op: o("IsShutDown"), want: false},
				{op: o("Put", 1), want: nil}, {op: o("Put", "two"), want: nil},
				{op: o("Shutdown", false), want: nil},
				{op: o("IsShutDown"), want: true},
				{op: o("Put", 3), wantErr: errs.ShutDown},
				{op: o("TryPut", 3), wantErr: errs.ShutDown},
				{op: o("Len"), want: 2},
				{op: o("GetAs", strShape), wantErr: errs.WrongType},
				{op: o("Get"), want: 1},
				{op: o("TryGet"), want: "two"},
				{op: o("TryGet"), wantErr: errs.ShutDown},
				{op: o("Get"), wantErr: errs.ShutDown},
				{op: o("GetAs", strShape), wantErr: errs.ShutDown},
				{op: o("Shutdown", false), want: nil},
				{op: o("Shutdown", true), want: nil},
				{op: o("IsShutDown"), want: true},
				{op: o("Len"), want: 0},
			})
		}()
	}
}

// testShutdownImmediate: Shutdown(true) discards the items; a
// JoinableQueue counts them finished, so Join returns once the items
// already got are acknowledged.
func testShutdownImmediate(e *env) {
	t := e.t
	s := e.session(0)
	q := e.newObj(s, "JoinableQueue", 0)
	for _, v := range []string{"a", "b", "c"} {
		q.must("Put", v)
	}
	assert.Equal(t, mp(t, "a"), q.must("Get"))
	q.must("Shutdown", true)
	assert.Equal(t, mp(t, 0), q.must("Len"))
	_, err := q.call(e.ctx(), "Get")
	require.ErrorIs(t, err, errs.ShutDown)
	join := goCall(e.ctx(), q, "Join")
	waitWaiters(t, q, "wc", 1)
	q.must("TaskDone")
	require.NoError(t, recv(t, join).err, "b and c were discarded, a is done")
	_, err = q.call(e.ctx(), "TaskDone")
	require.ErrorIs(t, err, errs.BadArguments, "discarded items are not to be acknowledged")
}

// testShutdownWakesGetters: getters blocked in other sessions, with and
// without a shape, fail with errs.ShutDown when the queue is shut down.
func testShutdownWakesGetters(e *env) {
	t := e.t
	for _, immediate := range []bool{false, true} {
		func() {
			a, b, c := e.session(0), e.session(0), e.session(0)
			q := e.newObj(c, "JoinableQueue", 0)
			qa, qb := q.as(a, 1), q.as(b, 1)
			ctx := e.ctx()
			g1 := goCall(ctx, qa, "Get")
			waitWaiters(t, q, "wa", 1)
			g2 := goCall(ctx, qb, "GetAs", u8Shape)
			waitWaiters(t, q, "wa", 2)
			q.must("Shutdown", immediate)
			require.ErrorIs(t, recv(t, g1).err, errs.ShutDown)
			require.ErrorIs(t, recv(t, g2).err, errs.ShutDown)
			waitWaiters(t, q, "wa", 0)
			n, err := a.rdb.HLen(ctx, a.prefix(q.id)+"wx").Result()
			require.NoError(t, err)
			assert.Zero(t, n, "no shape left behind")
			assert.Equal(t, mp(t, nil), q.must("Join"), "nothing was put")
		}()
	}
}

// testShutdownWakesPutters: putters blocked on a full queue in other
// sessions fail with errs.ShutDown and their items are not in the queue;
// the item in it is drained, then gets fail.
func testShutdownWakesPutters(e *env) {
	t := e.t
	a, b, c := e.session(0), e.session(0), e.session(0)
	q := e.newObj(c, "JoinableQueue", 1)
	qa, qb := q.as(a, 1), q.as(b, 1)
	ctx := e.ctx()
	q.must("Put", "in")
	p1 := goCall(ctx, qa, "Put", "a")
	waitWaiters(t, q, "wb", 1)
	p2 := goCall(ctx, qb, "Put", "b")
	waitWaiters(t, q, "wb", 2)
	q.must("Shutdown", false)
	require.ErrorIs(t, recv(t, p1).err, errs.ShutDown)
	require.ErrorIs(t, recv(t, p2).err, errs.ShutDown)
	assert.Equal(t, mp(t, 1), q.must("Len"))
	assert.Equal(t, mp(t, "in"), qa.must("Get"))
	_, err := qb.call(ctx, "Get")
	require.ErrorIs(t, err, errs.ShutDown)
	qa.must("TaskDone")
	assert.Equal(t, mp(t, nil), q.must("Join"), "the refused puts are not unfinished")
}

// testShutdownImmediateDeadSession: after Shutdown(true), the items a
// dead session got and did not acknowledge are discarded when its lease
// expires (counted finished, so Join returns), not delivered again.
func testShutdownImmediateDeadSession(e *env) {
	t := e.t
	const lease = 300 * time.Millisecond
	dead, live := e.session(lease), e.session(liveLease)
	q := e.newObj(live, "JoinableQueue", 0)
	qd := q.as(dead, 1)
	q.must("Put", "x")
	q.must("Put", "y")
	assert.Equal(t, mp(t, "x"), qd.must("Get"))
	dead.stopHeartbeat()
	q.must("Shutdown", true)
	require.NoError(t, recv(t, goCall(e.ctx(), q, "Join")).err)
	_, err := q.call(e.ctx(), "Get")
	require.ErrorIs(t, err, errs.ShutDown, "x was discarded, not delivered again")
}

func TestQueueShutdown(t *testing.T) {
	runSuite(t, []suiteCase{
		{name: "Drains", fn: testShutdownDrains},
		{name: "Immediate", fn: testShutdownImmediate},
		{name: "WakesGetters", fn: testShutdownWakesGetters},
		{name: "WakesPutters", fn: testShutdownWakesPutters},
		{name: "ImmediateDeadSession", fn: testShutdownImmediateDeadSession},
	})
}
