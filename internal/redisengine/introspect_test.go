package redisengine

import (
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// testIntrospection: Objects shows each kind of object's state as the
// scripts keep it — a semaphore's permit holders and waiter, a
// JoinableQueue's unacknowledged items and blocked getter, a barrier's
// waiting party, an RLock's holder with its levels and token — and
// Sessions lists the live sessions until they close.
func testIntrospection(e *env) {
	t := e.t
	a, b := e.session(0), e.session(0)
	ctx := e.ctx()
	sem := e.newObj(a, "Semaphore", 1)
	sem.must("Acquire")
	semWait := goCall(ctx, sem.as(b, 1), "Acquire")
	waitWaiters(t, sem, "wa", 1)

	jq := e.newObj(a, "JoinableQueue", 0)
	jq.must("Put", 1)
	jq.must("Put", 2)
	jq.must("Get")
	jqb := jq.as(b, 1)
	jqb.must("Get")
	getWait := goCall(ctx, jqb, "Get")
	waitWaiters(t, jq, "wa", 1)

	bar := e.newObj(a, "Barrier", 2)
	barWait := goCall(ctx, bar, "Wait")
	waitWaiters(t, bar, "wa", 1)

	rl := e.newObj(a, "RLock")
	rl.must("Acquire")
	rl.must("Acquire")

	objs, err := a.Objects(ctx)
	require.NoError(t, err)
	byID := map[uint64]ObjectInfo{}
	for _, o := range objs {
		byID[o.ID] = o
	}
	require.Len(t, byID, 4)

	s := byID[sem.id]
	assert.Equal(t, "Semaphore", s.Type)
	assert.True(t, s.Inspected)
	assert.Equal(t, 0, s.Len, "no permit free")
	assert.Equal(t, []Holding{{Session: a.ID(), Count: 1}}, s.Holders)
	assert.Equal(t, []string{b.ID()}, s.Waiters)
	assert.Equal(t, map[string]int{a.ID(): 1, b.ID(): 1}, s.Refs)

	q := byID[jq.id]
	assert.Equal(t, 0, q.Len)
	assert.ElementsMatch(t, []Holding{{Session: a.ID(), Count: 1}, {Session: b.ID(), Count: 1}}, q.Unacked)
	assert.Equal(t, []string{b.ID()}, q.Getters)
	assert.Empty(t, q.Putters)

	br := byID[bar.id]
	assert.Equal(t, 2, br.Parties)
	assert.Equal(t, []string{a.ID()}, br.Waiters)

	r := byID[rl.id]
	require.Len(t, r.Holders, 1)
	assert.Equal(t, a.ID(), r.Holders[0].Session)
	assert.Equal(t, 2, r.Holders[0].Count, "two levels")
	assert.NotZero(t, r.Holders[0].Token)
	assert.GreaterOrEqual(t, r.Holders[0].HeldFor, time.Duration(0))

	sessions, err := a.Sessions(ctx)
	require.NoError(t, err)
	require.Len(t, sessions, 2)
	for _, si := range sessions {
		assert.Equal(t, os.Getpid(), si.Pid)
		assert.Contains(t, []string{a.ID(), b.ID()}, si.ID)
	}

	// Unblock everything, then b leaves: its key goes at once.
	sem.must("Release", 1)
	require.NoError(t, recv(t, semWait).err)
	jq.must("Put", 3)
	require.NoError(t, recv(t, getWait).err)
	bar.as(b, 1).must("Wait")
	require.NoError(t, recv(t, barWait).err)
	require.NoError(t, b.Close())
	sessions, err = a.Sessions(ctx)
	require.NoError(t, err)
	require.Len(t, sessions, 1)
	assert.Equal(t, a.ID(), sessions[0].ID)
}

func TestIntrospection(t *testing.T) {
	runSuite(t, []suiteCase{{name: "Objects", fn: testIntrospection}})
}
