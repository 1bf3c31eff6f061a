package systest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/goproc/manager"
)

// securityGate lets a test hold a worker process alive while it looks at
// it: the worker calls Arrive, then waits until the test calls Release.
type securityGate struct {
	arriveOnce, releaseOnce sync.Once
	arrived, released       chan struct{}
}

func newSecurityGate() *securityGate {
	return &securityGate{arrived: make(chan struct{}), released: make(chan struct{})}
}

func (g *securityGate) Arrive()  { g.arriveOnce.Do(func() { close(g.arrived) }) }
func (g *securityGate) Release() { g.releaseOnce.Do(func() { close(g.released) }) }

// WaitArrived waits until Arrive has been called, or ctx ends.
func (g *securityGate) WaitArrived(ctx context.Context) error { return waitChan(ctx, g.arrived) }

// WaitReleased waits until Release has been called, or ctx ends.
func (g *securityGate) WaitReleased(ctx context.Context) error { return waitChan(ctx, g.released) }

func waitChan(ctx context.Context, ch <-chan struct{}) error {
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// workerSecurityHold is the worker role "security.hold" (childroles_test.go registers it).
func workerSecurityHold(ctx context.Context, c *manager.Client, args manager.Args) error {
	var name string
	if err := args.Decode(&name); err != nil {
		return err
	}
	gate, err := manager.Open(ctx, c, name, "security.Gate")
	if err != nil {
		return err
	}
	if _, err := manager.Call[struct{}](ctx, gate, "Arrive"); err != nil {
		return err
	}
	_, err = manager.Call[struct{}](ctx, gate, "WaitReleased")
	return err
}

// keyForms are the ways a key could be written down: raw, hex, base64.
func keyForms(key []byte) [][]byte {
	return [][]byte{
		key,
		[]byte(hex.EncodeToString(key)),
		bytes.ToUpper([]byte(hex.EncodeToString(key))),
		[]byte(base64.StdEncoding.EncodeToString(key)),
		[]byte(base64.RawStdEncoding.EncodeToString(key)),
		[]byte(base64.URLEncoding.EncodeToString(key)),
		[]byte(base64.RawURLEncoding.EncodeToString(key)),
		[]byte(fmt.Sprint(key)), // [1 2 3 …], as %v prints a []byte
	}
}

// assertNoKey checks that haystack holds key in none of its forms.
func assertNoKey(t testing.TB, key, haystack []byte, where string) {
	t.Helper()
	for _, form := range keyForms(key) {
		assert.False(t, bytes.Contains(haystack, form), "the key appears in %s (as %q)", where, form)
	}
}

// assertProcessHoldsNoKey checks the command line and environment of
// process pid.
func assertProcessHoldsNoKey(t testing.TB, key []byte, pid int, what string) {
	t.Helper()
	for _, file := range []string{"cmdline", "environ"} {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/%s", pid, file))
		require.NoError(t, err)
		require.NotEmpty(t, b, "/proc/%d/%s", pid, file)
		assertNoKey(t, key, b, what+" "+file)
	}
}

func TestUnixSocketIsPrivate(t *testing.T) {
	m := startManager(t)
	sock := m.Addr().String()
	st, err := os.Stat(sock)
	require.NoError(t, err)
	assert.NotZero(t, st.Mode()&os.ModeSocket, "%s is not a socket", sock)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm(), "socket mode")
	dir, err := os.Stat(filepath.Dir(sock))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o700), dir.Mode().Perm(), "socket directory mode")
}

// TestKeyNotInArgvOrEnvironment looks for the key where other local
// users can read it: the command line and environment of the manager
// process and of a forked worker.
func TestKeyNotInArgvOrEnvironment(t *testing.T) {
	ctx := testContext(t)
	m := startManager(t)
	key := m.AuthKey()
	require.Len(t, key, 32)
	require.NotEqual(t, os.Getpid(), m.Pid())
	assertProcessHoldsNoKey(t, key, m.Pid(), "the manager process's")

	gate, err := manager.Open(ctx, m, "security.gate", "security.Gate")
	require.NoError(t, err)
	w, err := m.Fork(ctx, "security.hold", "security.gate")
	require.NoError(t, err)
	// Once the worker has arrived, it has read its configuration (the
	// key with it) and is connected.
	_, err = manager.Call[struct{}](ctx, gate, "WaitArrived")
	require.NoError(t, err)
	assertProcessHoldsNoKey(t, key, w.Pid(), "the worker's")
	_, err = manager.Call[struct{}](ctx, gate, "Release")
	require.NoError(t, err)
	require.NoError(t, waitProcess(ctx, t, w))
}

// syncBuffer is a bytes.Buffer safe for the server's goroutines to log
// into while the test reads it.
type syncBuffer struct {
	mu sync.Mutex // guards b
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) Bytes() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return bytes.Clone(s.b.Bytes())
}

// TestKeyNotInLogsOrErrors logs everything, at Debug level, while
// clients with the wrong key and with the right one come and go, and
// checks that neither key shows in a log record or an error message.
func TestKeyNotInLogsOrErrors(t *testing.T) {
	ctx := testContext(t)
	var logs syncBuffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s := startTCPServer(t, manager.WithLogger(logger))
	wrong := make([]byte, 32)
	rand.Read(wrong)

	_, err := manager.Connect(ctx, "tcp", s.addr, wrong)
	require.ErrorIs(t, err, manager.ErrAuthFailed)
	assertNoKey(t, s.key, []byte(err.Error()), "the client's error")
	assertNoKey(t, wrong, []byte(err.Error()), "the client's error")

	raw := dialRaw(t, s.addr)
	defer raw.nc.Close()
	err = raw.handshake(wrong)
	require.ErrorIs(t, err, manager.ErrAuthFailed)
	assertNoKey(t, wrong, []byte(err.Error()), "the handshake's error")

	// A session that makes calls and fails some, then goes away.
	c := s.connect(t)
	p, err := manager.New(ctx, c, "hostile.Box")
	require.NoError(t, err)
	_, err = manager.Call[string](ctx, p, "Secret")
	require.ErrorIs(t, err, manager.ErrNotExposed)
	assertNoKey(t, s.key, []byte(err.Error()), "a call's error")
	require.NoError(t, c.Close())

	require.NoError(t, s.srv.Shutdown(ctx)) // every server goroutine has logged what it will
	out := logs.Bytes()
	assert.Contains(t, string(out), "handshake refused", "the capture saw the refusals")
	assertNoKey(t, s.key, out, "the logs")
	assertNoKey(t, wrong, out, "the logs")
}
