package manager_test

import (
	"context"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/goproc/manager"
)

func init() {
	// stats.wait signals ready, then waits on an empty queue until the
	// test puts an item: a session with a blocked call.
	manager.RegisterWorker("stats.wait", func(ctx context.Context, c *manager.Client, args manager.Args) error {
		var ready *manager.Event
		var q *manager.Queue[int]
		if err := args.Decode(&ready, &q); err != nil {
			return err
		}
		if err := ready.Set(ctx); err != nil {
			return err
		}
		_, err := q.Get(ctx)
		return err
	})
}

func TestStats(t *testing.T) {
	ctx := testContext(t)
	m := startManager(t)
	d, err := manager.OpenDict[string, int](ctx, m, "stats.d")
	require.NoError(t, err)
	for i := range 3 {
		require.NoError(t, d.Store(ctx, "k", i))
	}
	ready, err := manager.NewEvent(ctx, m)
	require.NoError(t, err)
	q, err := manager.NewQueue[int](ctx, m, 0)
	require.NoError(t, err)
	p, err := m.Fork(ctx, "stats.wait", ready, q)
	require.NoError(t, err)
	require.NoError(t, ready.Wait(ctx))

	// The worker's Get reaches the manager some time after ready: poll
	// (bounded by ctx) until it is blocked there.
	var st manager.Stats
	for {
		st, err = m.Stats(ctx)
		require.NoError(t, err)
		if st.Blocked == 1 {
			break
		}
		require.NoError(t, ctx.Err(), "the worker's Get never blocked")
	}
	assert.Equal(t, m.Pid(), st.ManagerPid)
	assert.Positive(t, st.Uptime)
	assert.Equal(t, "Dict", st.Named["stats.d"])
	assert.Equal(t, 1, st.ObjectsByType["Queue"])
	assert.Equal(t, 3, st.Objects)
	assert.Equal(t, uint64(3), st.Methods["Dict.Store"].Calls)
	assert.Equal(t, int64(2), st.InFlight) // the worker's Get and this Stats
	assert.Positive(t, st.BytesIn)
	assert.Positive(t, st.BytesOut)
	assert.Positive(t, st.Memory.RSS)
	assert.Positive(t, st.Memory.HeapAlloc)

	pids := map[int]manager.SessionStats{}
	for _, s := range st.Sessions {
		pids[s.Pid] = s
	}
	require.Contains(t, pids, os.Getpid())
	require.Contains(t, pids, p.Pid())
	w := pids[p.Pid()]
	host, _ := os.Hostname()
	assert.Equal(t, host, w.Host)
	assert.Equal(t, 1, w.Blocked)
	assert.Equal(t, int64(1), w.InFlight)
	assert.Equal(t, 3, pids[os.Getpid()].Objects) // the dict, the event, the queue
	assert.Positive(t, w.Connections)

	require.NoError(t, q.Put(ctx, 1))
	require.NoError(t, waitProcess(ctx, t, p))
	after, err := m.Stats(ctx)
	require.NoError(t, err)
	assert.Equal(t, 0, after.Blocked)
	assert.GreaterOrEqual(t, after.Calls, st.Calls, "the closed connections' calls still count")
	assert.NotContains(t, pidsOf(after.Sessions), p.Pid())
}

func pidsOf(ss []manager.SessionStats) []int {
	var pids []int
	for _, s := range ss {
		pids = append(pids, s.Pid)
	}
	return pids
}
