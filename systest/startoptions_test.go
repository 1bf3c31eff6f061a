package systest

import (
	"bufio"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/goproc/manager"
)

// Panicker's method panics, so that the manager logs its stack.
type Panicker struct{}

func (Panicker) Boom() int { panic("boom from the manager") }

// recordingHandler is a logger's handler that hands every record to the
// test.
type recordingHandler struct {
	level   slog.Level
	records chan slog.Record // buffered; records beyond it are dropped
}

func newRecorder(level slog.Level) *recordingHandler {
	return &recordingHandler{level: level, records: make(chan slog.Record, 1024)}
}

func (h *recordingHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level }
func (h *recordingHandler) Handle(_ context.Context, r slog.Record) error {
	select {
	case h.records <- r.Clone():
	default:
	}
	return nil
}
func (h *recordingHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *recordingHandler) WithGroup(string) slog.Handler      { return h }

// waitRecord returns the first record whose message is msg, or fails the
// test when ctx ends.
func (h *recordingHandler) waitRecord(ctx context.Context, t testing.TB, msg string) (slog.Record, map[string]string) {
	t.Helper()
	for {
		select {
		case r := <-h.records:
			if r.Message != msg {
				continue
			}
			attrs := map[string]string{}
			r.Attrs(func(a slog.Attr) bool { attrs[a.Key] = a.Value.String(); return true })
			return r, attrs
		case <-ctx.Done():
			require.FailNow(t, "no log record", "waited for %q: %v", msg, ctx.Err())
		}
	}
}

// tcpTLSOptions are the options of a manager serving TLS on loopback.
func tcpTLSOptions(serverTLS *tls.Config) ([]manager.StartOption, []byte) {
	key := make([]byte, 32)
	rand.Read(key)
	return []manager.StartOption{manager.WithAddress("tcp", "127.0.0.1:0"), manager.WithAuthKey(key), manager.WithTLS(serverTLS), manager.WithHandshakeTimeout(time.Second)}, key
}

func TestStartServesTLSInEveryMode(t *testing.T) {
	serverTLS, clientTLS := selfSignedTLS(t)
	for _, mode := range managerModes {
		t.Run(mode.Name, func(t *testing.T) {
			ctx := testContext(t)
			opts, key := tcpTLSOptions(serverTLS)
			m := startManager(t, append(opts, mode.Opts...)...)
			addr := m.Addr().String()

			// The manager's own session works over TLS.
			own, err := manager.New(ctx, m, "Counter")
			require.NoError(t, err)
			_, err = manager.Call[int64](ctx, own, "Add", int64(1))
			require.NoError(t, err)
			// So do workers: they trust the certificate the session verified.
			w, err := m.Fork(ctx, "add", own, 3)
			require.NoError(t, err)
			require.NoError(t, waitProcess(ctx, t, w))
			n, err := manager.Call[int64](ctx, own, "Get")
			require.NoError(t, err)
			assert.Equal(t, int64(4), n)

			// A plaintext client waits for the server's hello, which a TLS
			// server never sends: it is cut off by the handshake timeout
			// (1 s) or its own deadline.
			pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			_, err = manager.Connect(pctx, "tcp", addr, key)
			require.Error(t, err, "a plaintext client was served")

			c, err := manager.Connect(ctx, "tcp", addr, key, manager.WithTLS(clientTLS))
			require.NoError(t, err)
			defer c.Close()
			p, err := manager.New(ctx, c, "Counter")
			require.NoError(t, err)
			n, err = manager.Call[int64](ctx, p, "Add", int64(2))
			require.NoError(t, err)
			assert.Equal(t, int64(2), n)
		})
	}
}

// opaqueSigner is a private key that cannot be marshalled (as one kept in
// a hardware module).
type opaqueSigner struct{ crypto.Signer }

func TestStartRefusesTLSThatCannotTravel(t *testing.T) {
	serverTLS, _ := selfSignedTLS(t)
	with := func(change func(c *tls.Config)) *tls.Config {
		c := serverTLS.Clone()
		change(c)
		return c
	}
	tests := []struct {
		name string
		give *tls.Config
		want string
	}{
		{"GetCertificate", with(func(c *tls.Config) {
			c.GetCertificate = func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return nil, nil }
		}), "GetCertificate"},
		{"GetConfigForClient", with(func(c *tls.Config) {
			c.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) { return nil, nil }
		}), "GetConfigForClient"},
		{"VerifyPeerCertificate", with(func(c *tls.Config) {
			c.VerifyPeerCertificate = func([][]byte, [][]*x509.Certificate) error { return nil }
		}), "VerifyPeerCertificate"},
		{"ClientCAs", with(func(c *tls.Config) { c.ClientCAs = x509.NewCertPool() }), "ClientCAs"},
		{"KeyLogWriter", with(func(c *tls.Config) { c.KeyLogWriter = io.Discard }), "KeyLogWriter"},
		{"opaque key", with(func(c *tls.Config) {
			c.Certificates = []tls.Certificate{{Certificate: c.Certificates[0].Certificate, PrivateKey: opaqueSigner{c.Certificates[0].PrivateKey.(crypto.Signer)}}}
		}), "private key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts, _ := tcpTLSOptions(tt.give)
			m, err := manager.Start(testContext(t), opts...)
			if err == nil {
				m.Shutdown(testContext(t))
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
			assert.Contains(t, err.Error(), "InProcess")
		})
	}
}

func TestManagerProcessLogsReachTheParent(t *testing.T) {
	ctx := testContext(t)
	rec := newRecorder(slog.LevelDebug)
	m := startManager(t, manager.WithLogger(slog.New(rec)))
	p, err := manager.New(ctx, m, "Panicker")
	require.NoError(t, err)
	_, err = manager.Call[int](ctx, p, "Boom")
	require.Error(t, err)

	r, attrs := rec.waitRecord(ctx, t, "manager: method panicked")
	assert.Equal(t, slog.LevelError, r.Level)
	assert.Equal(t, "boom from the manager", attrs["panic"])
	assert.Contains(t, attrs["stack"], "Boom", "the panic's stack")
}

func TestManagerProcessHandshakeTimeout(t *testing.T) {
	ctx := testContext(t)
	rec := newRecorder(slog.LevelInfo)
	m := startManager(t, manager.WithHandshakeTimeout(100*time.Millisecond), manager.WithLogger(slog.New(rec)))
	nc, err := net.Dial(m.Addr().Network(), m.Addr().String())
	require.NoError(t, err)
	defer nc.Close()
	// The default timeout is 10 s: a manager that got ours has cut the
	// silent peer off well before 5 s.
	nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err = io.Copy(io.Discard, nc)
	require.NoError(t, err, "the manager kept a silent peer past its handshake timeout")
	rec.waitRecord(ctx, t, "manager: handshake refused")
}

// TestKilledManagerProcessLeavesNoDirectory: the parent removes the
// private directory of a manager process that was killed (and so could
// not remove it), when it reaps the process.
func TestKilledManagerProcessLeavesNoDirectory(t *testing.T) {
	ctx := testContext(t)
	m := startManager(t)
	dir := filepath.Dir(m.Addr().String())
	require.DirExists(t, dir)
	require.NoError(t, syscall.Kill(m.Pid(), syscall.SIGKILL))
	select {
	case <-m.Done():
	case <-ctx.Done():
		require.FailNow(t, "the manager's death went unnoticed")
	}
	require.NoError(t, m.Shutdown(ctx)) // returns once the process has been reaped
	assert.NoDirExists(t, dir)
}

// TestStartRemovesStaleDirectories: a directory left by a manager whose
// process died with it (SIGKILL, no parent left to clean up) is removed by
// the next Start, and a live manager's directory is not.
func TestStartRemovesStaleDirectories(t *testing.T) {
	ctx := testContext(t)
	live := startManager(t)
	exe, err := os.Executable()
	require.NoError(t, err)
	cmd := exec.CommandContext(ctx, exe)
	cmd.Env = append(os.Environ(), envChild+"="+childHoldManager)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	defer stdin.Close()
	require.NoError(t, cmd.Start())
	line, err := bufio.NewReader(stdout).ReadString('\n')
	require.NoError(t, err)
	stale := strings.TrimSpace(strings.TrimPrefix(line, "addr="))
	require.FileExists(t, stale)
	require.NoError(t, cmd.Process.Kill())
	cmd.Wait()
	require.FileExists(t, stale, "the killed program removed its socket")

	startManager(t, manager.InProcess())
	assert.NoDirExists(t, filepath.Dir(stale))
	assert.FileExists(t, live.Addr().String())
}

// childHoldManager is a program that starts an in-process manager, prints
// its address and waits for its stdin to close.
const childHoldManager = "hold-manager"

func holdManagerMain() int {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	m, err := manager.Start(ctx, manager.InProcess())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Printf("addr=%s\n", m.Addr())
	io.Copy(io.Discard, os.Stdin)
	m.Shutdown(ctx)
	return 0
}
