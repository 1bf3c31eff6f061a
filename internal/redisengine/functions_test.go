package redisengine

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/goproc/manager/internal/builtin"
)

// The family scripts run as Redis functions (FCALL) on a server that has
// them, as scripts (EVALSHA) on one that has not or refuses them (see
// luaScript): these tests check both ways, and that a library the server
// lost is loaded again.

func TestFunctions(t *testing.T) {
	runSuite(t, []suiteCase{
		{name: "Used", fn: testFunctionsUsed},
		{name: "FlushSurvived", fn: testFunctionFlush},
		{name: "ScriptsForced", fn: testScriptsForced},
		{name: "RefusedByACL", fn: testFunctionsRefused},
		{name: "TwoVersions", fn: testFunctionVersions},
	})
}

// testFunctionVersions: the library of another version of a family's
// script (a rolling upgrade: processes built from two versions of this
// package) has its own name, and both run side by side.
func testFunctionVersions(e *env) {
	t := e.t
	s := e.session(0)
	v := e.newObj(s, "Value", "x")
	old := families["Value"]
	lib := strings.SplitN(old.script.lib, "\n", 2)[1] // without the #!lua line
	chunk := lib[:strings.LastIndex(lib, "redis.register_function(")]
	other := *old
	other.script = newLuaScript("value", chunk+"-- another version\n")
	require.Regexp(t, `^manager_value_[0-9a-f]{8}$`, other.script.name)
	require.NotEqual(t, old.script.name, other.script.name)

	assert.Equal(t, mp(t, "x"), v.must("Load"))
	reply, err := s.run(e.ctx(), &other, v.id, "Value", "Swap", "1", "c", []any{mp(t, "y")}, s.newCID())
	require.NoError(t, err)
	assert.Equal(t, "="+string(mp(t, "x")), reply)
	assert.Equal(t, mp(t, "y"), v.must("Load"))
	for _, name := range []string{old.script.name, other.script.name} {
		assert.True(t, libraryOnEveryMaster(t, e.ctx(), e.srv.rdb, name), name)
	}
}

// eachMaster runs fn on rdb's server, or on each master of a cluster.
func eachMaster(t testing.TB, ctx context.Context, rdb redis.UniversalClient, fn func(context.Context, *redis.Client) error) {
	t.Helper()
	var err error
	if c, ok := rdb.(*redis.ClusterClient); ok {
		err = c.ForEachMaster(ctx, fn)
	} else {
		err = fn(ctx, rdb.(*redis.Client))
	}
	require.NoError(t, err)
}

// libraryOnEveryMaster reports whether every master has library name.
func libraryOnEveryMaster(t testing.TB, ctx context.Context, rdb redis.UniversalClient, name string) bool {
	t.Helper()
	var missing atomic.Bool // ForEachMaster runs on the masters at once
	eachMaster(t, ctx, rdb, func(ctx context.Context, c *redis.Client) error {
		libs, err := c.FunctionList(ctx, redis.FunctionListQuery{LibraryNamePattern: name}).Result()
		if err != nil {
			return err
		}
		if len(libs) != 1 || libs[0].Name != name {
			missing.Store(true)
		}
		return nil
	})
	return !missing.Load()
}

// testFunctionsUsed: a session's first family call loads the family's
// library on every master and calls it with FCALL.
func testFunctionsUsed(e *env) {
	t := e.t
	s := e.session(0)
	assert.False(t, s.usesFunctions(), "before any call")
	q := e.newObj(s, "JoinableQueue", 0)
	q.must("Put", "x")
	assert.Equal(t, mp(t, 1), q.must("Len"))
	assert.True(t, s.usesFunctions(), "FCALL after a family call")
	assert.True(t, libraryOnEveryMaster(t, e.ctx(), e.srv.rdb, families["JoinableQueue"].script.name))
}

// testFunctionFlush: after FUNCTION FLUSH on every master (as after a
// restart without persistence, or a failover to a node without the
// library), the next call loads the library again and succeeds, through
// Call (a piped Get too) and through CallBatch.
func testFunctionFlush(e *env) {
	t := e.t
	s := e.session(0)
	d := e.newObj(s, "Dict")
	d.must("Update", []builtin.Pair{{Key: mp(t, "a"), Value: mp(t, 1)}})
	require.True(t, s.usesFunctions())
	name := families["Dict"].script.name
	flush := func() {
		t.Helper()
		eachMaster(t, e.ctx(), e.srv.rdb, func(ctx context.Context, c *redis.Client) error {
			return c.FunctionFlush(ctx).Err()
		})
		require.False(t, libraryOnEveryMaster(t, e.ctx(), e.srv.rdb, name))
	}

	flush()
	assert.Equal(t, mp(t, []string{"a"}), d.must("Keys"), "Call after FUNCTION FLUSH")
	assert.True(t, libraryOnEveryMaster(t, e.ctx(), e.srv.rdb, name), "loaded again")

	flush()
	calls := []*BatchCall{
		{ID: d.id, TypeID: "Dict", Handle: d.handle, Method: "Keys"},
		{ID: d.id, TypeID: "Dict", Handle: d.handle, Method: "Len"},
	}
	s.CallBatch(e.ctx(), calls)
	for _, c := range calls {
		require.NoError(t, c.Err, c.Method)
	}
	assert.Equal(t, mp(t, []string{"a"}), calls[0].Result)
	assert.Equal(t, mp(t, 1), calls[1].Result)
	assert.True(t, s.usesFunctions())

	// A Get's script run piped with its BLPOP (see callPiped) finds the
	// library gone only when the BLPOP returns: it runs again, and waits.
	q := e.newObj(s, "Queue", 0)
	flush()
	got := goCall(e.ctx(), q, "Get")
	waitWaiters(t, q, "wa", 1)
	q.must("Put", "x")
	r := recv(t, got)
	require.NoError(t, r.err, "a piped Get after FUNCTION FLUSH")
	assert.Equal(t, mp(t, "x"), r.b)
}

// testScriptsForced: a session that runs the family scripts as scripts
// (EVALSHA) gives the replies builtin gives, through Call and CallBatch,
// also after SCRIPT FLUSH.
func testScriptsForced(e *env) {
	t := e.t
	s := e.session(0)
	s.lua.Store(luaScripts)
	recv, err := builtin.NewDict(context.Background(), nil)
	require.NoError(t, err)
	conform(t, recv, e.newObj(s, "Dict"), dictOps())
	v := e.newObj(s, "Value", 5)
	for i := range 2 {
		calls := []*BatchCall{{ID: v.id, TypeID: "Value", Handle: 1, Method: "Add", Args: enc(t, 1)}}
		s.CallBatch(e.ctx(), calls)
		require.NoError(t, calls[0].Err, "batch %d", i)
		assert.Equal(t, mp(t, 6+i), calls[0].Result, "batch %d", i)
		require.NoError(t, e.srv.rdb.ScriptFlush(e.ctx()).Err())
	}
	assert.Equal(t, mp(t, 7), v.must("Load"))
	assert.False(t, s.usesFunctions())
}

// testFunctionsRefused: a client whose ACL user may not run FUNCTION or
// FCALL finds out at its first call and runs scripts: every call works.
func testFunctionsRefused(e *env) {
	t := e.t
	var b [6]byte
	rand.Read(b[:])
	user, pass := "nofn-"+hex.EncodeToString(b[:]), hex.EncodeToString(b[:])
	setuser := func(ctx context.Context, c *redis.Client) error {
		return c.ACLSetUser(ctx, user, "on", ">"+pass, "~*", "&*", "+@all", "-function", "-fcall", "-fcall_ro").Err()
	}
	deluser := func(ctx context.Context, c *redis.Client) error { return c.ACLDelUser(ctx, user).Err() }
	eachMaster(t, e.ctx(), e.srv.rdb, setuser)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), suiteTimeout)
		defer cancel()
		eachMaster(t, ctx, e.srv.rdb, deluser)
	})
	rdb := redis.NewUniversalClient(&redis.UniversalOptions{
		Addrs: e.srv.addr, Username: user, Password: pass,
		IsClusterMode: e.srv.name == "cluster",
	})
	t.Cleanup(func() { rdb.Close() })
	s, err := Open(e.ctx(), rdb, Options{Namespace: e.ns})
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })

	v := e.newObj(s, "Value", "x")
	assert.Equal(t, mp(t, "x"), v.must("Load"))
	assert.Equal(t, int32(luaScripts), s.lua.Load(), "scripts after a refused FCALL")
	calls := []*BatchCall{{ID: v.id, TypeID: "Value", Handle: 1, Method: "Swap", Args: enc(t, "y")}}
	s.CallBatch(e.ctx(), calls)
	require.NoError(t, calls[0].Err)
	assert.Equal(t, mp(t, "x"), calls[0].Result)
	assert.Equal(t, mp(t, "y"), v.must("Load"))
}
