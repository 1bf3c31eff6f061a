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

func testConditionConformance(e *env) {
	s := e.session(0)
	c, err := builtin.NewCondition(context.Background(), 0)
	require.NoError(e.t, err)
	conform(e.t, c, e.newObj(s, "Condition", uint64(0)), []op{
		o("Wait"), o("Notify", 1), o("NotifyAll"), o("Release"), o("Acquire"), o("Notify", 1), o("Notify", -1),
		o("NotifyAll"), o("TryAcquire"), o("Release"), o("Release"), o("TryAcquire"), o("Release"),
	})
}

// testConditionWaitNotify: Wait releases the lock and waits; Notify by
// another session wakes it, and it holds the lock again once the
// notifier releases it.
func testConditionWaitNotify(e *env) {
	t := e.t
	a, b := e.session(0), e.session(0)
	ca := e.newObj(a, "Condition", uint64(0))
	cb := ca.as(b, 1)
	ca.must("Acquire")
	ch := goCall(e.ctx(), ca, "Wait")
	waitWaiters(t, ca, "wb", 1)
	cb.must("Acquire") // Wait released it
	cb.must("Notify", 1)
	assert.Equal(t, mp(t, false), cb.must("TryAcquire"), "a Lock is not reentrant")
	cb.must("Release")
	require.NoError(t, recv(t, ch).err)
	ca.must("Release") // held again after Wait
	_, err := cb.call(e.ctx(), "Release")
	require.ErrorIs(t, err, errs.NotHeld)
}

// testConditionOnRLock: a Condition on an existing RLock lives in the
// lock's slot, shares its lock, and restores the waiter's levels.
func testConditionOnRLock(e *env) {
	t := e.t
	a, b := e.session(0), e.session(0)
	rl := e.newObj(a, "RLock")
	ca := e.newObj(a, "Condition", rl.id)
	assert.NotEqual(t, rl.id, ca.id)
	assert.Equal(t, a.tag(rl.id), a.tag(ca.id), "same hash slot")
	cb := ca.as(b, 7)
	ca.must("Acquire")
	ca.must("Acquire")
	assert.Equal(t, mp(t, true), rl.must("Locked"), "the condition's lock is the RLock")
	ch := goCall(e.ctx(), ca, "Wait")
	waitWaiters(t, ca, "wb", 1)
	assert.Equal(t, mp(t, false), rl.must("Locked"), "Wait released every level")
	cb.must("Acquire")
	cb.must("NotifyAll")
	cb.must("Release")
	require.NoError(t, recv(t, ch).err)
	ca.must("Release")
	assert.Equal(t, mp(t, true), rl.must("Locked"), "two levels restored")
	ca.must("Release")
	assert.Equal(t, mp(t, false), rl.must("Locked"))

	_, err := a.New(e.ctx(), "Condition", enc(t, e.newObj(a, "Dict").id))
	require.ErrorIs(t, err, errs.BadArguments)
}

// testConditionWaitTimeout: a Wait whose ctx ends takes the lock back;
// if the lock stays held by another for the grace period, it gives up
// with errs.NotHeld.
func testConditionWaitTimeout(e *env) {
	t := e.t
	a, b := e.session(0), e.session(0)
	ca := e.newObj(a, "Condition", uint64(0))
	cb := ca.as(b, 1)
	ca.must("Acquire")
	ctx, cancel := context.WithTimeout(e.ctx(), 50*time.Millisecond)
	defer cancel()
	_, err := ca.call(ctx, "Wait")
	require.ErrorIs(t, err, context.DeadlineExceeded)
	ca.must("Release") // held again

	ca.must("Acquire")
	ctx, cancel = context.WithCancel(e.ctx())
	ch := goCall(ctx, ca, "Wait")
	waitWaiters(t, ca, "wb", 1)
	cb.must("Acquire")
	cancel()
	r := recv(t, ch)
	require.ErrorIs(t, r.err, context.Canceled)
	require.ErrorIs(t, r.err, errs.NotHeld, "b held the lock through the grace period")
	cb.must("Release")
	assert.Equal(t, mp(t, true), ca.must("TryAcquire"), "the withdrawn Wait holds nothing")
	ca.must("Release")
}

func TestCondition(t *testing.T) {
	runSuite(t, []suiteCase{
		{name: "Conformance", fn: testConditionConformance},
		{name: "WaitNotify", fn: testConditionWaitNotify},
		{name: "OnRLock", fn: testConditionOnRLock},
		{name: "WaitTimeout", fn: testConditionWaitTimeout, long: true},
		{name: "Named", fn: testConditionNamed},
	})
}

// testConditionNamed: a named Condition on a lock is found by name.
func testConditionNamed(e *env) {
	t := e.t
	a, b := e.session(0), e.session(0)
	l := e.newObj(a, "Lock")
	id1, err := a.Open(e.ctx(), "cond", "Condition", enc(t, l.id))
	require.NoError(t, err)
	id2, err := b.Open(e.ctx(), "cond", "Condition", enc(t, l.id))
	require.NoError(t, err)
	assert.Equal(t, id1, id2)
	_, err = b.Open(e.ctx(), "cond", "Dict", nil)
	require.ErrorIs(t, err, errs.WrongType)
	ok, err := b.Delete(e.ctx(), "cond")
	require.NoError(t, err)
	assert.True(t, ok)
	assert.False(t, exists(t, a, id1))
}
