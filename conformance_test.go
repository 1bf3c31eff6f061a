package manager_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/goproc/manager"
	"github.com/goproc/manager/internal/redistest"
)

// TestConformance runs one suite of subtests on every engine: a manager
// process (TestConformance/manager/...), a standalone Redis with AOF
// (TestConformance/redis/...) and a three-master Redis Cluster
// (TestConformance/redis-cluster/...). Each engine's server starts once;
// each subtest has its own sessions (on Redis, in a namespace of its own)
// and its own deadline. What the engines may do differently is not
// tested here but listed in the README ("Beyond one machine").

// confLease is the lease of the Redis sessions of the suite: how long a
// SIGKILLed worker's holds outlive it there.
const confLease = time.Second

// confEnv is one subtest's view of an engine.
type confEnv struct {
	// s is the subtest's main session.
	s manager.Session
	// other opens another session on the same objects: another
	// process's, as far as ownership goes.
	other func(t testing.TB) manager.Session
	// fork starts a worker process with its own session.
	fork func(ctx context.Context, worker string, args ...any) (*manager.Process, error)
	// name makes a name for a named object unique to the subtest.
	name func(string) string
	// lease bounds how long a dead session's holds last (0: a manager
	// releases them when the connection closes).
	lease time.Duration
}

// confEngine starts an engine's server once and returns how to make a
// subtest's environment on it.
type confEngine struct {
	name  string
	start func(t *testing.T) func(t *testing.T) *confEnv
}

var confEngines = []confEngine{
	{"manager", func(t *testing.T) func(t *testing.T) *confEnv {
		m := startManager(t)
		return func(t *testing.T) *confEnv {
			prefix := t.Name() + "/"
			return &confEnv{
				s: m,
				other: func(t testing.TB) manager.Session {
					c, err := manager.Connect(testContext(t), m.Addr().Network(), m.Addr().String(), m.AuthKey())
					require.NoError(t, err)
					t.Cleanup(func() { c.Close() })
					return c
				},
				fork: m.Fork,
				name: func(s string) string { return prefix + s },
			}
		}
	}},
	{"redis", func(t *testing.T) func(t *testing.T) *confEnv {
		srv := redistest.Standalone(t)
		return redisConfEnv("redis://" + srv.Addr)
	}},
	{"redis-cluster", func(t *testing.T) func(t *testing.T) *confEnv {
		c := redistest.NewCluster(t)
		addrs := c.Addrs()
		return redisConfEnv("redis://" + addrs[0] + "?addr=" + strings.Join(addrs[1:], "&addr="))
	}},
}

var confNamespaces atomic.Int64

// redisConfEnv makes a subtest's environment on the Redis at url, in a
// namespace of its own, purged when the subtest ends.
func redisConfEnv(url string) func(t *testing.T) *confEnv {
	return func(t *testing.T) *confEnv {
		ns := fmt.Sprintf("conf%d", confNamespaces.Add(1))
		open := func(t testing.TB) *manager.RedisSession {
			s, err := manager.ConnectRedis(testContext(t), url, manager.WithRedisNamespace(ns), manager.WithRedisLease(confLease))
			require.NoError(t, err)
			t.Cleanup(func() { s.Close() })
			return s
		}
		s := open(t)
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			assert.NoError(t, s.Purge(ctx))
		})
		return &confEnv{
			s:     s,
			other: func(t testing.TB) manager.Session { return open(t) },
			fork:  s.Fork,
			name:  func(s string) string { return s },
			lease: confLease,
		}
	}
}

// confTests are the suite, by name.
var confTests = []struct {
	name string
	run  func(ctx context.Context, t *testing.T, e *confEnv)
}{
	{"Dict", confDict},
	{"List", confList},
	{"Namespace", confNamespace},
	{"Value", confValue},
	{"Array", confArray},
	{"Queue", confQueue},
	{"Queue/withdrawn-get-consumes-nothing", confQueueWithdrawn},
	{"Queue/wrong-type-get-keeps-the-item", confWrongTypeKeeps},
	{"Queue/Shutdown", confQueueShutdown},
	{"JoinableQueue", confJoinableQueue},
	{"Lock", confLock},
	{"RLock", confRLock},
	{"Semaphore", confSemaphore},
	{"BoundedSemaphore", confBoundedSemaphore},
	{"Condition", confCondition},
	{"Event", confEvent},
	{"Barrier", confBarrier},
	{"Fork/proxies-bound-to-the-worker", confForkProxies},
	{"OwnerDeath/SIGKILL", confOwnerDeath},
	{"Batch/per-call-results", confBatchPerCall},
	{"Batch/blocking-call-waits", confBatchBlocking},
	{"Batch/withdrawn-at-deadline", confBatchWithdrawn},
	{"Batch/wrong-type-get-keeps-the-item", confBatchWrongType},
	{"Batch/large", confBatchLarge},
	{"Dict/LoadMany-and-paged-All", confDictPaged},
	{"List/paged-All", confListPaged},
	{"Array/paged-All", confArrayPaged},
	{"Introspection", confIntrospection},
}

func TestConformance(t *testing.T) {
	for _, eng := range confEngines {
		t.Run(eng.name, func(t *testing.T) {
			env := eng.start(t)
			for _, tt := range confTests {
				t.Run(tt.name, func(t *testing.T) {
					ctx := testContext(t)
					tt.run(ctx, t, env(t))
				})
			}
		})
	}
}

// within runs fn in a goroutine and returns a channel of its error.
func within(fn func() error) <-chan error {
	ch := make(chan error, 1)
	go func() { ch <- fn() }()
	return ch
}

// recvErr waits for ch within ctx.
func recvErr(ctx context.Context, t testing.TB, ch <-chan error) error {
	t.Helper()
	select {
	case err := <-ch:
		return err
	case <-ctx.Done():
		require.FailNow(t, "a blocked call did not return", "%v", ctx.Err())
		return nil
	}
}

// shortly returns a context ending after d, for calls that must block.
func shortly(ctx context.Context, t testing.TB, d time.Duration) context.Context {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, d)
	t.Cleanup(cancel)
	return c
}

func confDict(ctx context.Context, t *testing.T, e *confEnv) {
	d, err := manager.NewDict[string, int](ctx, e.s)
	require.NoError(t, err)
	defer d.Close()

	require.NoError(t, d.Store(ctx, "a", 1))
	v, ok, err := d.Load(ctx, "a")
	require.NoError(t, err)
	assert.Equal(t, 1, v)
	assert.True(t, ok)
	_, ok, err = d.Load(ctx, "zz")
	require.NoError(t, err)
	assert.False(t, ok)

	v, loaded, err := d.LoadOrStore(ctx, "a", 5)
	require.NoError(t, err)
	assert.Equal(t, 1, v)
	assert.True(t, loaded)
	v, loaded, err = d.LoadOrStore(ctx, "b", 2)
	require.NoError(t, err)
	assert.Equal(t, 2, v)
	assert.False(t, loaded)

	v, loaded, err = d.Swap(ctx, "b", 3)
	require.NoError(t, err)
	assert.Equal(t, 2, v)
	assert.True(t, loaded)
	ok, err = d.CompareAndSwap(ctx, "b", 2, 9)
	require.NoError(t, err)
	assert.False(t, ok, "CompareAndSwap with a stale old value")
	ok, err = d.CompareAndSwap(ctx, "b", 3, 4)
	require.NoError(t, err)
	assert.True(t, ok)
	ok, err = d.CompareAndDelete(ctx, "b", 3)
	require.NoError(t, err)
	assert.False(t, ok)
	ok, err = d.CompareAndDelete(ctx, "b", 4)
	require.NoError(t, err)
	assert.True(t, ok)

	got, err := d.Modify(ctx, "m", func(old int, ok bool) (int, error) {
		assert.False(t, ok)
		return old + 10, nil
	})
	require.NoError(t, err)
	assert.Equal(t, 10, got)
	got, err = d.Add(ctx, "m", 5)
	require.NoError(t, err)
	assert.Equal(t, 15, got)
	ok, err = d.Has(ctx, "m")
	require.NoError(t, err)
	assert.True(t, ok)

	v, loaded, err = d.LoadAndDelete(ctx, "m")
	require.NoError(t, err)
	assert.Equal(t, 15, v)
	assert.True(t, loaded)
	ok, err = d.Delete(ctx, "m")
	require.NoError(t, err)
	assert.False(t, ok)

	require.NoError(t, d.Update(ctx, map[string]int{"x": 7, "y": 8}))
	require.NoError(t, d.UpdatePairs(ctx, []manager.Pair[string, int]{{Key: "z", Value: 9}}))
	n, err := d.Len(ctx)
	require.NoError(t, err)
	assert.Equal(t, 4, n)
	keys, err := d.Keys(ctx)
	require.NoError(t, err)
	slices.Sort(keys)
	assert.Equal(t, []string{"a", "x", "y", "z"}, keys)
	vals, err := d.Values(ctx)
	require.NoError(t, err)
	slices.Sort(vals)
	assert.Equal(t, []int{1, 7, 8, 9}, vals)
	items, err := d.Items(ctx)
	require.NoError(t, err)
	assert.Len(t, items, 4)
	cp, err := d.Copy(ctx)
	require.NoError(t, err)
	assert.Equal(t, map[string]int{"a": 1, "x": 7, "y": 8, "z": 9}, cp)
	seen := map[string]int{}
	require.NoError(t, d.Range(ctx, func(k string, v int) bool { seen[k] = v; return true }))
	assert.Equal(t, cp, seen)
	walked := map[string]int{}
	for p, err := range d.All(ctx) {
		require.NoError(t, err)
		walked[p.Key] = p.Value
	}
	assert.Equal(t, cp, walked)

	k, v, err := d.PopItem(ctx)
	require.NoError(t, err)
	assert.Equal(t, cp[k], v)
	require.NoError(t, d.Clear(ctx))
	n, err = d.Len(ctx)
	require.NoError(t, err)
	assert.Equal(t, 0, n)
	_, _, err = d.PopItem(ctx)
	assert.ErrorIs(t, err, manager.ErrEmpty)

	// Another session finds the named dict by name, and sees its writes.
	named, err := manager.OpenDict[string, int](ctx, e.s, e.name("dict"))
	require.NoError(t, err)
	require.NoError(t, named.Store(ctx, "k", 42))
	peer, err := manager.OpenDict[string, int](ctx, e.other(t), e.name("dict"))
	require.NoError(t, err)
	v, ok, err = peer.Load(ctx, "k")
	require.NoError(t, err)
	assert.Equal(t, 42, v)
	assert.True(t, ok)
	_, err = manager.OpenList[int](ctx, e.s, e.name("dict"))
	assert.ErrorIs(t, err, manager.ErrWrongType)
}

func confList(ctx context.Context, t *testing.T, e *confEnv) {
	l, err := manager.NewList(ctx, e.s, 3, 1, 2)
	require.NoError(t, err)
	defer l.Close()
	all := func() []int {
		t.Helper()
		xs, err := l.Copy(ctx)
		require.NoError(t, err)
		walked := []int{}
		for x, err := range l.All(ctx) {
			require.NoError(t, err)
			walked = append(walked, x)
		}
		assert.Equal(t, append([]int{}, xs...), walked, "All walks what Copy copies")
		return xs
	}
	require.NoError(t, l.Append(ctx, 4))
	require.NoError(t, l.Extend(ctx, 5, 6))
	require.NoError(t, l.Insert(ctx, 0, 0))
	require.NoError(t, l.Insert(ctx, -1, 9)) // Python: before the last
	assert.Equal(t, []int{0, 3, 1, 2, 4, 5, 9, 6}, all())
	n, err := l.Len(ctx)
	require.NoError(t, err)
	assert.Equal(t, 8, n)
	x, err := l.Get(ctx, -1)
	require.NoError(t, err)
	assert.Equal(t, 6, x)
	_, err = l.Get(ctx, 8)
	assert.ErrorIs(t, err, manager.ErrIndexOutOfRange)
	require.NoError(t, l.Set(ctx, 1, 30))
	require.NoError(t, l.Delete(ctx, 2))
	assert.Equal(t, []int{0, 30, 2, 4, 5, 9, 6}, all())
	xs, err := l.GetSlice(ctx, manager.SliceRange(1, 3))
	require.NoError(t, err)
	assert.Equal(t, []int{30, 2}, xs)
	require.NoError(t, l.SetSlice(ctx, manager.SliceFrom(5), []int{7, 7, 7}))
	require.NoError(t, l.DeleteSlice(ctx, manager.SliceTo(1)))
	assert.Equal(t, []int{30, 2, 4, 5, 7, 7, 7}, all())
	x, err = l.Pop(ctx, -1)
	require.NoError(t, err)
	assert.Equal(t, 7, x)
	require.NoError(t, l.Remove(ctx, 7))
	assert.ErrorIs(t, l.Remove(ctx, 99), manager.ErrNotFound)
	ok, err := l.Contains(ctx, 7)
	require.NoError(t, err)
	assert.True(t, ok)
	c, err := l.Count(ctx, 7)
	require.NoError(t, err)
	assert.Equal(t, 1, c)
	i, err := l.Index(ctx, 4)
	require.NoError(t, err)
	assert.Equal(t, 2, i)
	_, err = l.IndexRange(ctx, 30, 1, 3)
	assert.ErrorIs(t, err, manager.ErrNotFound)
	require.NoError(t, l.Reverse(ctx))
	assert.Equal(t, []int{7, 5, 4, 2, 30}, all())
	require.NoError(t, l.Sort(ctx, false))
	assert.Equal(t, []int{2, 4, 5, 7, 30}, all())
	require.NoError(t, l.Sort(ctx, true))
	assert.Equal(t, []int{30, 7, 5, 4, 2}, all())
	got, err := l.Modify(ctx, func(items []int) ([]int, error) { return append(items, len(items)), nil })
	require.NoError(t, err)
	assert.Equal(t, []int{30, 7, 5, 4, 2, 5}, got)
	require.NoError(t, l.Clear(ctx))
	assert.Empty(t, all())
	_, err = l.Pop(ctx, 0)
	assert.ErrorIs(t, err, manager.ErrIndexOutOfRange)
}

func confNamespace(ctx context.Context, t *testing.T, e *confEnv) {
	ns, err := manager.NewNamespace(ctx, e.s)
	require.NoError(t, err)
	defer ns.Close()
	require.NoError(t, ns.Set(ctx, "n", 1))
	require.NoError(t, ns.Set(ctx, "s", "x"))
	var n int
	ok, err := ns.Get(ctx, "n", &n)
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Equal(t, 1, n)
	ok, err = ns.Get(ctx, "missing", &n)
	require.NoError(t, err)
	assert.False(t, ok)
	ok, err = ns.Has(ctx, "s")
	require.NoError(t, err)
	assert.True(t, ok)
	names, err := ns.Names(ctx)
	require.NoError(t, err)
	slices.Sort(names)
	assert.Equal(t, []string{"n", "s"}, names)
	var vars struct {
		N int    `msgpack:"n"`
		S string `msgpack:"s"`
	}
	require.NoError(t, ns.Vars(ctx, &vars))
	assert.Equal(t, 1, vars.N)
	assert.Equal(t, "x", vars.S)
	ok, err = ns.Delete(ctx, "n")
	require.NoError(t, err)
	assert.True(t, ok)
	ok, err = ns.Delete(ctx, "n")
	require.NoError(t, err)
	assert.False(t, ok)
}

func confValue(ctx context.Context, t *testing.T, e *confEnv) {
	v, err := manager.NewValue(ctx, e.s, 5)
	require.NoError(t, err)
	defer v.Close()
	x, err := v.Load(ctx)
	require.NoError(t, err)
	assert.Equal(t, 5, x)
	require.NoError(t, v.Store(ctx, 6))
	x, err = v.Swap(ctx, 7)
	require.NoError(t, err)
	assert.Equal(t, 6, x)
	ok, err := v.CompareAndSwap(ctx, 6, 0)
	require.NoError(t, err)
	assert.False(t, ok)
	ok, err = v.CompareAndSwap(ctx, 7, 8)
	require.NoError(t, err)
	assert.True(t, ok)
	x, err = v.Add(ctx, 2)
	require.NoError(t, err)
	assert.Equal(t, 10, x)
	x, err = v.Modify(ctx, func(old int) (int, error) { return old * 3, nil })
	require.NoError(t, err)
	assert.Equal(t, 30, x)

	// Add is atomic across sessions.
	peer, err := manager.OpenValue(ctx, e.other(t), e.name("counter"), 0)
	require.NoError(t, err)
	mine, err := manager.OpenValue(ctx, e.s, e.name("counter"), 0)
	require.NoError(t, err)
	var wg sync.WaitGroup
	for _, c := range []*manager.Value[int]{peer, mine} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				if _, err := c.Add(ctx, 1); err != nil {
					assert.NoError(t, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	x, err = mine.Load(ctx)
	require.NoError(t, err)
	assert.Equal(t, 100, x)
}

func confArray(ctx context.Context, t *testing.T, e *confEnv) {
	a, err := manager.NewArray(ctx, e.s, []float64{1, 2, 3, 4})
	require.NoError(t, err)
	defer a.Close()
	n, err := a.Len(ctx)
	require.NoError(t, err)
	assert.Equal(t, 4, n)
	x, err := a.Get(ctx, -1)
	require.NoError(t, err)
	assert.Equal(t, 4.0, x)
	require.NoError(t, a.Set(ctx, 0, 10))
	xs, err := a.GetSlice(ctx, manager.SliceRange(0, 2))
	require.NoError(t, err)
	assert.Equal(t, []float64{10, 2}, xs)
	require.NoError(t, a.SetSlice(ctx, manager.SliceFrom(2), []float64{30, 40}))
	x, err = a.Add(ctx, 1, 0.5)
	require.NoError(t, err)
	assert.Equal(t, 2.5, x)
	all, err := a.Copy(ctx)
	require.NoError(t, err)
	assert.Equal(t, []float64{10, 2.5, 30, 40}, all)
	var walked []float64
	for x, err := range a.All(ctx) {
		require.NoError(t, err)
		walked = append(walked, x)
	}
	assert.Equal(t, all, walked, "All walks what Copy copies")
	got, err := a.Modify(ctx, func(items []float64) ([]float64, error) {
		for i := range items {
			items[i]++
		}
		return items, nil
	})
	require.NoError(t, err)
	assert.Equal(t, []float64{11, 3.5, 31, 41}, got)
	_, err = a.Get(ctx, 4)
	assert.ErrorIs(t, err, manager.ErrIndexOutOfRange)
	// An Array's length is fixed.
	assert.Error(t, a.SetSlice(ctx, manager.SliceFrom(0), []float64{1}))
}

func confQueue(ctx context.Context, t *testing.T, e *confEnv) {
	q, err := manager.OpenQueue[string](ctx, e.s, e.name("q"), 2)
	require.NoError(t, err)
	defer q.Close()
	c, err := q.Cap(ctx)
	require.NoError(t, err)
	assert.Equal(t, 2, c)
	empty, err := q.Empty(ctx)
	require.NoError(t, err)
	assert.True(t, empty)
	_, err = q.TryGet(ctx)
	assert.ErrorIs(t, err, manager.ErrEmpty)
	require.NoError(t, q.Put(ctx, "a"))
	require.NoError(t, q.TryPut(ctx, "b"))
	full, err := q.Full(ctx)
	require.NoError(t, err)
	assert.True(t, full)
	assert.ErrorIs(t, q.TryPut(ctx, "c"), manager.ErrFull)
	// A Put on a full queue blocks until its deadline, and adds nothing.
	err = q.Put(shortly(ctx, t, 50*time.Millisecond), "c")
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	n, err := q.Len(ctx)
	require.NoError(t, err)
	assert.Equal(t, 2, n)
	x, err := q.Get(ctx)
	require.NoError(t, err)
	assert.Equal(t, "a", x)
	x, err = q.TryGet(ctx)
	require.NoError(t, err)
	assert.Equal(t, "b", x)

	// A Get blocked in one session is woken by a Put from another.
	peer, err := manager.OpenQueue[string](ctx, e.other(t), e.name("q"), 2)
	require.NoError(t, err)
	var got string
	done := within(func() (err error) { got, err = q.Get(ctx); return err })
	require.NoError(t, peer.Put(ctx, "from the peer"))
	require.NoError(t, recvErr(ctx, t, done))
	assert.Equal(t, "from the peer", got)

	// A Get withdrawn at its deadline returns in time.
	start := time.Now()
	_, err = q.Get(shortly(ctx, t, 100*time.Millisecond))
	late := time.Since(start) - 100*time.Millisecond
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Less(t, late, time.Second, "a Get returned %v after its deadline", late)
	t.Logf("a Get returned %v after its deadline", late)
}

// confQueueWithdrawn races Gets whose deadlines end against Puts: every
// item is either received by a Get that returned it, or still in the
// queue — a withdrawn Get consumes nothing.
func confQueueWithdrawn(ctx context.Context, t *testing.T, e *confEnv) {
	q, err := manager.OpenQueue[int](ctx, e.s, e.name("q"), 0)
	require.NoError(t, err)
	peer, err := manager.OpenQueue[int](ctx, e.other(t), e.name("q"), 0)
	require.NoError(t, err)
	const n = 60
	var received []int
	for i := range n {
		get := within(func() error {
			gctx, cancel := context.WithTimeout(ctx, time.Duration(rand.IntN(3000))*time.Microsecond)
			defer cancel()
			x, err := q.Get(gctx)
			if err == nil {
				received = append(received, x)
			}
			if errors.Is(err, context.DeadlineExceeded) {
				return nil
			}
			return err
		})
		time.Sleep(time.Duration(rand.IntN(3000)) * time.Microsecond) // sleep-ok: spreads the Put around the Get's deadline
		require.NoError(t, peer.Put(ctx, i))
		require.NoError(t, recvErr(ctx, t, get))
	}
	left := received
	for {
		x, err := q.TryGet(ctx)
		if errors.Is(err, manager.ErrEmpty) {
			break
		}
		require.NoError(t, err)
		left = append(left, x)
	}
	slices.Sort(left)
	want := make([]int, n)
	for i := range want {
		want[i] = i
	}
	assert.Equal(t, want, left, "every item put was received once or is still queued")
	t.Logf("%d of %d items received by a Get racing its deadline", len(received), n)
}

func confJoinableQueue(ctx context.Context, t *testing.T, e *confEnv) {
	q, err := manager.NewJoinableQueue[int](ctx, e.s, 0)
	require.NoError(t, err)
	defer q.Close()
	require.NoError(t, q.Put(ctx, 1))
	require.NoError(t, q.TryPut(ctx, 2))
	n, err := q.Len(ctx)
	require.NoError(t, err)
	assert.Equal(t, 2, n)
	c, err := q.Cap(ctx)
	require.NoError(t, err)
	assert.Equal(t, 0, c)
	full, err := q.Full(ctx)
	require.NoError(t, err)
	assert.False(t, full)
	x, err := q.Get(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, x)
	x, err = q.TryGet(ctx)
	require.NoError(t, err)
	assert.Equal(t, 2, x)
	empty, err := q.Empty(ctx)
	require.NoError(t, err)
	assert.True(t, empty)
	// Join waits for both TaskDones.
	assert.ErrorIs(t, q.Join(shortly(ctx, t, 50*time.Millisecond)), context.DeadlineExceeded)
	require.NoError(t, q.TaskDone(ctx))
	joined := within(func() error { return q.Join(ctx) })
	require.NoError(t, q.TaskDone(ctx))
	require.NoError(t, recvErr(ctx, t, joined))
	assert.Error(t, q.TaskDone(ctx), "TaskDone with no unfinished task")
}

func confLock(ctx context.Context, t *testing.T, e *confEnv) {
	l, err := manager.OpenLock(ctx, e.s, e.name("lock"))
	require.NoError(t, err)
	peer, err := manager.OpenLock(ctx, e.other(t), e.name("lock"))
	require.NoError(t, err)

	_, err = l.Token(ctx)
	assert.ErrorIs(t, err, manager.ErrNotHeld)
	assert.ErrorIs(t, l.Release(ctx), manager.ErrNotHeld)
	require.NoError(t, l.Acquire(ctx))
	locked, err := peer.Locked(ctx)
	require.NoError(t, err)
	assert.True(t, locked)
	tok1, err := l.Token(ctx)
	require.NoError(t, err)
	_, err = peer.Token(ctx)
	assert.ErrorIs(t, err, manager.ErrNotHeld, "the peer does not hold the lock")
	ok, err := peer.TryAcquire(ctx)
	require.NoError(t, err)
	assert.False(t, ok)
	assert.ErrorIs(t, peer.Release(ctx), manager.ErrNotHeld)
	// An Acquire withdrawn at its deadline leaves the lock to its holder,
	// and takes nothing later.
	assert.ErrorIs(t, peer.Acquire(shortly(ctx, t, 50*time.Millisecond)), context.DeadlineExceeded)
	require.NoError(t, l.Release(ctx))
	locked, err = l.Locked(ctx)
	require.NoError(t, err)
	assert.False(t, locked, "the withdrawn Acquire left the lock to nobody")

	// A waiting Acquire gets the lock when it is released.
	require.NoError(t, l.Acquire(ctx))
	tok2, err := l.Token(ctx)
	require.NoError(t, err)
	waiting := within(func() error { return peer.Acquire(ctx) })
	require.NoError(t, l.Release(ctx))
	require.NoError(t, recvErr(ctx, t, waiting))
	tok3, err := peer.Token(ctx)
	require.NoError(t, err)
	require.NoError(t, peer.Release(ctx))
	ok, err = l.TryAcquire(ctx)
	require.NoError(t, err)
	require.True(t, ok)
	tok4, err := l.Token(ctx)
	require.NoError(t, err)
	require.NoError(t, l.Release(ctx))
	assert.True(t, tok1 < tok2 && tok2 < tok3 && tok3 < tok4, "fencing tokens increase with each acquisition: %d %d %d %d", tok1, tok2, tok3, tok4)
}

func confRLock(ctx context.Context, t *testing.T, e *confEnv) {
	r, err := manager.OpenRLock(ctx, e.s, e.name("rlock"))
	require.NoError(t, err)
	other, err := manager.OpenRLock(ctx, e.s, e.name("rlock")) // another owner, same session
	require.NoError(t, err)
	require.NoError(t, r.Acquire(ctx))
	tok1, err := r.Token(ctx)
	require.NoError(t, err)
	ok, err := r.TryAcquire(ctx)
	require.NoError(t, err)
	assert.True(t, ok, "reentrant")
	tok, err := r.Token(ctx)
	require.NoError(t, err)
	assert.Equal(t, tok1, tok, "a reentrant acquisition keeps the token")
	ok, err = other.TryAcquire(ctx)
	require.NoError(t, err)
	assert.False(t, ok, "another proxy is another owner")
	assert.ErrorIs(t, other.Release(ctx), manager.ErrNotHeld)
	_, err = other.Token(ctx)
	assert.ErrorIs(t, err, manager.ErrNotHeld)
	require.NoError(t, r.Release(ctx))
	locked, err := r.Locked(ctx)
	require.NoError(t, err)
	assert.True(t, locked, "one level is left")
	waiting := within(func() error { return other.Acquire(ctx) })
	require.NoError(t, r.Release(ctx))
	require.NoError(t, recvErr(ctx, t, waiting))
	tok2, err := other.Token(ctx)
	require.NoError(t, err)
	assert.Greater(t, tok2, tok1)
	require.NoError(t, other.Release(ctx))
}

func confSemaphore(ctx context.Context, t *testing.T, e *confEnv) {
	s, err := manager.NewSemaphore(ctx, e.s, 2)
	require.NoError(t, err)
	defer s.Close()
	require.NoError(t, s.Acquire(ctx))
	ok, err := s.TryAcquire(ctx)
	require.NoError(t, err)
	assert.True(t, ok)
	ok, err = s.TryAcquire(ctx)
	require.NoError(t, err)
	assert.False(t, ok)
	assert.ErrorIs(t, s.Acquire(shortly(ctx, t, 50*time.Millisecond)), context.DeadlineExceeded)
	v, err := s.Value(ctx)
	require.NoError(t, err)
	assert.Equal(t, 0, v, "the withdrawn Acquire took no permit")
	waiting := within(func() error { return s.Acquire(ctx) })
	require.NoError(t, s.Release(ctx))
	require.NoError(t, recvErr(ctx, t, waiting))
	require.NoError(t, s.Release(ctx))
	require.NoError(t, s.Release(ctx))
	require.NoError(t, s.Release(ctx)) // unbounded: above the initial value
	v, err = s.Value(ctx)
	require.NoError(t, err)
	assert.Equal(t, 3, v)
}

func confBoundedSemaphore(ctx context.Context, t *testing.T, e *confEnv) {
	s, err := manager.NewBoundedSemaphore(ctx, e.s, 1)
	require.NoError(t, err)
	defer s.Close()
	assert.ErrorIs(t, s.Release(ctx), manager.ErrOverReleased)
	require.NoError(t, s.Acquire(ctx))
	ok, err := s.TryAcquire(ctx)
	require.NoError(t, err)
	assert.False(t, ok)
	v, err := s.Value(ctx)
	require.NoError(t, err)
	assert.Equal(t, 0, v)
	require.NoError(t, s.Release(ctx))
	v, err = s.Value(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, v)
}

func confCondition(ctx context.Context, t *testing.T, e *confEnv) {
	c, err := manager.OpenCondition(ctx, e.s, e.name("cond"), nil)
	require.NoError(t, err)
	peer, err := manager.OpenCondition(ctx, e.other(t), e.name("cond"), nil)
	require.NoError(t, err)
	flag, err := manager.OpenValue(ctx, e.s, e.name("flag"), 0)
	require.NoError(t, err)

	assert.ErrorIs(t, c.Wait(ctx), manager.ErrNotHeld, "Wait without the lock")
	require.NoError(t, c.Acquire(ctx))
	// A Wait that times out returns its ctx error holding the lock again.
	assert.ErrorIs(t, c.Wait(shortly(ctx, t, 50*time.Millisecond)), context.DeadlineExceeded)
	ok, err := peer.TryAcquire(ctx)
	require.NoError(t, err)
	assert.False(t, ok, "the timed-out Wait holds the lock again")

	// WaitFor in this session; the peer changes the state and notifies.
	waited := within(func() error {
		return c.WaitFor(ctx, func() (bool, error) {
			v, err := flag.Load(ctx)
			return v == 1, err
		})
	})
	require.NoError(t, peer.Acquire(ctx)) // the waiter released the lock
	_, err = flag.Add(ctx, 1)
	require.NoError(t, err)
	require.NoError(t, peer.Notify(ctx, 1))
	require.NoError(t, peer.Release(ctx))
	require.NoError(t, recvErr(ctx, t, waited))
	require.NoError(t, c.Release(ctx))

	// NotifyAll wakes every waiter.
	var waits []<-chan error
	for _, w := range []*manager.Condition{c, peer} {
		require.NoError(t, w.Acquire(ctx))
		waits = append(waits, within(func() error {
			err := w.Wait(ctx)
			if rerr := w.Release(ctx); err == nil {
				err = rerr
			}
			return err
		}))
		// The lock is free again once the waiter waits.
		require.NoError(t, c.Acquire(ctx))
		require.NoError(t, c.Release(ctx))
	}
	require.NoError(t, c.Acquire(ctx))
	require.NoError(t, c.NotifyAll(ctx))
	require.NoError(t, c.Release(ctx))
	for _, w := range waits {
		require.NoError(t, recvErr(ctx, t, w))
	}
}

func confEvent(ctx context.Context, t *testing.T, e *confEnv) {
	ev, err := manager.OpenEvent(ctx, e.s, e.name("event"))
	require.NoError(t, err)
	peer, err := manager.OpenEvent(ctx, e.other(t), e.name("event"))
	require.NoError(t, err)
	set, err := ev.IsSet(ctx)
	require.NoError(t, err)
	assert.False(t, set)
	assert.ErrorIs(t, ev.Wait(shortly(ctx, t, 50*time.Millisecond)), context.DeadlineExceeded)
	waited := within(func() error { return ev.Wait(ctx) })
	require.NoError(t, peer.Set(ctx))
	require.NoError(t, recvErr(ctx, t, waited))
	require.NoError(t, ev.Wait(ctx), "a set event does not block")
	require.NoError(t, peer.Clear(ctx))
	set, err = ev.IsSet(ctx)
	require.NoError(t, err)
	assert.False(t, set)
}

func confBarrier(ctx context.Context, t *testing.T, e *confEnv) {
	b, err := manager.OpenBarrier(ctx, e.s, e.name("barrier"), 2)
	require.NoError(t, err)
	peer, err := manager.OpenBarrier(ctx, e.other(t), e.name("barrier"), 2)
	require.NoError(t, err)
	parties, err := b.Parties(ctx)
	require.NoError(t, err)
	assert.Equal(t, 2, parties)
	require.NoError(t, b.Join(ctx))
	require.NoError(t, b.Leave(ctx))

	var idx [2]int
	first := within(func() (err error) { idx[0], err = b.Wait(ctx); return err })
	waitUntil(t, 10*time.Second, "one party waits", func() bool {
		n, err := peer.NWaiting(ctx)
		return err == nil && n == 1
	})
	idx[1], err = peer.Wait(ctx)
	require.NoError(t, err)
	require.NoError(t, recvErr(ctx, t, first))
	assert.ElementsMatch(t, []int{0, 1}, idx[:])

	// A Wait that times out breaks the barrier.
	_, err = b.Wait(shortly(ctx, t, 50*time.Millisecond))
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	broken, err := peer.Broken(ctx)
	require.NoError(t, err)
	assert.True(t, broken)
	_, err = peer.Wait(ctx)
	assert.ErrorIs(t, err, manager.ErrBrokenBarrier)
	require.NoError(t, b.Reset(ctx))
	broken, err = b.Broken(ctx)
	require.NoError(t, err)
	assert.False(t, broken)
	waiting := within(func() error { _, err := b.Wait(ctx); return err })
	waitUntil(t, 10*time.Second, "one party waits", func() bool {
		n, err := peer.NWaiting(ctx)
		return err == nil && n == 1
	})
	require.NoError(t, peer.Abort(ctx))
	assert.ErrorIs(t, recvErr(ctx, t, waiting), manager.ErrBrokenBarrier)
}

func init() {
	// conf.add adds 1 to key in a Dict n times, through the proxy it got
	// as an argument, and records its session's kind.
	manager.RegisterWorker("conf.add", func(ctx context.Context, _ *manager.Client, args manager.Args) error {
		var d *manager.Dict[string, int]
		var key string
		var n int
		if err := args.Decode(&d, &key, &n); err != nil {
			return err
		}
		if manager.WorkerSession(ctx) == nil {
			return errors.New("WorkerSession returned nil in a worker")
		}
		for range n {
			if _, err := d.Add(ctx, key, 1); err != nil {
				return err
			}
		}
		_, err := d.Add(ctx, fmt.Sprintf("session:%T", manager.WorkerSession(ctx)), 1)
		return err
	})
	// conf.hold takes a lock, an RLock, a permit, a JoinableQueue item
	// and a barrier membership, records its lock's fencing token, sets
	// ready, and waits to be killed.
	manager.RegisterWorker("conf.hold", func(ctx context.Context, _ *manager.Client, args manager.Args) error {
		var (
			l     *manager.Lock
			r     *manager.RLock
			s     *manager.Semaphore
			q     *manager.JoinableQueue[int]
			b     *manager.Barrier
			d     *manager.Dict[string, uint64]
			ready *manager.Event
		)
		if err := args.Decode(&l, &r, &s, &q, &b, &d, &ready); err != nil {
			return err
		}
		if err := l.Acquire(ctx); err != nil {
			return err
		}
		tok, err := l.Token(ctx)
		if err != nil {
			return err
		}
		if err := d.Store(ctx, "token", tok); err != nil {
			return err
		}
		if err := r.Acquire(ctx); err != nil {
			return err
		}
		if err := s.Acquire(ctx); err != nil {
			return err
		}
		x, err := q.Get(ctx)
		if err != nil {
			return err
		}
		if err := d.Store(ctx, "item", uint64(x)); err != nil {
			return err
		}
		if err := b.Join(ctx); err != nil {
			return err
		}
		if err := ready.Set(ctx); err != nil {
			return err
		}
		<-ctx.Done()
		return nil
	})
}

func confForkProxies(ctx context.Context, t *testing.T, e *confEnv) {
	d, err := manager.NewDict[string, int](ctx, e.s)
	require.NoError(t, err)
	defer d.Close()
	var procs []*manager.Process
	for range 3 {
		p, err := e.fork(ctx, "conf.add", d, "n", 20)
		require.NoError(t, err)
		procs = append(procs, p)
	}
	for _, p := range procs {
		require.NoError(t, waitProcess(ctx, t, p))
	}
	n, _, err := d.Load(ctx, "n")
	require.NoError(t, err)
	assert.Equal(t, 60, n)
	items, err := d.Copy(ctx)
	require.NoError(t, err)
	t.Logf("worker sessions: %v", items)
}

// confOwnerDeath SIGKILLs a worker holding a lock, an RLock, a permit, an
// unacknowledged JoinableQueue item and a barrier membership: the next
// owners get ErrAbandoned, the permit comes back, the item is delivered
// again, the barrier breaks, and the next fencing token is larger.
func confOwnerDeath(ctx context.Context, t *testing.T, e *confEnv) {
	l, err := manager.NewLock(ctx, e.s)
	require.NoError(t, err)
	r, err := manager.NewRLock(ctx, e.s)
	require.NoError(t, err)
	s, err := manager.NewSemaphore(ctx, e.s, 1)
	require.NoError(t, err)
	q, err := manager.NewJoinableQueue[int](ctx, e.s, 0)
	require.NoError(t, err)
	b, err := manager.NewBarrier(ctx, e.s, 2)
	require.NoError(t, err)
	d, err := manager.NewDict[string, uint64](ctx, e.s)
	require.NoError(t, err)
	ready, err := manager.NewEvent(ctx, e.s)
	require.NoError(t, err)
	require.NoError(t, q.Put(ctx, 77))

	p, err := e.fork(ctx, "conf.hold", l, r, s, q, b, d, ready)
	require.NoError(t, err)
	defer waitProcess(ctx, t, p)
	readyErr := within(func() error { return ready.Wait(ctx) })
	select {
	case err := <-readyErr:
		require.NoError(t, err)
	case <-p.Done():
		require.FailNow(t, "the worker exited before it was ready", "%v", p.Wait())
	}
	workerTok, _, err := d.Load(ctx, "token")
	require.NoError(t, err)
	item, _, err := d.Load(ctx, "item")
	require.NoError(t, err)
	assert.Equal(t, uint64(77), item)

	// A party waits for the worker at the barrier when it dies.
	barrierWait := within(func() error { _, err := b.Wait(ctx); return err })
	waitUntil(t, 10*time.Second, "the parent waits at the barrier", func() bool {
		n, err := b.NWaiting(ctx)
		return err == nil && n == 1
	})

	require.NoError(t, p.Signal(killSignal))
	<-p.Done()
	dead := time.Now()
	assert.ErrorIs(t, l.Acquire(ctx), manager.ErrAbandoned)
	detected := time.Since(dead)
	t.Logf("a SIGKILLed holder's Lock was taken over %v after its death (lease %v)", detected, e.lease)
	if e.lease > 0 {
		assert.Less(t, detected, 2*e.lease+time.Second, "takeover within the lease")
	}
	tok, err := l.Token(ctx)
	require.NoError(t, err)
	assert.Greater(t, tok, workerTok, "the new holder's fencing token is larger than the dead one's")
	require.NoError(t, l.Release(ctx))

	assert.ErrorIs(t, r.Acquire(ctx), manager.ErrAbandoned)
	require.NoError(t, r.Release(ctx))

	if err := s.Acquire(ctx); !errors.Is(err, manager.ErrAbandoned) {
		require.NoError(t, err, "the dead worker's permit came back")
	}
	x, err := q.Get(ctx)
	require.NoError(t, err)
	assert.Equal(t, 77, x, "the dead worker's unacknowledged item is delivered again")
	require.NoError(t, q.TaskDone(ctx))
	require.NoError(t, q.Join(ctx))

	assert.ErrorIs(t, recvErr(ctx, t, barrierWait), manager.ErrBrokenBarrier, "the death of the member a party waits for breaks the barrier")
}

// confWrongTypeKeeps: a value read through a proxy of another type is
// refused with ErrWrongType and stays where it was, on every engine.
func confWrongTypeKeeps(ctx context.Context, t *testing.T, e *confEnv) {
	ints, err := manager.OpenQueue[int](ctx, e.s, e.name("wq"), 0)
	require.NoError(t, err)
	defer ints.Close()
	require.NoError(t, ints.Put(ctx, 300))
	strs, err := manager.OpenQueue[string](ctx, e.s, e.name("wq"), 0)
	require.NoError(t, err)
	defer strs.Close()
	_, err = strs.Get(ctx)
	assert.ErrorIs(t, err, manager.ErrWrongType)
	bytes, err := manager.OpenQueue[uint8](ctx, e.s, e.name("wq"), 0)
	require.NoError(t, err)
	defer bytes.Close()
	_, err = bytes.TryGet(ctx)
	assert.ErrorIs(t, err, manager.ErrWrongType, "300 does not fit a uint8")
	got, err := ints.TryGet(ctx)
	require.NoError(t, err, "the item is still there")
	assert.Equal(t, 300, got)

	d, err := manager.OpenDict[string, int](ctx, e.s, e.name("wd"))
	require.NoError(t, err)
	defer d.Close()
	require.NoError(t, d.Store(ctx, "k", -1))
	ud, err := manager.OpenDict[string, uint](ctx, e.s, e.name("wd"))
	require.NoError(t, err)
	defer ud.Close()
	_, _, err = ud.LoadAndDelete(ctx, "k")
	assert.ErrorIs(t, err, manager.ErrWrongType)
	v, ok, err := d.Load(ctx, "k")
	require.NoError(t, err)
	assert.True(t, ok, "the pair is still there")
	assert.Equal(t, -1, v)
}

// confQueueShutdown: Python 3.13's Queue.shutdown on every engine: puts
// fail, gets drain what is left and then fail.
func confQueueShutdown(ctx context.Context, t *testing.T, e *confEnv) {
	q, err := manager.OpenQueue[string](ctx, e.s, e.name("sq"), 0)
	require.NoError(t, err)
	defer q.Close()
	peer, err := manager.OpenQueue[string](ctx, e.other(t), e.name("sq"), 0)
	require.NoError(t, err)
	// A getter of another session, waiting or arriving after the
	// shutdown (the engines' own tests pin down the waiting case), ends
	// with ErrShutDown once the queue is empty, after draining it.
	require.NoError(t, q.Put(ctx, "left"))
	require.NoError(t, q.Shutdown(ctx, false))
	got, err := peer.Get(ctx)
	require.NoError(t, err, "what was left is drained")
	assert.Equal(t, "left", got)
	blocked := within(func() error {
		_, err := peer.Get(ctx)
		return err
	})
	assert.ErrorIs(t, recvErr(ctx, t, blocked), manager.ErrShutDown)
	down, err := q.IsShutDown(ctx)
	require.NoError(t, err)
	assert.True(t, down)
	assert.ErrorIs(t, q.Put(ctx, "late"), manager.ErrShutDown)
	_, err = q.TryGet(ctx)
	assert.ErrorIs(t, err, manager.ErrShutDown, "empty and shut down: not ErrEmpty")
	require.NoError(t, q.Shutdown(ctx, true), "twice is fine")
}
