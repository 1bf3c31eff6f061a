package manager_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/goproc/manager"
)

func init() {
	manager.RegisterWorker("namespace.set", func(ctx context.Context, c *manager.Client, args manager.Args) error {
		var ns *manager.Namespace
		if err := args.Decode(&ns); err != nil {
			return err
		}
		var greeting string
		if _, err := ns.Get(ctx, "greeting", &greeting); err != nil {
			return err
		}
		return ns.Set(ctx, "reply", greeting+", parent")
	})
}

func TestNamespaceAttributes(t *testing.T) {
	ctx := testContext(t)
	m := startManager(t, manager.InProcess())
	ns, err := manager.NewNamespace(ctx, m)
	require.NoError(t, err)

	// ns.x = ..., ns.x, hasattr, del ns.x, vars(ns)
	require.NoError(t, ns.Set(ctx, "x", 1))
	require.NoError(t, ns.Set(ctx, "name", "gopher"))
	require.NoError(t, ns.Set(ctx, "tags", []string{"a", "b"}))
	var x int
	ok, err := ns.Get(ctx, "x", &x)
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Equal(t, 1, x)
	var tags []string
	ok, err = ns.Get(ctx, "tags", &tags)
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Equal(t, []string{"a", "b"}, tags)

	missing := "unchanged"
	ok, err = ns.Get(ctx, "missing", &missing)
	require.NoError(t, err)
	assert.False(t, ok)
	assert.Equal(t, "unchanged", missing)
	_, err = ns.Get(ctx, "x", nil)
	assert.ErrorIs(t, err, manager.ErrBadArguments)

	has, err := ns.Has(ctx, "name")
	require.NoError(t, err)
	assert.True(t, has)
	names, err := ns.Names(ctx)
	require.NoError(t, err)
	assert.Equal(t, []string{"x", "name", "tags"}, names)

	var all struct {
		X    int      `msgpack:"x"`
		Name string   `msgpack:"name"`
		Tags []string `msgpack:"tags"`
	}
	require.NoError(t, ns.Vars(ctx, &all))
	assert.Equal(t, 1, all.X)
	assert.Equal(t, "gopher", all.Name)
	assert.Equal(t, []string{"a", "b"}, all.Tags)
	var generic map[string]any
	require.NoError(t, ns.Vars(ctx, &generic))
	assert.Len(t, generic, 3)

	deleted, err := ns.Delete(ctx, "x")
	require.NoError(t, err)
	assert.True(t, deleted)
	deleted, err = ns.Delete(ctx, "x")
	require.NoError(t, err)
	assert.False(t, deleted)
	has, err = ns.Has(ctx, "x")
	require.NoError(t, err)
	assert.False(t, has)
}

func TestNamespaceAcrossProcesses(t *testing.T) {
	ctx := testContext(t)
	m := startManager(t, manager.InProcess())
	ns, err := manager.OpenNamespace(ctx, m, "config")
	require.NoError(t, err)
	require.NoError(t, ns.Set(ctx, "greeting", "hello"))
	runWorkers(ctx, t, m, 1, "namespace.set", ns)
	var reply string
	ok, err := ns.Get(ctx, "reply", &reply)
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Equal(t, "hello, parent", reply)
}

func TestNamespaceHoldsProxies(t *testing.T) {
	ctx := testContext(t)
	m := startManager(t, manager.InProcess())
	ns, err := manager.NewNamespace(ctx, m)
	require.NoError(t, err)
	q, err := manager.NewQueue[string](ctx, m, 0)
	require.NoError(t, err)
	require.NoError(t, ns.Set(ctx, "jobs", q))

	var jobs *manager.Queue[string]
	ok, err := ns.Get(ctx, "jobs", &jobs)
	require.NoError(t, err)
	require.True(t, ok)
	require.NoError(t, jobs.Put(ctx, "job"))
	got, err := q.Get(ctx)
	require.NoError(t, err)
	assert.Equal(t, "job", got)
	require.NoError(t, jobs.Close())
}
