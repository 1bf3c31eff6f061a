package manager_test

import (
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/goproc/manager"
	"github.com/goproc/manager/internal/redistest"
)

// TestRedisForkFromClient forks workers from sessions on go-redis clients
// the program made itself (a *redis.Client, a *redis.ClusterClient): the
// workers reach the same Redis through the client's options, and proxies
// arrive bound to their sessions.
func TestRedisForkFromClient(t *testing.T) {
	ctx := testContext(t)
	st := redistest.Standalone(t)
	cl := redistest.NewCluster(t)
	clients := map[string]redis.UniversalClient{
		"client":  redis.NewClient(&redis.Options{Addr: st.Addr}),
		"cluster": redis.NewClusterClient(&redis.ClusterOptions{Addrs: cl.Addrs()}),
	}
	for name, rdb := range clients {
		t.Run(name, func(t *testing.T) {
			t.Cleanup(func() { rdb.Close() })
			s, err := manager.NewRedisSession(ctx, rdb, manager.WithRedisNamespace("fork-"+name))
			require.NoError(t, err)
			t.Cleanup(func() { s.Close() })
			d, err := manager.NewDict[string, int](ctx, s)
			require.NoError(t, err)
			p, err := s.Fork(ctx, "conf.add", d, "n", 5)
			require.NoError(t, err)
			require.NoError(t, waitProcess(ctx, t, p))
			n, _, err := d.Load(ctx, "n")
			require.NoError(t, err)
			assert.Equal(t, 5, n)
			n, _, err = d.Load(ctx, "session:*manager.RedisSession")
			require.NoError(t, err)
			assert.Equal(t, 1, n, "the worker's session is a RedisSession")
		})
	}
}

// TestRedisForkNotSupported: a session on a client that cannot be
// described to a child (here a Ring) refuses to Fork with
// ErrNotSupported, saying what to do, and starts nothing.
func TestRedisForkNotSupported(t *testing.T) {
	ctx := testContext(t)
	st := redistest.Standalone(t)
	ring := redis.NewRing(&redis.RingOptions{Addrs: map[string]string{"a": st.Addr}})
	t.Cleanup(func() { ring.Close() })
	s, err := manager.NewRedisSession(ctx, ring, manager.WithRedisNamespace("ring"))
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	_, err = s.Fork(ctx, "conf.add")
	require.ErrorIs(t, err, manager.ErrNotSupported)
	assert.Contains(t, err.Error(), "ConnectRedis")
	assert.Nil(t, manager.WorkerSession(ctx), "outside a worker")
}
