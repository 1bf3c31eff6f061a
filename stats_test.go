package manager_test

import (
	"context"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"slices"
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
	// stats.hold takes the lock named by its argument, signals ready,
	// and holds the lock until the test puts an item in the queue.
	manager.RegisterWorker("stats.hold", func(ctx context.Context, c *manager.Client, args manager.Args) error {
		var name string
		var ready *manager.Event
		var q *manager.Queue[int]
		if err := args.Decode(&name, &ready, &q); err != nil {
			return err
		}
		l, err := manager.OpenLock(ctx, c, name)
		if err != nil {
			return err
		}
		if err := l.Acquire(ctx); err != nil {
			return err
		}
		if err := ready.Set(ctx); err != nil {
			return err
		}
		_, err = q.Get(ctx)
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
		if slices.ContainsFunc(st.Sessions, func(s manager.SessionStats) bool { return s.Pid == p.Pid() && s.Blocked == 1 }) {
			break
		}
		require.NoError(t, ctx.Err(), "the worker's Get never blocked")
	}
	assert.Equal(t, 1, st.Blocked)
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
	// The manager sees the worker's connections close a little after
	// it exits: poll, bounded by ctx.
	var after manager.Stats
	for {
		after, err = m.Stats(ctx)
		require.NoError(t, err)
		if !slices.Contains(pidsOf(after.Sessions), p.Pid()) {
			break
		}
		require.NoError(t, ctx.Err(), "the worker's session never ended")
	}
	assert.Equal(t, 0, after.Blocked)
	assert.GreaterOrEqual(t, after.Calls, st.Calls, "the closed connections' calls still count")
}

func pidsOf(ss []manager.SessionStats) []int {
	var pids []int
	for _, s := range ss {
		pids = append(pids, s.Pid)
	}
	return pids
}

func TestInspectLock(t *testing.T) {
	ctx := testContext(t)
	m := startManager(t)
	ready, err := manager.NewEvent(ctx, m)
	require.NoError(t, err)
	q, err := manager.OpenQueue[int](ctx, m, "stats.q", 0)
	require.NoError(t, err)
	p, err := m.Fork(ctx, "stats.hold", "stats.lock", ready, q)
	require.NoError(t, err)
	require.NoError(t, ready.Wait(ctx))
	l, err := manager.OpenLock(ctx, m, "stats.lock")
	require.NoError(t, err)
	acquired := make(chan error, 1)
	go func() { acquired <- l.Acquire(ctx) }()

	// Poll (bounded by ctx) until this process's Acquire and the
	// worker's Get wait.
	var byName map[string]manager.ObjectInfo
	for {
		objs, err := m.Objects(ctx)
		require.NoError(t, err)
		byName = map[string]manager.ObjectInfo{}
		for _, o := range objs {
			byName[o.Name] = o
		}
		if len(byName["stats.lock"].Waiters) == 1 && len(byName["stats.q"].Getters) == 1 {
			break
		}
		require.NoError(t, ctx.Err(), "the Acquire or the Get never waited")
	}
	info, err := m.Inspect(ctx, "stats.lock")
	require.NoError(t, err)
	assert.Equal(t, "Lock", info.Type)
	assert.True(t, info.Inspected)
	require.Len(t, info.Holders, 1)
	assert.Equal(t, p.Pid(), info.Holders[0].Pid)
	assert.Positive(t, info.Holders[0].HeldFor)
	require.Len(t, info.Waiters, 1)
	assert.Equal(t, os.Getpid(), info.Waiters[0].Pid)
	assert.Equal(t, p.Pid(), byName["stats.q"].Getters[0].Pid)
	assert.Equal(t, 0, byName["stats.q"].Len)

	_, err = m.Inspect(ctx, "stats.none")
	assert.ErrorIs(t, err, manager.ErrNoSuchObject)

	require.NoError(t, q.Put(ctx, 1))
	require.NoError(t, waitProcess(ctx, t, p))
	assert.ErrorIs(t, <-acquired, manager.ErrAbandoned)
	require.NoError(t, l.Release(ctx))
}

// ownGCSettings returns this process's memory limit and GC percentage,
// which a manager process inherits through GOMEMLIMIT and GOGC.
func ownGCSettings() (limit int64, percent int) {
	s := []metrics.Sample{{Name: "/gc/gogc:percent"}}
	metrics.Read(s)
	return debug.SetMemoryLimit(-1), int(int64(s[0].Value.Uint64()))
}

func TestStartMemoryOptions(t *testing.T) {
	ownLimit, ownPercent := ownGCSettings()
	tests := []struct {
		name        string
		give        []manager.StartOption
		wantLimit   int64
		wantPercent int
		wantOwnPid  bool
	}{
		{name: "default: inherited", wantLimit: ownLimit, wantPercent: ownPercent},
		{name: "limit and percent", give: []manager.StartOption{manager.WithMemoryLimit(3 << 30), manager.WithGCPercent(50)}, wantLimit: 3 << 30, wantPercent: 50},
		{name: "collector off under a limit", give: []manager.StartOption{manager.WithMemoryLimit(1 << 30), manager.WithGCPercent(-1)}, wantLimit: 1 << 30, wantPercent: -1},
		{name: "in process: the caller's own", give: []manager.StartOption{manager.InProcess(), manager.WithMemoryLimit(3 << 30), manager.WithGCPercent(50)}, wantLimit: ownLimit, wantPercent: ownPercent, wantOwnPid: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := testContext(t)
			m := startManager(t, tt.give...)
			st, err := m.Stats(ctx)
			require.NoError(t, err)
			assert.Equal(t, tt.wantOwnPid, st.ManagerPid == os.Getpid(), "where the manager runs")
			assert.Equal(t, tt.wantLimit, st.Memory.Limit)
			assert.Equal(t, tt.wantPercent, st.Memory.GCPercent)
		})
	}
}
