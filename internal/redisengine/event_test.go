package redisengine

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/goproc/manager/internal/builtin"
	"github.com/goproc/manager/internal/errs"
)

func testEventConformance(e *env) {
	s := e.session(0)
	ev, err := builtin.NewEvent()
	require.NoError(e.t, err)
	conform(e.t, ev, e.newObj(s, "Event"), []op{
		o("IsSet"), o("Set"), o("IsSet"), o("Wait"), o("Clear"), o("IsSet"), o("Set"), o("Set"), o("Wait"),
	})
}

func testBarrierConformance(e *env) {
	s := e.session(0)
	b, err := builtin.NewBarrier(1)
	require.NoError(e.t, err)
	conform(e.t, b, e.newObj(s, "Barrier", 1), []op{
		o("Parties"), o("NWaiting"), o("Broken"), o("Wait"), o("Wait"), o("Abort"), o("Broken"), o("Wait"),
		o("NWaiting"), o("Reset"), o("Broken"), o("Join"), o("Leave"), o("Wait"),
	})
	_, err = s.New(e.ctx(), "Barrier", enc(e.t, 0))
	require.ErrorIs(e.t, err, errs.BadArguments)
}

func testEventWait(e *env) {
	t := e.t
	a, b := e.session(0), e.session(0)
	ea := e.newObj(a, "Event")
	eb := ea.as(b, 1)
	ctx, cancel := context.WithTimeout(e.ctx(), 50*time.Millisecond)
	defer cancel()
	_, err := eb.call(ctx, "Wait")
	require.ErrorIs(t, err, context.DeadlineExceeded)
	w1 := goCall(e.ctx(), eb, "Wait")
	w2 := goCall(e.ctx(), ea, "Wait")
	waitWaiters(t, ea, "wa", 2)
	ea.must("Set")
	ea.must("Clear")
	for _, ch := range []<-chan result{w1, w2} {
		r := recv(t, ch)
		require.NoError(t, r.err)
		assert.Equal(t, mp(t, true), r.b, "woken by Set even though Clear followed")
	}
}

func testBarrierRound(e *env) {
	t := e.t
	s := []*Session{e.session(0), e.session(0), e.session(0)}
	b0 := e.newObj(s[0], "Barrier", 3)
	bs := []*obj{b0, b0.as(s[1], 1), b0.as(s[2], 1)}
	for round := range 2 {
		var chs []<-chan result
		for i, b := range bs[:2] {
			chs = append(chs, goCall(e.ctx(), b, "Wait"))
			waitWaiters(t, b0, "wa", int64(i+1))
		}
		assert.Equal(t, mp(t, 2), b0.must("NWaiting"))
		last := bs[2].must("Wait")
		got := map[int]bool{}
		for _, ch := range chs {
			r := recv(t, ch)
			require.NoError(t, r.err, "round %d", round)
			var i int
			require.NoError(t, msgpack.Unmarshal(r.b, &i))
			got[i] = true
		}
		assert.Equal(t, mp(t, 2), last)
		assert.Equal(t, map[int]bool{0: true, 1: true}, got)
	}
}

// testBarrierBreaks: a waiting party that gives up breaks the barrier;
// after Reset, a member whose session dies breaks it too.
func testBarrierBreaks(e *env) {
	t := e.t
	const lease = 300 * time.Millisecond
	live, dead := e.session(liveLease), e.session(lease)
	b := e.newObj(live, "Barrier", 2)
	bd := b.as(dead, 1)
	ctx, cancel := context.WithTimeout(e.ctx(), 50*time.Millisecond)
	defer cancel()
	_, err := b.call(ctx, "Wait")
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Equal(t, mp(t, true), b.must("Broken"))
	_, err = b.call(e.ctx(), "Wait")
	require.ErrorIs(t, err, errs.BrokenBarrier)

	b.must("Reset")
	bd.must("Join")
	ch := goCall(e.ctx(), b, "Wait")
	waitWaiters(t, b, "wa", 1)
	dead.stopHeartbeat()
	require.ErrorIs(t, recv(t, ch).err, errs.BrokenBarrier, "a dead member never comes")
}

func TestEvent(t *testing.T) {
	runSuite(t, []suiteCase{
		{name: "EventConformance", fn: testEventConformance},
		{name: "BarrierConformance", fn: testBarrierConformance},
		{name: "EventWait", fn: testEventWait},
		{name: "BarrierRound", fn: testBarrierRound},
		{name: "BarrierBreaks", fn: testBarrierBreaks},
	})
}
