package manager_test

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/goproc/manager"
)

// buildManagerctl builds cmd/managerctl into a temporary directory (go
// test puts its go command first in PATH).
func buildManagerctl(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "managerctl")
	// A build on a loaded machine can take longer than testContext's
	// 30 s: a bound of its own.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/managerctl").CombinedOutput()
	require.NoError(t, err, string(out))
	return bin
}

// managerctl runs bin with args and the environment variables env, and
// returns its standard output.
func managerctl(ctx context.Context, t testing.TB, bin string, env []string, args ...string) string {
	t.Helper()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), env...)
	var stderr []byte
	out, err := cmd.Output()
	if ee, ok := err.(*exec.ExitError); ok {
		stderr = ee.Stderr
	}
	require.NoError(t, err, string(stderr))
	return string(out)
}

func TestManagerctl(t *testing.T) {
	bin := buildManagerctl(t)
	ctx := testContext(t)
	infoPath := filepath.Join(t.TempDir(), "manager.json")
	m := startManager(t, manager.WithInfoFile(infoPath))
	st, err := os.Stat(infoPath)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm())

	d, err := manager.OpenDict[string, int](ctx, m, "ctl.dict")
	require.NoError(t, err)
	require.NoError(t, d.Store(ctx, "answer", 42))
	ready, err := manager.NewEvent(ctx, m)
	require.NoError(t, err)
	q, err := manager.OpenQueue[int](ctx, m, "ctl.q", 0)
	require.NoError(t, err)
	p, err := m.Fork(ctx, "stats.hold", "ctl.lock", ready, q)
	require.NoError(t, err)
	require.NoError(t, ready.Wait(ctx))
	pid := strconv.Itoa(p.Pid())

	t.Run("locks shows the holder's pid", func(t *testing.T) {
		ctx := testContext(t)
		out := managerctl(ctx, t, bin, nil, "-info-file", infoPath, "locks")
		assert.Contains(t, out, "ctl.lock")
		assert.Contains(t, out, pid+"×1")
	})
	t.Run("locks -json", func(t *testing.T) {
		ctx := testContext(t)
		out := managerctl(ctx, t, bin, nil, "-info-file", infoPath, "-json", "locks")
		var objs []manager.ObjectInfo
		require.NoError(t, json.Unmarshal([]byte(out), &objs))
		require.Len(t, objs, 1)
		assert.Equal(t, "ctl.lock", objs[0].Name)
		require.Len(t, objs[0].Holders, 1)
		assert.Equal(t, p.Pid(), objs[0].Holders[0].Pid)
	})
	t.Run("info by -addr and MANAGER_AUTHKEY", func(t *testing.T) {
		ctx := testContext(t)
		env := []string{"MANAGER_AUTHKEY=hex:" + hex.EncodeToString(m.AuthKey())}
		out := managerctl(ctx, t, bin, env, "-addr", m.Addr().String(), "info")
		assert.Contains(t, out, "manager pid "+strconv.Itoa(m.Pid()))
		for _, name := range []string{"ctl.dict", "ctl.q", "ctl.lock", "Dict.Store"} {
			assert.Contains(t, out, name)
		}
	})
	t.Run("sessions", func(t *testing.T) {
		ctx := testContext(t)
		out := managerctl(ctx, t, bin, nil, "-info-file", infoPath, "sessions")
		assert.Contains(t, out, pid)
		assert.Contains(t, out, strconv.Itoa(os.Getpid()))
	})
	t.Run("get", func(t *testing.T) {
		ctx := testContext(t)
		out := managerctl(ctx, t, bin, nil, "-info-file", infoPath, "get", "ctl.dict")
		assert.JSONEq(t, `{"answer": 42}`, out)
	})
	t.Run("no key", func(t *testing.T) {
		ctx := testContext(t)
		cmd := exec.CommandContext(ctx, bin, "-addr", m.Addr().String(), "info")
		cmd.Env = append(os.Environ(), "MANAGER_AUTHKEY=")
		out, err := cmd.CombinedOutput()
		require.Error(t, err)
		assert.Contains(t, string(out), "MANAGER_AUTHKEY")
	})

	require.NoError(t, q.Put(ctx, 1))
	require.NoError(t, waitProcess(ctx, t, p))
}

// TestManagerctlTCP reaches a manager served over TCP with a text key,
// as examples/remote serve runs one.
func TestManagerctlTCP(t *testing.T) {
	bin := buildManagerctl(t)
	ctx := testContext(t)
	m := startManager(t, manager.WithAddress("tcp", "127.0.0.1:0"), manager.WithAuthKey([]byte("SECRET")))
	d, err := manager.OpenDict[string, string](ctx, m, "remote.dict")
	require.NoError(t, err)
	require.NoError(t, d.Store(ctx, "k", "v"))
	out := managerctl(ctx, t, bin, []string{"MANAGER_AUTHKEY=SECRET"}, "-addr", m.Addr().String(), "info")
	assert.Contains(t, out, "remote.dict")
	assert.Contains(t, out, "Dict")
}
