package manager_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/goproc/manager"
)

// shortWait is the deadline of calls that are meant to time out: long
// enough for the call to reach the manager and block there, short enough
// to keep the tests fast.
const shortWait = 50 * time.Millisecond

func init() {
	manager.RegisterWorker("typed.create-and-exit", func(ctx context.Context, c *manager.Client, args manager.Args) error {
		var report *manager.Queue[int]
		if err := args.Decode(&report); err != nil {
			return err
		}
		// Objects this process creates and never closes: its exit frees them.
		if _, err := manager.NewDict[string, int](ctx, c); err != nil {
			return err
		}
		if _, err := manager.NewList[int](ctx, c, 1, 2, 3); err != nil {
			return err
		}
		if _, err := manager.NewLock(ctx, c); err != nil {
			return err
		}
		n, err := c.NumObjects(ctx)
		if err != nil {
			return err
		}
		return report.Put(ctx, n)
	})
}

// runWorkers forks n workers running name, passing each args followed by
// its index 0..n-1, and requires that they all succeed.
func runWorkers(ctx context.Context, t testing.TB, m *manager.Manager, n int, name string, args ...any) {
	t.Helper()
	procs := make([]*manager.Process, n)
	for i := range procs {
		p, err := m.Fork(ctx, name, append(append([]any(nil), args...), i)...)
		require.NoError(t, err)
		procs[i] = p
	}
	for _, p := range procs {
		require.NoError(t, waitProcess(ctx, t, p))
	}
}

// startWorker forks one worker and returns a function that waits for it
// and requires its success; the test also waits for it at cleanup.
func startWorker(ctx context.Context, t testing.TB, m *manager.Manager, name string, args ...any) (wait func()) {
	t.Helper()
	p, err := m.Fork(ctx, name, args...)
	require.NoError(t, err)
	t.Cleanup(func() { waitProcess(ctx, t, p) })
	return func() {
		t.Helper()
		require.NoError(t, waitProcess(ctx, t, p))
	}
}

// secondSession opens another session with m's manager, as another
// process would have: it owns locks and permits separately.
func secondSession(t testing.TB, m *manager.Manager) *manager.Client {
	t.Helper()
	ctx := testContext(t)
	c, err := manager.Connect(ctx, m.Addr().Network(), m.Addr().String(), m.AuthKey())
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

// expiring returns a context that ends after shortWait.
func expiring(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(testContext(t), shortWait)
	t.Cleanup(cancel)
	return ctx
}

// numObjects returns the number of live objects in m's manager.
func numObjects(ctx context.Context, t testing.TB, m *manager.Manager) int {
	t.Helper()
	n, err := m.NumObjects(ctx)
	require.NoError(t, err)
	return n
}

func TestTypedProxyClosedFreesObject(t *testing.T) {
	ctx := testContext(t)
	m := startManager(t, manager.InProcess())
	before := numObjects(ctx, t, m)

	d, err := manager.NewDict[string, int](ctx, m)
	require.NoError(t, err)
	q, err := manager.NewQueue[int](ctx, m, 0)
	require.NoError(t, err)
	e, err := manager.NewEvent(ctx, m)
	require.NoError(t, err)
	assert.Equal(t, before+3, numObjects(ctx, t, m))

	for _, c := range []interface{ Close() error }{d, q, e} {
		require.NoError(t, c.Close())
	}
	assert.Equal(t, before, numObjects(ctx, t, m))
	require.NoError(t, d.Close(), "Close twice")
	err = d.Store(ctx, "k", 1)
	assert.ErrorIs(t, err, manager.ErrClosed, "call through a closed proxy")
}

func TestTypedProxyNamedObjectLivesUntilDeleted(t *testing.T) {
	ctx := testContext(t)
	m := startManager(t, manager.InProcess())
	before := numObjects(ctx, t, m)

	v, err := manager.OpenValue(ctx, m, "answer", 42)
	require.NoError(t, err)
	require.NoError(t, v.Close())
	assert.Equal(t, before+1, numObjects(ctx, t, m), "a named object outlives its proxies")

	other := secondSession(t, m)
	again, err := manager.OpenValue(ctx, other, "answer", 0)
	require.NoError(t, err)
	got, err := again.Load(ctx)
	require.NoError(t, err)
	assert.Equal(t, 42, got, "the second Open finds the first object; its initial value is ignored")

	_, err = manager.OpenQueue[int](ctx, m, "answer", 1)
	assert.ErrorIs(t, err, manager.ErrWrongType)

	deleted, err := m.Delete(ctx, "answer")
	require.NoError(t, err)
	assert.True(t, deleted)
	assert.Equal(t, before+1, numObjects(ctx, t, m), "still referenced by the second session's proxy")
	require.NoError(t, again.Close())
	assert.Equal(t, before, numObjects(ctx, t, m))
}

func TestTypedProxyFreedWhenProcessExits(t *testing.T) {
	ctx := testContext(t)
	m := startManager(t, manager.InProcess())
	report, err := manager.NewQueue[int](ctx, m, 0)
	require.NoError(t, err)
	before := numObjects(ctx, t, m)

	runWorkers(ctx, t, m, 1, "typed.create-and-exit", report)
	during, err := report.Get(ctx)
	require.NoError(t, err)
	assert.Equal(t, before+3, during, "objects while the worker ran")

	// The worker's session ends when the manager sees its connections
	// close, which happens after the worker has exited.
	assert.Eventually(t, func() bool { return numObjects(ctx, t, m) == before }, 5*time.Second, time.Millisecond)
}

func TestTypedProxyDecodeChecksType(t *testing.T) {
	ctx := testContext(t)
	m := startManager(t, manager.InProcess())
	l, err := manager.NewList[int](ctx, m)
	require.NoError(t, err)
	before := numObjects(ctx, t, m)

	raw, err := msgpack.Marshal(l)
	require.NoError(t, err)
	var q *manager.Queue[int]
	err = msgpack.Unmarshal(raw, &q)
	assert.ErrorIs(t, err, manager.ErrWrongType, "a List proxy decoded as a Queue")
	var back *manager.List[int]
	require.NoError(t, msgpack.Unmarshal(raw, &back))
	assert.Equal(t, l.Proxy().ID(), back.Proxy().ID())
	assert.Equal(t, before, numObjects(ctx, t, m))

	// A JoinableQueue is a Queue, and a BoundedSemaphore a Semaphore, but
	// not the other way round.
	jq, err := manager.NewJoinableQueue[int](ctx, m, 0)
	require.NoError(t, err)
	raw, err = msgpack.Marshal(jq)
	require.NoError(t, err)
	require.NoError(t, msgpack.Unmarshal(raw, &q))
	assert.Equal(t, "JoinableQueue", q.Proxy().TypeID())
	plain, err := manager.NewQueue[int](ctx, m, 0)
	require.NoError(t, err)
	raw, err = msgpack.Marshal(plain)
	require.NoError(t, err)
	err = msgpack.Unmarshal(raw, &jq)
	assert.ErrorIs(t, err, manager.ErrWrongType)
	bs, err := manager.NewBoundedSemaphore(ctx, m, 1)
	require.NoError(t, err)
	raw, err = msgpack.Marshal(bs)
	require.NoError(t, err)
	var sem *manager.Semaphore
	require.NoError(t, msgpack.Unmarshal(raw, &sem))
	err = msgpack.Unmarshal(raw, &jq)
	assert.ErrorIs(t, err, manager.ErrWrongType)
}

func TestTypedProxyEncodeNilAndZero(t *testing.T) {
	_, err := msgpack.Marshal(&manager.List[int]{})
	assert.Error(t, err, "a proxy that was never created cannot be encoded")

	var l *manager.List[int]
	raw, err := msgpack.Marshal(l)
	require.NoError(t, err)
	var back *manager.List[int]
	require.NoError(t, msgpack.Unmarshal(raw, &back))
	assert.Nil(t, back, "a nil proxy round-trips as nil")
}

// TestOpenFindsTheSameObject opens every type twice by name, from two
// sessions, and checks that both proxies name one object.
func TestOpenFindsTheSameObject(t *testing.T) {
	ctx := testContext(t)
	m := startManager(t, manager.InProcess())
	other := secondSession(t, m)
	type proxied interface{ Proxy() *manager.Proxy }
	tests := []struct {
		typeid string
		open   func(s manager.Session, name string) (proxied, error)
	}{
		{"Dict", func(s manager.Session, name string) (proxied, error) {
			return manager.OpenDict[string, int](ctx, s, name)
		}},
		{"List", func(s manager.Session, name string) (proxied, error) { return manager.OpenList[int](ctx, s, name) }},
		{"Namespace", func(s manager.Session, name string) (proxied, error) { return manager.OpenNamespace(ctx, s, name) }},
		{"Value", func(s manager.Session, name string) (proxied, error) { return manager.OpenValue(ctx, s, name, 0) }},
		{"Array", func(s manager.Session, name string) (proxied, error) {
			return manager.OpenArray(ctx, s, name, []int{0})
		}},
		{"Queue", func(s manager.Session, name string) (proxied, error) { return manager.OpenQueue[int](ctx, s, name, 0) }},
		{"JoinableQueue", func(s manager.Session, name string) (proxied, error) {
			return manager.OpenJoinableQueue[int](ctx, s, name, 0)
		}},
		{"Lock", func(s manager.Session, name string) (proxied, error) { return manager.OpenLock(ctx, s, name) }},
		{"RLock", func(s manager.Session, name string) (proxied, error) { return manager.OpenRLock(ctx, s, name) }},
		{"Semaphore", func(s manager.Session, name string) (proxied, error) { return manager.OpenSemaphore(ctx, s, name, 1) }},
		{"BoundedSemaphore", func(s manager.Session, name string) (proxied, error) {
			return manager.OpenBoundedSemaphore(ctx, s, name, 1)
		}},
		{"Condition", func(s manager.Session, name string) (proxied, error) { return manager.OpenCondition(ctx, s, name, nil) }},
		{"Event", func(s manager.Session, name string) (proxied, error) { return manager.OpenEvent(ctx, s, name) }},
		{"Barrier", func(s manager.Session, name string) (proxied, error) { return manager.OpenBarrier(ctx, s, name, 2) }},
	}
	for _, tt := range tests {
		t.Run(tt.typeid, func(t *testing.T) {
			name := "open-" + tt.typeid
			first, err := tt.open(m, name)
			require.NoError(t, err)
			second, err := tt.open(other, name)
			require.NoError(t, err)
			assert.Equal(t, tt.typeid, first.Proxy().TypeID())
			assert.Equal(t, first.Proxy().ID(), second.Proxy().ID())
		})
	}
}
