package redisengine

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/goproc/manager/internal/redistest"
)

// TestRestart kills the standalone redis-server (SIGKILL) under a session
// and starts it again: calls while it is down fail with an error, and
// after the restart the same session goes on with every acknowledged
// write (AOF appendfsync always) and every object.
func TestRestart(t *testing.T) {
	srv := redistest.Standalone(t)
	rdb := srv.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), suiteTimeout)
	defer cancel()
	s, err := Open(ctx, rdb, Options{Namespace: "restart"})
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	d := &obj{t: t, s: s, typeid: "Dict", handle: 1}
	d.id, err = s.New(ctx, "Dict", nil)
	require.NoError(t, err)
	q := &obj{t: t, s: s, typeid: "JoinableQueue", handle: 1}
	q.id, err = s.New(ctx, "JoinableQueue", enc(t, 0))
	require.NoError(t, err)
	n := 200
	if testing.Short() {
		n = 20 // every write is fsynced: 400 of them take seconds on a loaded disk
	}
	for i := range n {
		d.must("Store", i, i*i)
		q.must("Put", i)
	}
	assert.Equal(t, mp(t, 0), q.must("Get"))
	empty := &obj{t: t, s: s, typeid: "Queue", handle: 1}
	empty.id, err = s.New(ctx, "Queue", enc(t, 0))
	require.NoError(t, err)
	blocked := goCall(ctx, empty, "Get")
	waitWaiters(t, empty, "wa", 1)

	srv.Kill(t)
	_, err = d.call(ctx, "Load", 1)
	require.Error(t, err, "redis is down")
	// The blocked Get's wait broke; its withdrawal fails while Redis is
	// down, and is retried.
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for s.withdrawFailures.Load() == 0 {
		select {
		case <-ctx.Done():
			t.Fatal("the blocked Get did not try to withdraw")
		case <-tick.C:
		}
	}
	srv.Restart(t)
	// The blocked Get failed with the connection, and withdrew once Redis
	// was back (its registration had been persisted): a new item is not
	// handed to it.
	require.Error(t, recv(t, blocked).err)
	waitWaiters(t, empty, "wa", 0)
	empty.must("Put", "x")
	assert.Equal(t, mp(t, 1), empty.must("Len"))

	assert.Equal(t, mp(t, n), d.must("Len"))
	for i := range n {
		assert.Equal(t, mp(t, []any{i * i, true}), d.must("Load", i))
	}
	assert.Equal(t, mp(t, n-1), q.must("Len"))
	q.must("TaskDone") // the item got before the restart is still this session's
	assert.Equal(t, mp(t, 1), q.must("Get"))
	// Closed here, while the restarted server runs: its cleanup, the
	// later one, would stop it before the session's.
	require.NoError(t, s.Close())
}
