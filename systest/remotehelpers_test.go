package systest

import (
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/goproc/manager"
	"github.com/goproc/manager/internal/errs"
	"github.com/goproc/manager/internal/wire"
)

// tcpServer is a Server serving a loopback TCP port from this process,
// so that tests can measure its memory and goroutines.
type tcpServer struct {
	srv  *manager.Server
	addr string
	key  []byte
}

// startTCPServer starts a server with a random key (opts may override
// it) on 127.0.0.1 and shuts it down when the test ends.
func startTCPServer(t testing.TB, opts ...manager.ServerOption) *tcpServer {
	t.Helper()
	key := make([]byte, 32)
	rand.Read(key)
	srv, err := manager.NewServer(append([]manager.ServerOption{manager.WithAuthKey(key)}, opts...)...)
	require.NoError(t, err)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		assert.NoError(t, srv.Shutdown(ctx))
		assert.ErrorIs(t, <-served, manager.ErrClosed)
	})
	return &tcpServer{srv: srv, addr: l.Addr().String(), key: key}
}

// connect opens a session with s, closed when the test ends.
func (s *tcpServer) connect(t testing.TB, opts ...manager.ClientOption) *manager.Client {
	t.Helper()
	c, err := manager.Connect(testContext(t), "tcp", s.addr, s.key, opts...)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

// rawConn speaks the wire protocol by hand, to send what a well-behaved
// client never would.
type rawConn struct {
	t      testing.TB
	nc     *net.TCPConn
	r      *wire.Reader
	w      wire.Buffer
	nextID uint64
}

// dialRaw connects to addr without a handshake. Every read and write is
// bounded by the test's context deadline. The caller closes c.nc.
func dialRaw(t testing.TB, addr string) *rawConn {
	t.Helper()
	ctx := testContext(t)
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", addr)
	require.NoError(t, err)
	deadline, _ := ctx.Deadline()
	nc.SetDeadline(deadline)
	return &rawConn{t: t, nc: nc.(*net.TCPConn), r: wire.NewReader(nc, wire.DefaultMaxFrameSize), nextID: 1}
}

// handshake authenticates with key.
func (c *rawConn) handshake(key []byte) error {
	var session [16]byte
	rand.Read(session[:])
	_, err := wire.ClientHandshake(c.nc, c.r, key, session)
	return err
}

// write sends raw bytes; a server that already hung up may refuse them,
// which the attacks ignore (what matters is what the server does).
func (c *rawConn) write(b []byte) { c.nc.Write(b) }

// writeFrame sends body as one frame.
func (c *rawConn) writeFrame(body []byte) {
	c.w.Begin()
	c.w.Write(body)
	frame, err := c.w.Finish(0)
	require.NoError(c.t, err)
	c.write(frame)
}

// call sends a request whose arguments are the msgpack bytes args, and
// returns its response.
func (c *rawConn) call(object uint64, method string, args []byte) wire.Response {
	c.t.Helper()
	id := c.nextID
	c.nextID++
	wire.BeginRequest(&c.w, id, object, 0, method)
	c.w.Write(args)
	frame, err := c.w.Finish(0)
	require.NoError(c.t, err)
	_, err = c.nc.Write(frame)
	require.NoError(c.t, err)
	return c.response(id)
}

// response reads until the response to request id.
func (c *rawConn) response(id uint64) wire.Response {
	c.t.Helper()
	for {
		body, err := c.r.ReadFrame()
		require.NoError(c.t, err)
		var m wire.Message
		require.NoError(c.t, wire.Decode(body, &m, nil))
		if m.Tag == wire.TagResponse && m.Response.ID == id {
			resp := m.Response
			resp.Result = append([]byte(nil), resp.Result...)
			return resp
		}
	}
}

// ping checks that the connection still serves requests.
func (c *rawConn) ping() {
	c.t.Helper()
	resp := c.call(0, "ping", []byte{0x90})
	require.Nil(c.t, resp.Failure)
}

// expectClosed reads until the server closes the connection, and fails
// the test if it is still open when the test's deadline comes.
func (c *rawConn) expectClosed() {
	c.t.Helper()
	for {
		_, err := c.r.ReadFrame()
		if err == nil {
			continue
		}
		require.Truef(c.t, errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET),
			"the server left the connection open: %v", err)
		return
	}
}

// failureIs checks that resp is a failure carrying sentinel.
func failureIs(t testing.TB, sentinel error, resp wire.Response) {
	t.Helper()
	require.NotNil(t, resp.Failure, "want a failure, got a result")
	assert.ErrorIs(t, errs.FromCode(resp.Failure.Code), sentinel, "failure: %+v", *resp.Failure)
}

// mustMarshal encodes v or fails the test.
func mustMarshal(t testing.TB, v any) []byte {
	t.Helper()
	b, err := msgpack.Marshal(v)
	require.NoError(t, err)
	return b
}

// heapAlloc returns the live heap after a full collection.
func heapAlloc() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}
