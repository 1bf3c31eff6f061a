package manager_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/goproc/manager"
)

// Tests of nested proxies' lifetime: a shared container holds a reference
// to every object whose proxy it stores, as a Python container does, so
// the object outlives the process that stored it and is freed once the
// container drops it (or is freed itself).

func init() {
	// nested.store-list creates a List, stores it in the named Dict,
	// closes every proxy it has and exits holding lock (so the parent
	// can tell when its session has ended).
	manager.RegisterWorker("nested.store-list", func(ctx context.Context, c *manager.Client, args manager.Args) error {
		var lock *manager.Lock
		var name string
		if err := args.Decode(&lock, &name); err != nil {
			return err
		}
		if err := lock.Acquire(ctx); err != nil {
			return err
		}
		d, err := manager.OpenDict[string, *manager.List[int]](ctx, c, name)
		if err != nil {
			return err
		}
		l, err := manager.NewList(ctx, c, 1, 2, 3)
		if err != nil {
			return err
		}
		if err := d.Store(ctx, "list", l); err != nil {
			return err
		}
		if err := l.Close(); err != nil {
			return err
		}
		return d.Close()
	})
	// nested.queue-list creates a List, puts it in the queue, closes it
	// and exits holding lock.
	manager.RegisterWorker("nested.queue-list", func(ctx context.Context, c *manager.Client, args manager.Args) error {
		var lock *manager.Lock
		var q *manager.Queue[*manager.List[int]]
		if err := args.Decode(&lock, &q); err != nil {
			return err
		}
		if err := lock.Acquire(ctx); err != nil {
			return err
		}
		l, err := manager.NewList(ctx, c, 7, 8)
		if err != nil {
			return err
		}
		if err := q.Put(ctx, l); err != nil {
			return err
		}
		return l.Close()
	})
}

// nestedAwaitSessionEnd waits until the manager has ended the session of
// a worker that took lock and exited holding it: the lock then comes back
// abandoned, which the manager does only after it has released every
// reference the session held.
func nestedAwaitSessionEnd(ctx context.Context, t testing.TB, lock *manager.Lock) {
	t.Helper()
	require.ErrorIs(t, lock.Acquire(ctx), manager.ErrAbandoned)
	require.NoError(t, lock.Release(ctx))
}

// TestNestedProxyOutlivesItsCreator: a worker stores a List in a named
// Dict and exits; the List lives on in the Dict (in Python, too), and
// goes once the Dict drops it and the last proxy closes.
func TestNestedProxyOutlivesItsCreator(t *testing.T) {
	for _, mode := range managerModes {
		t.Run(mode.Name, func(t *testing.T) {
			ctx := testContext(t)
			m := startManager(t, mode.Opts...)
			lock, err := manager.NewLock(ctx, m)
			require.NoError(t, err)
			before := numObjects(ctx, t, m)

			const name = "nested.lists"
			startWorker(ctx, t, m, "nested.store-list", lock, name)()
			nestedAwaitSessionEnd(ctx, t, lock)
			assert.Equal(t, before+2, numObjects(ctx, t, m), "the Dict and the List it holds")

			d, err := manager.OpenDict[string, *manager.List[int]](ctx, m, name)
			require.NoError(t, err)
			l, ok, err := d.Load(ctx, "list")
			require.NoError(t, err)
			require.True(t, ok)
			require.NoError(t, l.Append(ctx, 4))
			items, err := l.Copy(ctx)
			require.NoError(t, err)
			assert.Equal(t, []int{1, 2, 3, 4}, items)

			deleted, err := d.Delete(ctx, "list")
			require.NoError(t, err)
			require.True(t, deleted)
			assert.Equal(t, before+2, numObjects(ctx, t, m), "still open here")
			require.NoError(t, l.Close())
			assert.Equal(t, before+1, numObjects(ctx, t, m), "dropped by the Dict and closed: freed")

			ok, err = m.Delete(ctx, name)
			require.NoError(t, err)
			require.True(t, ok)
			require.NoError(t, d.Close())
			assert.Equal(t, before, numObjects(ctx, t, m))
		})
	}
}

// TestNestedProxyThroughQueue: a proxy in a queue survives its sender's
// exit until the receiver gets it; then the receiver's proxy keeps it.
func TestNestedProxyThroughQueue(t *testing.T) {
	ctx := testContext(t)
	m := startManager(t)
	lock, err := manager.NewLock(ctx, m)
	require.NoError(t, err)
	q, err := manager.NewQueue[*manager.List[int]](ctx, m, 0)
	require.NoError(t, err)
	before := numObjects(ctx, t, m)

	startWorker(ctx, t, m, "nested.queue-list", lock, q)()
	nestedAwaitSessionEnd(ctx, t, lock)
	assert.Equal(t, before+1, numObjects(ctx, t, m), "the List, held by the queue")

	l, err := q.Get(ctx)
	require.NoError(t, err)
	items, err := l.Copy(ctx)
	require.NoError(t, err)
	assert.Equal(t, []int{7, 8}, items)
	assert.Equal(t, before+1, numObjects(ctx, t, m), "held by the receiver's proxy now")
	require.NoError(t, l.Close())
	assert.Equal(t, before, numObjects(ctx, t, m))
}

// TestNestedEachContainerHoldsWhatItStores stores a proxy in each kind of
// container, closes it, and has the container drop it: the object lives
// exactly as long as the container holds it, although the session that
// stored it lives on (it used to keep every proxy it ever stored alive).
func TestNestedEachContainerHoldsWhatItStores(t *testing.T) {
	ctx := testContext(t)
	m := startManager(t)
	// spare replaces the held proxy where the container cannot just
	// forget it (a Value, an Array).
	spare, err := manager.New(ctx, m, "Counter")
	require.NoError(t, err)
	t.Cleanup(func() { spare.Close() })

	// Each hold makes a container hold p and returns the container and a
	// function that makes it drop p.
	tests := []struct {
		name string
		hold func(p *manager.Proxy) (container interface{ Close() error }, drop func() error)
	}{
		{"Dict value", func(p *manager.Proxy) (interface{ Close() error }, func() error) {
			d, err := manager.NewDict[string, *manager.Proxy](ctx, m)
			require.NoError(t, err)
			require.NoError(t, d.Store(ctx, "k", p))
			return d, func() error { _, err := d.Delete(ctx, "k"); return err }
		}},
		{"Dict key", func(p *manager.Proxy) (interface{ Close() error }, func() error) {
			d, err := manager.NewDict[*manager.Proxy, int](ctx, m)
			require.NoError(t, err)
			require.NoError(t, d.Store(ctx, p, 1))
			return d, func() error { return d.Clear(ctx) }
		}},
		{"Dict overwritten", func(p *manager.Proxy) (interface{ Close() error }, func() error) {
			d, err := manager.NewDict[string, *manager.Proxy](ctx, m)
			require.NoError(t, err)
			require.NoError(t, d.Store(ctx, "k", p))
			return d, func() error { return d.Store(ctx, "k", spare) }
		}},
		{"List", func(p *manager.Proxy) (interface{ Close() error }, func() error) {
			l, err := manager.NewList(ctx, m, p)
			require.NoError(t, err)
			return l, func() error {
				got, err := l.Pop(ctx, -1)
				if err != nil {
					return err
				}
				return got.Close()
			}
		}},
		{"Namespace", func(p *manager.Proxy) (interface{ Close() error }, func() error) {
			n, err := manager.NewNamespace(ctx, m)
			require.NoError(t, err)
			require.NoError(t, n.Set(ctx, "p", p))
			return n, func() error { _, err := n.Delete(ctx, "p"); return err }
		}},
		{"Value", func(p *manager.Proxy) (interface{ Close() error }, func() error) {
			v, err := manager.NewValue(ctx, m, p)
			require.NoError(t, err)
			return v, func() error { return v.Store(ctx, spare) }
		}},
		{"Array", func(p *manager.Proxy) (interface{ Close() error }, func() error) {
			a, err := manager.NewArray(ctx, m, []*manager.Proxy{p})
			require.NoError(t, err)
			return a, func() error { return a.Set(ctx, 0, spare) }
		}},
		{"Queue", func(p *manager.Proxy) (interface{ Close() error }, func() error) {
			q, err := manager.NewQueue[*manager.Proxy](ctx, m, 0)
			require.NoError(t, err)
			require.NoError(t, q.Put(ctx, p))
			return q, func() error {
				got, err := q.Get(ctx)
				if err != nil {
					return err
				}
				return got.Close()
			}
		}},
		{"JoinableQueue", func(p *manager.Proxy) (interface{ Close() error }, func() error) {
			q, err := manager.NewJoinableQueue[*manager.Proxy](ctx, m, 0)
			require.NoError(t, err)
			require.NoError(t, q.Put(ctx, p))
			return q, func() error {
				got, err := q.Get(ctx)
				if err != nil {
					return err
				}
				if err := got.Close(); err != nil {
					return err
				}
				return q.TaskDone(ctx) // held until acknowledged
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := numObjects(ctx, t, m)
			p, err := manager.New(ctx, m, "Counter")
			require.NoError(t, err)
			_, err = manager.Call[int64](ctx, p, "Add", int64(5))
			require.NoError(t, err)
			container, drop := tt.hold(p)
			require.NoError(t, p.Close())
			assert.Equal(t, before+2, numObjects(ctx, t, m), "the container, and the object it holds")

			require.NoError(t, drop())
			assert.Equal(t, before+1, numObjects(ctx, t, m), "dropped by the container: freed")
			require.NoError(t, container.Close())
			assert.Equal(t, before, numObjects(ctx, t, m))
		})
	}
}

// TestNestedClearFreesHeldObjects: clearing a Dict of N proxies frees the
// N objects, while the session that stored them goes on.
func TestNestedClearFreesHeldObjects(t *testing.T) {
	const n = 20
	ctx := testContext(t)
	m := startManager(t)
	before := numObjects(ctx, t, m)
	d, err := manager.NewDict[int, *manager.List[int]](ctx, m)
	require.NoError(t, err)
	for i := range n {
		l, err := manager.NewList(ctx, m, i)
		require.NoError(t, err)
		require.NoError(t, d.Store(ctx, i, l))
		require.NoError(t, l.Close())
	}
	assert.Equal(t, before+1+n, numObjects(ctx, t, m))

	l, ok, err := d.Load(ctx, n-1)
	require.NoError(t, err)
	require.True(t, ok)
	items, err := l.Copy(ctx)
	require.NoError(t, err)
	assert.Equal(t, []int{n - 1}, items, "a closed proxy's object lives in the Dict")
	require.NoError(t, l.Close())

	require.NoError(t, d.Clear(ctx))
	assert.Equal(t, before+1, numObjects(ctx, t, m), "Clear freed all %d", n)
	require.NoError(t, d.Close())
	assert.Equal(t, before, numObjects(ctx, t, m))
}

// TestNestedPoppedProxyReachesItsReceiver: popping the only reference
// out of a container hands it to the caller; the object is not freed in
// between.
func TestNestedPoppedProxyReachesItsReceiver(t *testing.T) {
	ctx := testContext(t)
	m := startManager(t)
	before := numObjects(ctx, t, m)
	d, err := manager.NewDict[string, *manager.List[int]](ctx, m)
	require.NoError(t, err)
	l, err := manager.NewList(ctx, m, 1)
	require.NoError(t, err)
	require.NoError(t, d.Store(ctx, "k", l))
	require.NoError(t, l.Close())

	got, loaded, err := d.LoadAndDelete(ctx, "k")
	require.NoError(t, err)
	require.True(t, loaded)
	items, err := got.Copy(ctx)
	require.NoError(t, err, "the popped object is alive")
	assert.Equal(t, []int{1}, items)
	require.NoError(t, got.Close())
	require.NoError(t, d.Close())
	assert.Equal(t, before, numObjects(ctx, t, m))
}

// TestNestedFreedContainerFreesWhatItHeld: closing the last proxy of a
// container frees it and, in cascade, the containers and objects only it
// held.
func TestNestedFreedContainerFreesWhatItHeld(t *testing.T) {
	ctx := testContext(t)
	m := startManager(t)
	before := numObjects(ctx, t, m)

	outer, err := manager.NewDict[string, *manager.Dict[string, *manager.List[int]]](ctx, m)
	require.NoError(t, err)
	inner, err := manager.NewDict[string, *manager.List[int]](ctx, m)
	require.NoError(t, err)
	l, err := manager.NewList(ctx, m, 1)
	require.NoError(t, err)
	require.NoError(t, inner.Store(ctx, "l", l))
	require.NoError(t, outer.Store(ctx, "inner", inner))
	require.NoError(t, l.Close())
	require.NoError(t, inner.Close())
	assert.Equal(t, before+3, numObjects(ctx, t, m))

	require.NoError(t, outer.Close())
	assert.Equal(t, before, numObjects(ctx, t, m), "the outer Dict, the inner one and the List")
}

// TestNestedSelfReference: a Dict that holds a proxy to itself is a
// cycle, which reference counts cannot free: it lives until the manager
// shuts down (as documented), unless the entry is deleted first. Shutdown
// is not held up by it.
func TestNestedSelfReference(t *testing.T) {
	ctx := testContext(t)
	m, err := manager.Start(ctx)
	require.NoError(t, err)
	before := numObjects(ctx, t, m)

	broken, err := manager.NewDict[string, *manager.Proxy](ctx, m)
	require.NoError(t, err)
	require.NoError(t, broken.Store(ctx, "self", broken.Proxy()))
	_, err = broken.Delete(ctx, "self")
	require.NoError(t, err)
	require.NoError(t, broken.Close())
	assert.Equal(t, before, numObjects(ctx, t, m), "deleting the entry breaks the cycle")

	cycle, err := manager.NewDict[string, *manager.Proxy](ctx, m)
	require.NoError(t, err)
	require.NoError(t, cycle.Store(ctx, "self", cycle.Proxy()))
	require.NoError(t, cycle.Close())
	assert.Equal(t, before+1, numObjects(ctx, t, m), "a cycle outlives its proxies")

	shutdownCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	require.NoError(t, m.Shutdown(shutdownCtx))
	_, err = m.NumObjects(ctx)
	assert.ErrorIs(t, err, manager.ErrClosed)
}
