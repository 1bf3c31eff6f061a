package redisengine

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/goproc/manager/internal/errs"
)

// exists reports whether object id still has its meta key.
func exists(t testing.TB, s *Session, id uint64) bool {
	t.Helper()
	n, err := s.rdb.Exists(context.Background(), s.prefix(id)+"m").Result()
	require.NoError(t, err)
	return n == 1
}

// namespaceKeys counts the keys of s's namespace on every master, but
// the live sessions' own keys ("{ns}:sess:<sid>", see Sessions), which
// their heartbeats keep.
func namespaceKeys(t testing.TB, rdb redis.UniversalClient, ns string) int {
	t.Helper()
	ctx := context.Background()
	var n atomic.Int64 // ForEachMaster calls count concurrently
	count := func(ctx context.Context, c *redis.Client) error {
		for _, pat := range []string{"{" + ns + "}:*", "{" + ns + ":*"} {
			keys, err := c.Keys(ctx, pat).Result()
			if err != nil {
				return err
			}
			for _, k := range keys {
				if !strings.HasPrefix(k, "{"+ns+"}:sess:") {
					n.Add(1)
				}
			}
		}
		return nil
	}
	switch c := rdb.(type) {
	case *redis.ClusterClient:
		require.NoError(t, c.ForEachMaster(ctx, count))
	case *redis.Client:
		require.NoError(t, count(ctx, c))
	}
	return int(n.Load())
}

func testReleaseFrees(e *env) {
	t := e.t
	a, b := e.session(0), e.session(0)
	d := e.newObj(a, "Dict")
	db := d.as(b, 1)
	d.must("Store", "k", 1)
	require.NoError(t, a.Release(e.ctx(), d.id))
	assert.True(t, exists(t, a, d.id), "b still references it")
	assert.Equal(t, mp(t, 1), db.must("Len"))
	require.ErrorIs(t, a.Release(e.ctx(), d.id), errs.NoSuchObject, "a has no reference left")
	require.NoError(t, b.Release(e.ctx(), d.id))
	assert.False(t, exists(t, a, d.id), "the last reference freed it")
	_, err := db.call(e.ctx(), "Len")
	require.ErrorIs(t, err, errs.NoSuchObject)
	assert.Equal(t, 2, namespaceKeys(t, e.srv.rdb, e.ns), "only the id counter and the layout are left")
}

func testCloseFrees(e *env) {
	t := e.t
	a := e.session(0)
	l := e.newObj(a, "Lock")
	l.must("Acquire")
	require.NoError(t, a.Close())
	assert.False(t, exists(t, a, l.id))
	require.NoError(t, a.Close(), "Close twice")
}

func testNamed(e *env) {
	t := e.t
	a, b := e.session(0), e.session(0)
	id, err := a.Open(e.ctx(), "shared", "Dict", nil)
	require.NoError(t, err)
	id2, err := b.Open(e.ctx(), "shared", "Dict", nil)
	require.NoError(t, err)
	assert.Equal(t, id, id2, "found by name from another session")
	_, err = b.Open(e.ctx(), "shared", "Queue", enc(t, 0))
	require.ErrorIs(t, err, errs.WrongType)
	d := &obj{t: t, s: b, id: id, typeid: "Dict", handle: 1}
	d.must("Store", "k", "v")
	require.NoError(t, a.Release(e.ctx(), id))
	require.NoError(t, b.Release(e.ctx(), id))
	assert.True(t, exists(t, a, id), "a named object lives until deleted")
	_, err = d.call(e.ctx(), "Load", "k")
	require.NoError(t, err)
	ok, err := a.Delete(e.ctx(), "shared")
	require.NoError(t, err)
	assert.True(t, ok)
	ok, err = a.Delete(e.ctx(), "shared")
	require.NoError(t, err)
	assert.False(t, ok)
	_, err = d.call(e.ctx(), "Load", "k")
	require.ErrorIs(t, err, errs.NoSuchObject)
	_, err = d.call(e.ctx(), "Nope")
	require.ErrorIs(t, err, errs.NoSuchMethod, "methods are checked before the object")
	_, err = a.Call(e.ctx(), 1, "Custom", 1, "M", nil)
	require.ErrorIs(t, err, errs.NotSupported)
	q := e.newObj(a, "Queue", 0)
	require.ErrorIs(t, b.Retain(e.ctx(), q.id, "Lock"), errs.WrongType)
	require.ErrorIs(t, b.Release(e.ctx(), q.id), errs.NoSuchObject, "the failed Retain took no reference")
}

// testSweep: an unnamed object whose only referencing session died is
// freed by the next sweep once the lease has expired.
func testSweep(e *env) {
	t := e.t
	const lease = 200 * time.Millisecond
	dead, live := e.session(lease), e.session(liveLease)
	d := e.newObj(dead, "Dict")
	kept := e.newObj(live, "Dict")
	n, err := live.Sweep(e.ctx())
	require.NoError(t, err)
	assert.Zero(t, n, "referenced by live sessions")
	dead.stopHeartbeat()
	waitGone(t, dead, dead.prefix(d.id)+"l:"+dead.sid)
	n, err = live.Sweep(e.ctx())
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	assert.False(t, exists(t, live, d.id))
	assert.True(t, exists(t, live, kept.id))
}

// waitGone waits until key has expired.
func waitGone(t testing.TB, s *Session, key string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), suiteTimeout)
	defer cancel()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		n, err := s.rdb.Exists(ctx, key).Result()
		require.NoError(t, err)
		if n == 0 {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s did not expire", key)
		case <-tick.C:
		}
	}
}

func testPurge(e *env) {
	t := e.t
	s := e.session(0)
	for _, typeid := range []string{"Dict", "List", "Lock", "Event"} {
		e.newObj(s, typeid)
	}
	q := e.newObj(s, "JoinableQueue", 0)
	q.must("Put", 1)
	q.must("Get")
	_, err := s.Open(e.ctx(), "named", "Value", enc(t, 1))
	require.NoError(t, err)
	require.NotZero(t, namespaceKeys(t, e.srv.rdb, e.ns))
	require.NoError(t, Purge(e.ctx(), e.srv.rdb, e.ns))
	assert.Zero(t, namespaceKeys(t, e.srv.rdb, e.ns))
	_, err = q.call(e.ctx(), "Len")
	require.ErrorIs(t, err, errs.NoSuchObject)
}

func testServerID(e *env) {
	a, b := e.session(0), e.session(0)
	assert.Equal(e.t, a.ServerID(), b.ServerID())
	assert.NotEqual(e.t, a.ServerID(), ServerID(e.ns+"x"))
	assert.NotEqual(e.t, a.ID(), b.ID())
}

func TestSession(t *testing.T) {
	runSuite(t, []suiteCase{
		{name: "ReleaseFrees", fn: testReleaseFrees},
		{name: "CloseFrees", fn: testCloseFrees},
		{name: "Named", fn: testNamed},
		{name: "Sweep", fn: testSweep},
		{name: "Purge", fn: testPurge},
		{name: "ServerID", fn: testServerID},
		{name: "UnreferencedHolder", fn: testUnreferencedHolder},
		{name: "PurgeUnderSession", fn: testPurgeUnderSession},
		{name: "BadCalls", fn: testBadCalls},
	})
}

// testUnreferencedHolder: a session that holds a lock on an object it
// has no reference to (a proxy received without Retain) keeps its lease
// there renewed: its lock is not taken for abandoned.
func testUnreferencedHolder(e *env) {
	t := e.t
	const lease = 300 * time.Millisecond
	a, b := e.session(lease), e.session(lease)
	l := e.newObj(a, "Lock")
	lb := &obj{t: t, s: b, id: l.id, typeid: "Lock", handle: 1} // no Retain
	lb.must("Acquire")
	key := b.prefix(l.id) + "l:" + b.sid
	first, err := b.rdb.PTTL(e.ctx(), key).Result()
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(e.ctx(), suiteTimeout)
	defer cancel()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for renewed := false; !renewed; {
		select {
		case <-ctx.Done():
			t.Fatal("the lease was not renewed")
		case <-tick.C:
		}
		ttl, err := b.rdb.PTTL(ctx, key).Result()
		require.NoError(t, err)
		require.Positive(t, ttl, "the lease expired")
		renewed = ttl > first
		first = min(first, ttl)
	}
	assert.Equal(t, mp(t, false), l.must("TryAcquire"), "still held by b")
	require.NoError(t, b.Close())
	_, err = l.call(e.ctx(), "TryAcquire")
	require.ErrorIs(t, err, errs.Abandoned, "released by b's Close, which ended holding it")
}

// testPurgeUnderSession: after Purge, the heartbeat of a session that
// still references purged objects brings none of their keys back.
func testPurgeUnderSession(e *env) {
	t := e.t
	s := e.session(30 * time.Millisecond)
	l := e.newObj(s, "Lock")
	l.must("Acquire")
	require.NoError(t, Purge(e.ctx(), e.srv.rdb, e.ns))
	// A renewal that ran during the purge may have set the lease once
	// more: it expires with its TTL, and no later heartbeat sets it.
	waitGone(t, s, s.prefix(l.id)+"l:"+s.sid)
	waitBeats(t, s, 2)
	assert.Zero(t, namespaceKeys(t, e.srv.rdb, e.ns))
}

// waitBeats waits until s's heartbeat has renewed its leases n more times.
func waitBeats(t testing.TB, s *Session, n int64) {
	t.Helper()
	want := s.beats.Load() + n
	ctx, cancel := context.WithTimeout(context.Background(), suiteTimeout)
	defer cancel()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for s.beats.Load() < want {
		select {
		case <-ctx.Done():
			t.Fatalf("%d heartbeats, want %d", s.beats.Load(), want)
		case <-tick.C:
		}
	}
}

// testBadCalls: a method that does not exist, or a call with the wrong
// number of arguments, is refused with a typed error before Redis.
func testBadCalls(e *env) {
	t := e.t
	s := e.session(0)
	d := e.newObj(s, "Dict")
	_, err := d.call(e.ctx(), "Store", "only a key")
	require.ErrorIs(t, err, errs.BadArguments)
	_, err = d.call(e.ctx(), "ReleaseSession")
	require.ErrorIs(t, err, errs.NoSuchMethod)
	_, err = d.call(e.ctx(), "Token")
	require.ErrorIs(t, err, errs.NoSuchMethod)
	l := e.newObj(s, "List")
	_, err = l.call(e.ctx(), "Get", "not an index")
	require.ErrorIs(t, err, errs.BadArguments)
	_, err = d.call(e.ctx(), "Update", "not pairs")
	require.ErrorIs(t, err, errs.BadArguments)
}
