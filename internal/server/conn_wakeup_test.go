//go:build linux

package server

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/goproc/manager/internal/builtin"
	"github.com/goproc/manager/internal/wire"
)

// wakeupServer is a server on a Unix socket with a dict and a queue to
// call, for the locked-reader tests.
type wakeupServer struct {
	s            *Server
	network      string
	addr         string
	dict, queue  uint64
	serveStopped chan struct{} // closed when Serve has returned
}

// startWakeupServer serves on network ("unix" or "tcp") with at most
// locked locked readers, and idle as the idle time before a locked
// reader gives its thread back.
func startWakeupServer(t testing.TB, network string, locked int, idle time.Duration) *wakeupServer {
	t.Helper()
	s := New(Config{Key: []byte("wakeup test key"), Limits: Limits{LockedReaders: locked}})
	s.idleDemote = idle
	addr := "127.0.0.1:0"
	if network == "unix" {
		dir, err := os.MkdirTemp("", "wakeup-")
		require.NoError(t, err)
		t.Cleanup(func() { os.RemoveAll(dir) })
		addr = filepath.Join(dir, "s.sock")
	}
	l, err := net.Listen(network, addr)
	require.NoError(t, err)
	w := &wakeupServer{s: s, network: network, addr: l.Addr().String(), serveStopped: make(chan struct{})}
	typ, ok := lookupType(builtin.TypeDict)
	require.True(t, ok)
	d, err := builtin.NewDict(context.Background(), nil)
	require.NoError(t, err)
	w.dict = s.objects.add(typ, reflect.ValueOf(d)).id
	typ, ok = lookupType(builtin.TypeQueue)
	require.True(t, ok)
	q, err := builtin.NewQueue(0)
	require.NoError(t, err)
	w.queue = s.objects.add(typ, reflect.ValueOf(q)).id
	go func() {
		defer close(w.serveStopped)
		s.Serve(l)
	}()
	t.Cleanup(func() { shutdownWithin(t, w, 10*time.Second) })
	return w
}

// shutdownWithin shuts the server down and fails unless Shutdown (and
// Serve) returned within limit.
func shutdownWithin(t testing.TB, w *wakeupServer, limit time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- w.s.Shutdown(ctx) }()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-ctx.Done():
		require.FailNow(t, "Shutdown did not return", "within %v", limit)
	}
	select {
	case <-w.serveStopped:
	case <-ctx.Done():
		require.FailNow(t, "Serve did not return after Shutdown")
	}
}

// A testPeer is a raw client connection.
type testPeer struct {
	nc net.Conn
	r  *wire.Reader
	id uint64
}

func (w *wakeupServer) dial(t testing.TB) *testPeer {
	t.Helper()
	nc, err := net.Dial(w.network, w.addr)
	require.NoError(t, err)
	t.Cleanup(func() { nc.Close() })
	require.NoError(t, nc.SetDeadline(time.Now().Add(30*time.Second))) // bounds every read and write of the test
	r := wire.NewReader(nc, wire.DefaultMaxFrameSize)
	_, err = wire.ClientHandshake(nc, r, w.s.AuthKey(), [16]byte{1})
	require.NoError(t, err)
	return &testPeer{nc: nc, r: r}
}

// request returns a request frame calling method on object with args.
func (p *testPeer) request(t testing.TB, object uint64, method string, args ...any) []byte {
	t.Helper()
	p.id++
	var b wire.Buffer
	wire.BeginRequest(&b, p.id, object, 1, method)
	b.ArrayHeader(len(args))
	enc := msgpack.NewEncoder(&b)
	for _, a := range args {
		require.NoError(t, enc.Encode(a))
	}
	frame, err := b.Finish(wire.DefaultMaxFrameSize)
	require.NoError(t, err)
	return append([]byte(nil), frame...)
}

// call makes one call and checks that it succeeded.
func (p *testPeer) call(t testing.TB, object uint64, method string, args ...any) {
	t.Helper()
	_, err := p.nc.Write(p.request(t, object, method, args...))
	require.NoError(t, err)
	p.reply(t, p.id)
}

// reply reads the reply to request id and checks that it succeeded.
func (p *testPeer) reply(t testing.TB, id uint64) {
	t.Helper()
	body, err := p.r.ReadFrame()
	require.NoError(t, err)
	var m wire.Message
	require.NoError(t, wire.Decode(body, &m, nil))
	require.Equal(t, wire.TagResponse, m.Tag)
	require.Equal(t, id, m.Response.ID)
	require.Nil(t, m.Response.Failure)
}

// pingPong makes enough calls for the connection to ask for a locked
// reader.
func (p *testPeer) pingPong(t testing.TB, w *wakeupServer) {
	t.Helper()
	for i := range 2 * promoteAfter {
		p.call(t, w.dict, "Store", i, i)
	}
}

// locked reports how many connections hold a locked reader.
func (w *wakeupServer) locked() int64 { return w.s.lockedNow.Load() }

// eventually waits, within a generous bound, until cond holds.
func eventually(t testing.TB, cond func() bool, what string) {
	t.Helper()
	require.Eventually(t, cond, 20*time.Second, time.Millisecond, what)
}

// TestLockedReaderOnlyForPingPongingUnixSockets checks which connections
// get a locked reader: a Unix-socket connection making calls one after
// another does, one that never sends does not, and TCP never does.
func TestLockedReaderOnlyForPingPongingUnixSockets(t *testing.T) {
	tests := []struct {
		name    string
		network string
		calls   bool
		want    int64
	}{
		{"unix, calls", "unix", true, 1},
		{"unix, silent", "unix", false, 0},
		{"tcp, calls", "tcp", true, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := startWakeupServer(t, tt.network, 4, time.Hour)
			p := w.dial(t)
			if tt.calls {
				p.pingPong(t, w)
			}
			p.call(t, w.dict, "Len") // served after any promotion
			assert.Equal(t, tt.want, w.locked())
		})
	}
}

// TestLockedReadersAreBounded checks that no more connections than
// LockedReaders hold a locked reader, and that one gone idle gives its
// slot back for another to take.
func TestLockedReadersAreBounded(t *testing.T) {
	const slots = 2
	w := startWakeupServer(t, "unix", slots, 50*time.Millisecond)
	peers := make([]*testPeer, 2*slots)
	for i := range peers {
		peers[i] = w.dial(t)
	}
	for range 2 * promoteAfter {
		for _, p := range peers {
			p.call(t, w.dict, "Store", 1, 1)
			require.LessOrEqual(t, w.locked(), int64(slots))
		}
	}
	assert.Equal(t, int64(slots), w.locked())
	// Every peer now idle: each locked reader gives its slot back.
	eventually(t, func() bool { return w.locked() == 0 }, "idle connections give their locked readers back")
	peers[len(peers)-1].pingPong(t, w)
	peers[len(peers)-1].call(t, w.dict, "Len")
	assert.Equal(t, int64(1), w.locked())
}

// TestShutdownInterruptsLockedReaders checks that Shutdown returns
// promptly while locked readers wait in poll(2), which neither a
// deadline nor Close interrupts: one between frames, one in the middle
// of a frame.
func TestShutdownInterruptsLockedReaders(t *testing.T) {
	tests := []struct {
		name    string
		partial bool
	}{
		{"idle", false},
		{"mid-frame", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := startWakeupServer(t, "unix", 1, time.Hour)
			p := w.dial(t)
			p.pingPong(t, w)
			p.call(t, w.dict, "Len")
			require.Equal(t, int64(1), w.locked())
			if tt.partial {
				frame := p.request(t, w.dict, "Store", "k", "v")
				_, err := p.nc.Write(frame[:len(frame)-2])
				require.NoError(t, err)
			}
			shutdownWithin(t, w, 10*time.Second)
			assert.Equal(t, int64(0), w.locked())
		})
	}
}

// TestLockedReaderHandsOffBlockedCalls checks that a call that blocks on
// a locked connection (a Get on an empty queue) lets the connection go
// on serving, is answered once another connection puts an item, and
// that the connection keeps its slot.
func TestLockedReaderHandsOffBlockedCalls(t *testing.T) {
	w := startWakeupServer(t, "unix", 1, time.Hour)
	p := w.dial(t)
	p.pingPong(t, w)
	_, err := p.nc.Write(p.request(t, w.queue, "Get"))
	require.NoError(t, err)
	get := p.id
	p.call(t, w.dict, "Len") // served while the Get waits
	other := w.dial(t)
	other.call(t, w.queue, "Put", msgpack.RawMessage{0x01})
	p.reply(t, get)
	p.pingPong(t, w)
	assert.Equal(t, int64(1), w.locked())
}

// TestLockedReadersLeaveNoThreads checks that connections served on
// locked threads leave neither threads nor slots behind once closed.
func TestLockedReadersLeaveNoThreads(t *testing.T) {
	w := startWakeupServer(t, "unix", 1, time.Hour)
	cycle := func() {
		p := w.dial(t)
		p.pingPong(t, w)
		p.call(t, w.dict, "Len")
		require.Equal(t, int64(1), w.locked())
		p.nc.Close()
		eventually(t, func() bool { return w.locked() == 0 }, "a closed connection gives its slot back")
		eventually(t, func() bool {
			w.s.mu.Lock()
			defer w.s.mu.Unlock()
			return len(w.s.conns) == 0
		}, "the connection's reader has ended")
	}
	cycle() // the runtime makes the threads it keeps
	before := threads(t)
	for range 10 {
		cycle()
	}
	assert.LessOrEqual(t, threads(t), before+2, "threads after 10 more connections (before: %d)", before)
}

// threads counts this process's threads.
func threads(t testing.TB) int {
	t.Helper()
	tasks, err := os.ReadDir("/proc/self/task")
	require.NoError(t, err)
	return len(tasks)
}
