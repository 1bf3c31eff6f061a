package main

import (
	"bytes"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/goproc/manager"
	"github.com/goproc/manager/internal/redistest"
)

// redisScene is a Redis engine (a real redis-server) with named objects
// in namespace "ctl" and a worker process holding the Lock "ctl.lock".
type redisScene struct {
	url    string
	holder int // the pid of the worker holding "ctl.lock"
}

func newRedisScene(t *testing.T) redisScene {
	t.Helper()
	ctx := testContext(t)
	srv := redistest.Standalone(t)
	url := "redis://" + srv.Addr
	s, err := manager.ConnectRedis(ctx, url, manager.WithRedisNamespace("ctl"))
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	d, err := manager.OpenDict[string, int](ctx, s, "ctl.dict")
	require.NoError(t, err)
	require.NoError(t, d.Store(ctx, "answer", 42))
	ready, err := manager.NewEvent(ctx, s)
	require.NoError(t, err)
	release, err := manager.OpenQueue[int](ctx, s, "ctl.release", 0)
	require.NoError(t, err)
	holder := forkHolder(t, s.Fork, "ctl.lock", ready, release)
	return redisScene{url: url, holder: holder}
}

// noEnv is an empty environment.
func noEnv(string) string { return "" }

func TestRedisCommands(t *testing.T) {
	sc := newRedisScene(t)
	pid := strconv.Itoa(sc.holder)
	ctl := func(t *testing.T, args ...string) string {
		t.Helper()
		var out bytes.Buffer
		require.NoError(t, run(testContext(t), append([]string{"-redis", sc.url, "-redis-namespace", "ctl"}, args...), &out, noEnv))
		return out.String()
	}

	t.Run("locks", func(t *testing.T) {
		out := ctl(t, "locks")
		line := lineWith(t, out, "ctl.lock")
		assert.Contains(t, line, "Lock")
		assert.Contains(t, line, " "+pid+"×1", "held by the worker")
		assert.NotContains(t, out, "ctl.dict")
	})
	t.Run("locks JSON", func(t *testing.T) {
		var objs []manager.ObjectInfo
		require.NoError(t, json.Unmarshal([]byte(ctl(t, "-json", "locks")), &objs))
		require.Len(t, objs, 1)
		assert.Equal(t, "ctl.lock", objs[0].Name)
		require.Len(t, objs[0].Holders, 1)
		assert.Equal(t, sc.holder, objs[0].Holders[0].Pid)
	})
	t.Run("objects", func(t *testing.T) {
		out := ctl(t, "objects")
		for _, name := range []string{"ctl.dict", "ctl.lock", "ctl.release"} {
			lineWith(t, out, name)
		}
	})
	t.Run("info", func(t *testing.T) {
		out := ctl(t, "info")
		assert.Contains(t, out, onRedisNote)
		assert.NotContains(t, out, "manager pid 0", "no manager's zeros")
		assert.NotContains(t, out, "bytes in")
		assert.NotContains(t, out, "METHOD")
		assert.Contains(t, lineWith(t, out, "ctl.lock"), "Lock")
	})
	t.Run("sessions", func(t *testing.T) {
		out := ctl(t, "sessions")
		assert.Regexp(t, `^PID +HOST +SESSION +OBJECTS\n`, out)
		lineWith(t, out, pid+" ")
	})
	t.Run("get", func(t *testing.T) {
		var m map[string]int
		require.NoError(t, json.Unmarshal([]byte(ctl(t, "get", "ctl.dict")), &m))
		assert.Equal(t, map[string]int{"answer": 42}, m)
	})
	t.Run("another namespace is empty", func(t *testing.T) {
		var out bytes.Buffer
		require.NoError(t, run(testContext(t), []string{"-redis", sc.url, "-redis-namespace", "other", "-json", "objects"}, &out, noEnv))
		assert.JSONEq(t, "[]", out.String())
	})
	t.Run("the URL from the environment", func(t *testing.T) {
		var out bytes.Buffer
		getenv := func(name string) string {
			if name == "MANAGER_REDIS_URL" {
				return sc.url
			}
			return ""
		}
		require.NoError(t, run(testContext(t), []string{"-redis-namespace", "ctl", "locks"}, &out, getenv))
		assert.Contains(t, lineWith(t, out.String(), "ctl.lock"), " "+pid+"×1")
	})
	t.Run("monitor", func(t *testing.T) {
		err := run(testContext(t), []string{"-redis", sc.url, "monitor"}, &bytes.Buffer{}, noEnv)
		require.ErrorIs(t, err, errMonitorRedis)
		assert.Contains(t, err.Error(), "redis-cli MONITOR")
	})
}

// lineWith returns the line of out that contains s.
func lineWith(t testing.TB, out, s string) string {
	t.Helper()
	for line := range strings.SplitSeq(out, "\n") {
		if strings.Contains(line, s) {
			return line
		}
	}
	require.Failf(t, "no line", "no line with %q in:\n%s", s, out)
	return ""
}

func TestRedisTarget(t *testing.T) {
	var warned bytes.Buffer
	old := warnings
	warnings = &warned
	t.Cleanup(func() { warnings = old })

	t.Run("a password on the command line", func(t *testing.T) {
		warned.Reset()
		ep, ok, err := redisTarget("redis://user:s3cret@127.0.0.1:1/0", "", "", "", noEnv)
		require.NoError(t, err)
		require.True(t, ok)
		assert.Contains(t, warned.String(), "process list")
		assert.Contains(t, warned.String(), "MANAGER_REDIS_URL")
		assert.NotContains(t, ep.address, "s3cret")
		assert.Contains(t, ep.address, "namespace manager")
	})
	t.Run("a password in the environment", func(t *testing.T) {
		warned.Reset()
		getenv := func(string) string { return "redis://:s3cret@127.0.0.1:1" }
		ep, ok, err := redisTarget("", "ns", "", "", getenv)
		require.NoError(t, err)
		require.True(t, ok)
		assert.Empty(t, warned.String())
		assert.NotContains(t, ep.address, "s3cret")
		assert.Contains(t, ep.address, "namespace ns")
	})
	t.Run("-addr wins over the environment", func(t *testing.T) {
		getenv := func(string) string { return "redis://127.0.0.1:1" }
		_, ok, err := redisTarget("", "", "m.sock", "", getenv)
		require.NoError(t, err)
		assert.False(t, ok)
	})
	t.Run("both on the command line", func(t *testing.T) {
		_, _, err := redisTarget("redis://127.0.0.1:1", "", "m.sock", "", noEnv)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "not both")
	})
	t.Run("a bad URL keeps its password out of the error", func(t *testing.T) {
		_, _, err := redisTarget("redis://u:s3cret@[::1", "", "", "", noEnv)
		require.Error(t, err)
		assert.NotContains(t, err.Error(), "s3cret")
	})
}

func TestRedisDashboard(t *testing.T) {
	sc := newRedisScene(t)
	ctx := testContext(t)
	d := startDashboardWith(t, noEnv, "-redis", sc.url, "-redis-namespace", "ctl", "dashboard", "-listen", "127.0.0.1:0", "-interval", "100ms")
	v := d.state(ctx, t)
	assert.True(t, v.OK, v.Status)
	assert.Contains(t, v.Status, "live: Redis")
	assert.Contains(t, v.Address, "namespace ctl")
	for _, name := range []string{"ctl.dict", "ctl.lock", "ctl.release"} {
		row(t, tableOf(t, v, "named"), name)
	}
	assert.Equal(t, strconv.Itoa(sc.holder)+"×1", strings.Fields(row(t, tableOf(t, v, "locks"), "ctl.lock")["HELD BY (PID×LEVELS FOR)"])[0])
	row(t, tableOf(t, v, "sessions"), strconv.Itoa(sc.holder))
	assert.Equal(t, []string{"PID", "HOST", "SESSION", "OBJECTS"}, tableOf(t, v, "sessions").Columns)
	assert.False(t, slices.ContainsFunc(v.Tables, func(tb table) bool { return tb.ID == "methods" }), "no calls by method on Redis")
	labels := make([]string, 0, len(v.Summary))
	for _, it := range v.Summary {
		labels = append(labels, it.Label)
	}
	assert.Equal(t, []string{"sessions", "objects", "blocked", "on Redis"}, labels, "no manager's zeros")
}
