package systest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/goproc/manager"
)

// remoteCell is a plain shared value: its Get and Set are each atomic,
// but Get-then-Set is not, so only the lock keeps increments whole.
type remoteCell struct{ v int64 }

func (c *remoteCell) Get() int64  { return c.v }
func (c *remoteCell) Set(v int64) { c.v = v }
func newRemoteCell() *remoteCell  { return &remoteCell{} }

// remoteMutex is a lock-like custom type: Lock waits (watching its ctx,
// so a caller that gives up is withdrawn) until Unlock.
type remoteMutex struct{ held chan struct{} }

func newRemoteMutex() *remoteMutex { return &remoteMutex{held: make(chan struct{}, 1)} }

// Lock takes the mutex, waiting for it until ctx ends.
func (m *remoteMutex) Lock(ctx context.Context) error {
	select {
	case m.held <- struct{}{}:
		return nil // uncontended: no need to watch ctx
	default:
	}
	select {
	case m.held <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Unlock releases the mutex.
func (m *remoteMutex) Unlock() error {
	select {
	case <-m.held:
		return nil
	default:
		return errors.New("unlock of an unlocked mutex")
	}
}

// remoteIncrement is a program unrelated to the server: it is given an
// address and a key (as a user would type them) and connects by itself,
// leaving aside the client Fork gave it. It then increments the named
// cell under the named mutex, rounds times.
func remoteIncrement(ctx context.Context, _ *manager.Client, args manager.Args) error {
	var addr string
	var key []byte
	var rounds int
	if err := args.Decode(&addr, &key, &rounds); err != nil {
		return err
	}
	c, err := manager.Connect(ctx, "tcp", addr, key)
	if err != nil {
		return err
	}
	defer c.Close()
	cell, err := manager.Open(ctx, c, "remote.cell", "remote.Cell")
	if err != nil {
		return err
	}
	mu, err := manager.Open(ctx, c, "remote.mutex", "remote.Mutex")
	if err != nil {
		return err
	}
	for range rounds {
		if _, err := manager.Call[struct{}](ctx, mu, "Lock"); err != nil {
			return err
		}
		v, err := manager.Call[int64](ctx, cell, "Get")
		if err != nil {
			return err
		}
		if _, err := manager.Call[struct{}](ctx, cell, "Set", v+1); err != nil {
			return err
		}
		if _, err := manager.Call[struct{}](ctx, mu, "Unlock"); err != nil {
			return err
		}
	}
	return nil
}

// TestRemoteProcessesShareNamedObjects has two processes that are not
// children of the server's (as far as the protocol knows) find a cell
// and a mutex by name over TCP and increment the cell under the mutex.
func TestRemoteProcessesShareNamedObjects(t *testing.T) {
	const rounds = 50
	ctx := testContext(t)
	s := startTCPServer(t)
	local := s.connect(t)

	var procs []*manager.Process
	for range 2 {
		p, err := local.Fork(ctx, "remote.increment", s.addr, s.key, rounds)
		require.NoError(t, err)
		assert.NotEqual(t, os.Getpid(), p.Pid())
		procs = append(procs, p)
	}
	for _, p := range procs {
		require.NoError(t, waitProcess(ctx, t, p))
	}

	cell, err := manager.Open(ctx, local, "remote.cell", "remote.Cell")
	require.NoError(t, err)
	n, err := manager.Call[int64](ctx, cell, "Get")
	require.NoError(t, err)
	assert.Equal(t, int64(2*rounds), n, "an increment was lost: the mutex did not exclude")

	// The named objects outlive the sessions that made them, and go when
	// their names are deleted.
	require.NoError(t, cell.Close())
	for _, name := range []string{"remote.cell", "remote.mutex"} {
		ok, err := local.Delete(ctx, name)
		require.NoError(t, err)
		assert.True(t, ok)
	}
	assert.Eventually(t, func() bool { return s.srv.NumObjects() == 0 }, 10*time.Second, 5*time.Millisecond,
		"objects left: %d", s.srv.NumObjects())
}

func TestRemoteWrongKey(t *testing.T) {
	ctx := testContext(t)
	s := startTCPServer(t)
	_, err := manager.Connect(ctx, "tcp", s.addr, []byte("a wrong key"))
	require.ErrorIs(t, err, manager.ErrAuthFailed)
	assert.NotContains(t, err.Error(), "a wrong key")
	assert.NotContains(t, err.Error(), string(s.key))
}

func TestTCPNeedsAnExplicitKey(t *testing.T) {
	t.Run("Serve", func(t *testing.T) {
		srv, err := manager.NewServer()
		require.NoError(t, err)
		l, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		err = srv.Serve(l)
		require.ErrorIs(t, err, manager.ErrNoAuthKey)
		_, err = l.Accept()
		assert.ErrorIs(t, err, net.ErrClosed, "Serve closes the listener it refuses")
		require.NoError(t, srv.Close())
	})
	t.Run("ListenAndServe", func(t *testing.T) {
		addr := freeTCPAddr(t)
		srv, err := manager.NewServer(manager.WithAddress("tcp", addr))
		require.NoError(t, err)
		require.ErrorIs(t, srv.ListenAndServe(), manager.ErrNoAuthKey)
		l, err := net.Listen("tcp", addr)
		require.NoError(t, err, "ListenAndServe must refuse before it listens")
		l.Close()
		require.NoError(t, srv.Close())
	})
	t.Run("ListenAndServe without an address", func(t *testing.T) {
		srv, err := manager.NewServer(manager.WithAuthKey([]byte("k")))
		require.NoError(t, err)
		assert.Error(t, srv.ListenAndServe())
		require.NoError(t, srv.Close())
	})
}

// freeTCPAddr returns a loopback address with a port that was free a
// moment ago. Another process could take it before the test listens; the
// test then fails to listen, loudly, rather than pass wrongly.
func freeTCPAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return addr
}

func TestListenAndServe(t *testing.T) {
	tests := []struct {
		name    string
		network string
		addr    func(t *testing.T) string
	}{
		{"tcp", "tcp", func(t *testing.T) string { return freeTCPAddr(t) }},
		{"unix", "unix", func(t *testing.T) string { return filepath.Join(t.TempDir(), "m.sock") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := testContext(t)
			key := []byte("listen and serve key")
			addr := tt.addr(t)
			srv, err := manager.NewServer(manager.WithAddress(tt.network, addr), manager.WithAuthKey(key))
			require.NoError(t, err)
			served := make(chan error, 1)
			go func() { served <- srv.ListenAndServe() }()

			// ListenAndServe gives no signal that it listens: try until
			// the listener answers.
			var c *manager.Client
			require.Eventually(t, func() bool {
				c, err = manager.Connect(ctx, tt.network, addr, key)
				return err == nil
			}, 10*time.Second, 5*time.Millisecond)
			p, err := manager.New(ctx, c, "remote.Cell")
			require.NoError(t, err)
			_, err = manager.Call[struct{}](ctx, p, "Set", int64(7))
			require.NoError(t, err)
			v, err := manager.Call[int64](ctx, p, "Get")
			require.NoError(t, err)
			assert.Equal(t, int64(7), v)
			require.NoError(t, c.Close())

			if tt.network == "unix" {
				st, err := os.Stat(addr)
				require.NoError(t, err)
				assert.Equal(t, os.FileMode(0o600), st.Mode().Perm())
			}
			require.NoError(t, srv.Shutdown(ctx))
			assert.ErrorIs(t, <-served, manager.ErrClosed)
		})
	}
}

// selfSignedTLS returns a server configuration with a new self-signed
// certificate for the loopback addresses, and a client configuration
// that trusts it.
func selfSignedTLS(t testing.TB) (server, client *tls.Config) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "manager test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	roots := x509.NewCertPool()
	roots.AddCert(cert)
	server = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}, MinVersion: tls.VersionTLS13}
	client = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS13}
	return server, client
}

func TestTLS(t *testing.T) {
	serverTLS, clientTLS := selfSignedTLS(t)
	s := startTCPServer(t, manager.WithTLS(serverTLS), manager.WithHandshakeTimeout(time.Second))

	t.Run("round trip", func(t *testing.T) {
		ctx := testContext(t)
		c := s.connect(t, manager.WithTLS(clientTLS))
		p, err := manager.New(ctx, c, "remote.Cell")
		require.NoError(t, err)
		_, err = manager.Call[struct{}](ctx, p, "Set", int64(42))
		require.NoError(t, err)
		v, err := manager.Call[int64](ctx, p, "Get")
		require.NoError(t, err)
		assert.Equal(t, int64(42), v)

		// Concurrent calls open more connections, each through TLS.
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for range 8 {
			wg.Go(func() {
				_, err := manager.Call[int64](ctx, p, "Get")
				errs <- err
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			assert.NoError(t, err)
		}
	})
	t.Run("wrong key", func(t *testing.T) {
		_, err := manager.Connect(testContext(t), "tcp", s.addr, []byte("wrong"), manager.WithTLS(clientTLS))
		assert.ErrorIs(t, err, manager.ErrAuthFailed)
	})
	t.Run("untrusted certificate", func(t *testing.T) {
		_, otherRoots := selfSignedTLS(t)
		_, err := manager.Connect(testContext(t), "tcp", s.addr, s.key, manager.WithTLS(otherRoots))
		var verr *tls.CertificateVerificationError
		assert.ErrorAs(t, err, &verr)
	})
	t.Run("client without TLS", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(testContext(t), 5*time.Second)
		defer cancel()
		_, err := manager.Connect(ctx, "tcp", s.addr, s.key)
		assert.Error(t, err)
	})
	t.Run("peer stalls inside TLS", func(t *testing.T) {
		c := dialRaw(t, s.addr)
		defer c.nc.Close()
		c.expectClosed() // cut off by the handshake timeout
	})
	t.Run("TLS client, plain server", func(t *testing.T) {
		plain := startTCPServer(t)
		_, err := manager.Connect(testContext(t), "tcp", plain.addr, plain.key, manager.WithTLS(clientTLS))
		assert.Error(t, err)
	})
}
