package systest

import (
	"bytes"
	"encoding/binary"
	"io"
	"math/rand/v2"
	"net"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/goproc/manager"
	"github.com/goproc/manager/internal/wire"
)

// hostileBox is the object hostile peers aim at: its methods take the
// argument types that a careless decoder allocates for ([]any, maps).
type hostileBox struct {
	mu sync.Mutex
	n  int64
}

func (b *hostileBox) Put(xs []any) int                { return len(xs) }
func (b *hostileBox) PutMap(m map[string]any) int     { return len(m) }
func (b *hostileBox) PutAnyMap(m map[any]any) int     { return len(m) }
func (b *hostileBox) Add(d int64) int64               { b.mu.Lock(); defer b.mu.Unlock(); b.n += d; return b.n }
func (b *hostileBox) Secret() string                  { return "never exposed" }
func (b *hostileBox) Echo(s string) string            { return s }
func (b *hostileBox) Store(m map[string][]int64) bool { return m != nil }

// hostileHandshakeTimeout is short so that peers that never finish the
// handshake are cut off within the test, and long enough for a loaded
// machine running -race to finish a real handshake.
const hostileHandshakeTimeout = time.Second

// hostileMaxFrame is the server's frame limit in these tests.
const hostileMaxFrame = 1 << 20

// heapBound is the generous limit on heap growth over one attack's
// rounds: an unbounded allocation (a 134 MB slice for a 5-byte header,
// memory kept per dropped connection) would exceed it at once.
const heapBound = 32 << 20

// An attack is one hostile or broken peer. It checks the server's
// immediate answer (an error or a closed connection); the test then
// checks that the server still serves everyone else.
type attack func(t *testing.T, s *tcpServer, round int)

// TestHostilePeers runs every attack many times against one server,
// while a well-behaved client stays connected, and checks after each
// attack that the well-behaved client and a new one are served, that
// the heap did not grow beyond heapBound and that the server's
// goroutines went away with the hostile connections.
func TestHostilePeers(t *testing.T) {
	tests := []struct {
		name   string
		rounds int
		attack attack
	}{
		// Before authentication.
		{"length prefix beyond the limit before auth", 200, preAuthOversized},
		{"truncated frame before auth", 200, preAuthTruncated},
		{"random bytes before auth", 200, preAuthRandom},
		{"frame of the wrong shape before auth", 200, preAuthWrongShape},
		{"auth of the wrong types", 200, preAuthWrongTypes},
		{"wrong key", 200, wrongKey},
		{"replayed handshake", 200, replayedHandshake},
		{"handshake never completed", 100, handshakeNeverCompleted},
		{"connections opened and dropped", 2000, openAndDrop},
		{"sessions opened and dropped", 300, authenticateAndDrop},
		// After authentication.
		{"length prefix beyond the limit", 200, oversized},
		{"truncated frame", 200, truncated},
		{"random bytes", 200, randomBytes},
		{"frames of the wrong shape", 200, wrongShape},
		{"arguments of the wrong types", 200, wrongTypes},
		{"huge array header into []any", 200, hugeArray},
		{"huge map header into map[string]any", 200, hugeMap},
		{"nesting too deep", 200, tooDeep},
		{"list as a map key into map[any]any", 200, unhashableKey},
		{"never-issued object id", 200, neverIssuedObject},
		{"freed object id", 200, freedObject},
		{"unexposed or missing method", 200, unexposedMethod},
	}
	s := startTCPServer(t, manager.WithHandshakeTimeout(hostileHandshakeTimeout), manager.WithMaxFrameSize(hostileMaxFrame))
	good := s.connect(t)
	counter, err := manager.New(testContext(t), good, "hostile.Box")
	require.NoError(t, err)

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := testContext(t) // each attack its own deadline
			goroutines := runtime.NumGoroutine()
			before := heapAlloc()
			for i := range tt.rounds {
				tt.attack(t, s, i)
			}
			after := heapAlloc()
			t.Logf("%d rounds: heap %.1f MiB -> %.1f MiB", tt.rounds, mib(before), mib(after))
			assert.Less(t, int64(after)-int64(before), int64(heapBound), "heap growth")

			// The well-behaved client was served throughout, and a new
			// one is served too.
			n, err := manager.Call[int64](ctx, counter, "Add", int64(1))
			require.NoError(t, err)
			assert.Positive(t, n)
			c := s.connect(t)
			p, err := manager.New(ctx, c, "hostile.Box")
			require.NoError(t, err)
			echo, err := manager.Call[string](ctx, p, "Echo", "still here")
			require.NoError(t, err)
			assert.Equal(t, "still here", echo)
			require.NoError(t, c.Close())

			// Objects the attack created went with its sessions.
			assert.Eventually(t, func() bool { return s.srv.NumObjects() == 1 },
				10*time.Second, 10*time.Millisecond, "objects: %d, want only the well-behaved client's", s.srv.NumObjects())

			// Every goroutine the attack made the server start ends:
			// nothing is left behind per hostile connection.
			assert.Eventually(t, func() bool { return runtime.NumGoroutine() <= goroutines+2 },
				10*time.Second, 10*time.Millisecond, "goroutines: %d before, %d now", goroutines, runtime.NumGoroutine())
		})
	}
}

func mib(n uint64) float64 { return float64(n) / (1 << 20) }

func preAuthOversized(t *testing.T, s *tcpServer, _ int) {
	c := dialRaw(t, s.addr)
	defer c.nc.Close()
	c.write([]byte{0x7f, 0xff, 0xff, 0xff})
	c.expectClosed()
}

func preAuthTruncated(t *testing.T, s *tcpServer, _ int) {
	c := dialRaw(t, s.addr)
	defer c.nc.Close()
	c.write([]byte{0, 0, 0, 100, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10})
	c.nc.CloseWrite()
	c.expectClosed()
}

func preAuthRandom(t *testing.T, s *tcpServer, round int) {
	c := dialRaw(t, s.addr)
	defer c.nc.Close()
	c.write(randomBytes4K(round))
	c.nc.CloseWrite()
	c.expectClosed()
}

func randomBytes4K(seed int) []byte {
	rng := rand.New(rand.NewPCG(uint64(seed), 4))
	b := make([]byte, 4096)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

func preAuthWrongShape(t *testing.T, s *tcpServer, _ int) {
	c := dialRaw(t, s.addr)
	defer c.nc.Close()
	c.writeFrame(mustMarshal(t, map[string]int{"hello": 1}))
	c.expectClosed()
}

func preAuthWrongTypes(t *testing.T, s *tcpServer, _ int) {
	c := dialRaw(t, s.addr)
	defer c.nc.Close()
	// An auth message is [nonce bin, session bin, mac bin].
	c.writeFrame(mustMarshal(t, []any{1, "session", true}))
	c.expectClosed()
}

func wrongKey(t *testing.T, s *tcpServer, _ int) {
	c := dialRaw(t, s.addr)
	defer c.nc.Close()
	require.ErrorIs(t, c.handshake([]byte("not the key")), manager.ErrAuthFailed)
	c.expectClosed()
}

// recordingConn keeps a copy of everything written through it.
type recordingConn struct {
	net.Conn
	written bytes.Buffer
}

func (c *recordingConn) Write(p []byte) (int, error) {
	c.written.Write(p)
	return c.Conn.Write(p)
}

// replayingConn writes a recorded message in place of whatever it is
// asked to write.
type replayingConn struct {
	net.Conn
	recorded []byte
}

func (c *replayingConn) Write(p []byte) (int, error) {
	if _, err := c.Conn.Write(c.recorded); err != nil {
		return 0, err
	}
	return len(p), nil
}

func replayedHandshake(t *testing.T, s *tcpServer, _ int) {
	// Record a client's half of a successful handshake...
	legit := dialRaw(t, s.addr)
	defer legit.nc.Close()
	rec := &recordingConn{Conn: legit.nc}
	var session [16]byte
	_, err := wire.ClientHandshake(rec, legit.r, s.key, session)
	require.NoError(t, err)

	// ...and replay it on a new connection: the server's new nonce makes
	// the recorded MAC worthless.
	c := dialRaw(t, s.addr)
	defer c.nc.Close()
	_, err = wire.ClientHandshake(&replayingConn{Conn: c.nc, recorded: rec.written.Bytes()}, c.r, s.key, session)
	require.ErrorIs(t, err, manager.ErrAuthFailed)
	c.expectClosed()
}

func handshakeNeverCompleted(t *testing.T, s *tcpServer, round int) {
	// Many at once, so that the rounds take one handshake timeout, not
	// a hundred.
	if round%50 != 0 {
		return
	}
	conns := make([]*rawConn, 50)
	for i := range conns {
		conns[i] = dialRaw(t, s.addr)
		defer conns[i].nc.Close()
	}
	start := time.Now()
	for _, c := range conns {
		c.expectClosed() // after reading the server's hello
	}
	assert.GreaterOrEqual(t, time.Since(start), hostileHandshakeTimeout/2, "closed before the handshake timeout")
}

func openAndDrop(t *testing.T, s *tcpServer, _ int) {
	nc, err := net.Dial("tcp", s.addr)
	require.NoError(t, err)
	nc.Close()
}

// dialAuthenticated dials s and completes the handshake with its key. The
// caller closes the connection (at once, so that rounds don't pile up).
func dialAuthenticated(t *testing.T, s *tcpServer) *rawConn {
	t.Helper()
	c := dialRaw(t, s.addr)
	if err := c.handshake(s.key); err != nil {
		c.nc.Close()
		require.NoError(t, err)
	}
	return c
}

func authenticateAndDrop(t *testing.T, s *tcpServer, _ int) {
	c := dialAuthenticated(t, s)
	defer c.nc.Close()
}

func oversized(t *testing.T, s *tcpServer, _ int) {
	c := dialAuthenticated(t, s)
	defer c.nc.Close()
	c.write([]byte{0, 0x10, 0, 1}) // one byte over hostileMaxFrame
	c.expectClosed()
}

func truncated(t *testing.T, s *tcpServer, _ int) {
	c := dialAuthenticated(t, s)
	defer c.nc.Close()
	c.write([]byte{0, 0, 0, 100, 0x96, 1, 1})
	c.nc.CloseWrite()
	c.expectClosed()
}

func randomBytes(t *testing.T, s *tcpServer, round int) {
	c := dialAuthenticated(t, s)
	defer c.nc.Close()
	c.write(randomBytes4K(round))
	c.nc.CloseWrite()
	c.expectClosed()
}

// wrongShape sends whole frames that are not valid messages: the frame
// boundary holds, so the server answers what it can and goes on.
func wrongShape(t *testing.T, s *tcpServer, _ int) {
	c := dialAuthenticated(t, s)
	defer c.nc.Close()
	c.writeFrame(mustMarshal(t, map[string]int{"hello": 1})) // not an array
	c.writeFrame([]byte{0x92, 9, 1})                         // unknown kind
	c.writeFrame([]byte{0x92, byte(wire.TagRequest), 1})     // a request of 2 fields
	c.writeFrame([]byte{0x92, byte(wire.TagResponse), 1})    // a response, to the server
	c.writeFrame([]byte{0x92, byte(wire.TagCancel), 77})     // cancel of no call
	c.writeFrame([]byte{})                                   // empty frame
	c.ping()

	// A request whose arguments are not an array is answered.
	failureIs(t, manager.ErrProtocol, c.call(0, "ping", []byte{0x01}))
	// Control methods given arguments of the wrong types.
	failureIs(t, manager.ErrBadArguments, c.call(0, "new", mustMarshal(t, []any{42})))
	failureIs(t, manager.ErrBadArguments, c.call(0, "open", mustMarshal(t, []any{"name", 7})))
	failureIs(t, manager.ErrBadArguments, c.call(0, "decref", mustMarshal(t, []any{"x"})))
	failureIs(t, manager.ErrNotRegistered, c.call(0, "new", mustMarshal(t, []any{"no.such.type"})))
	failureIs(t, manager.ErrNoSuchMethod, c.call(0, "shutdown", []byte{0x90}))
	c.ping()
}

func wrongTypes(t *testing.T, s *tcpServer, _ int) {
	c := dialAuthenticated(t, s)
	defer c.nc.Close()
	id := newBox(t, c)
	failureIs(t, manager.ErrBadArguments, c.call(id, "Put", mustMarshal(t, []any{"not a list"})))
	failureIs(t, manager.ErrBadArguments, c.call(id, "Put", mustMarshal(t, []any{})))
	failureIs(t, manager.ErrBadArguments, c.call(id, "Put", mustMarshal(t, []any{[]any{}, 1})))
	failureIs(t, manager.ErrBadArguments, c.call(id, "Add", mustMarshal(t, []any{"one"})))
	failureIs(t, manager.ErrBadArguments, c.call(id, "Store", mustMarshal(t, []any{map[string]any{"k": "v"}})))
	failureIs(t, manager.ErrBadArguments, c.call(id, "Echo", mustMarshal(t, []any{[]byte{0xff}, 2})))
	c.ping()
}

// newBox creates a hostile.Box over c and returns its object id.
func newBox(t *testing.T, c *rawConn) uint64 {
	t.Helper()
	resp := c.call(0, "new", mustMarshal(t, []any{"hostile.Box"}))
	require.Nil(t, resp.Failure)
	var ref wire.ProxyRef
	require.NoError(t, wire.Scan(resp.Result, func(r wire.ProxyRef) { ref = r }))
	require.NotZero(t, ref.ID)
	return ref.ID
}

// hugeArray declares an argument of 4 billion elements in 5 bytes: were
// it decoded into []any, msgpack/v5 would allocate 64 GiB before failing
// (vmihailenco/msgpack#401). The server refuses it before decoding.
func hugeArray(t *testing.T, s *tcpServer, _ int) {
	c := dialAuthenticated(t, s)
	defer c.nc.Close()
	id := newBox(t, c)
	failureIs(t, manager.ErrProtocol, c.call(id, "Put", []byte{0x91, 0xdd, 0xff, 0xff, 0xff, 0xff}))
	failureIs(t, manager.ErrProtocol, c.call(id, "Put", []byte{0x91, 0xdc, 0xff, 0xff, 0xc0}))
	failureIs(t, manager.ErrProtocol, c.call(id, "Put", []byte{0xdd, 0x7f, 0xff, 0xff, 0xff}))
	c.ping()
}

func hugeMap(t *testing.T, s *tcpServer, _ int) {
	c := dialAuthenticated(t, s)
	defer c.nc.Close()
	id := newBox(t, c)
	failureIs(t, manager.ErrProtocol, c.call(id, "PutMap", []byte{0x91, 0xdf, 0xff, 0xff, 0xff, 0xff}))
	failureIs(t, manager.ErrProtocol, c.call(id, "PutMap", []byte{0x91, 0xde, 0xff, 0xff, 0xa1, 'k', 0xc0}))
	failureIs(t, manager.ErrProtocol, c.call(id, "Put", []byte{0x91, 0x91, 0xc6, 0xff, 0xff, 0xff, 0xff}))
	c.ping()
}

func tooDeep(t *testing.T, s *tcpServer, _ int) {
	c := dialAuthenticated(t, s)
	defer c.nc.Close()
	id := newBox(t, c)
	args := append(bytes.Repeat([]byte{0x91}, wire.MaxDepth+2), 0xc0)
	failureIs(t, manager.ErrProtocol, c.call(id, "Put", args))
	c.ping()
}

// unhashableKey sends a map whose key is a list. msgpack/v5 panics when
// it decodes that into a map[any]any ("hash of unhashable type"); the
// server must answer with an error, not crash.
func unhashableKey(t *testing.T, s *tcpServer, _ int) {
	c := dialAuthenticated(t, s)
	defer c.nc.Close()
	id := newBox(t, c)
	failureIs(t, manager.ErrBadArguments, c.call(id, "PutAnyMap", []byte{0x91, 0x81, 0x91, 0x00, 0x00}))
	failureIs(t, manager.ErrBadArguments, c.call(0, "new", append(append([]byte{0x92}, mustMarshal(t, "hostile.MapBox")...), 0x81, 0x91, 0x00, 0x00)))
	resp := c.call(id, "PutAnyMap", mustMarshal(t, []any{map[any]any{"k": 1, 2: "v"}}))
	require.Nil(t, resp.Failure)
	c.ping()
}

func neverIssuedObject(t *testing.T, s *tcpServer, round int) {
	c := dialAuthenticated(t, s)
	defer c.nc.Close()
	failureIs(t, manager.ErrNoSuchObject, c.call(1<<40+uint64(round), "Add", mustMarshal(t, []any{1})))
	failureIs(t, manager.ErrNoSuchObject, c.call(^uint64(0), "Add", mustMarshal(t, []any{1})))
	c.ping()
}

func freedObject(t *testing.T, s *tcpServer, _ int) {
	ctx := testContext(t)
	owner := s.connect(t)
	p, err := manager.New(ctx, owner, "hostile.Box")
	require.NoError(t, err)
	require.NoError(t, p.Close()) // the last reference: the object is freed

	c := dialAuthenticated(t, s)
	defer c.nc.Close()
	failureIs(t, manager.ErrNoSuchObject, c.call(p.ID(), "Add", mustMarshal(t, []any{1})))
	c.ping()
	require.NoError(t, owner.Close())
}

func unexposedMethod(t *testing.T, s *tcpServer, _ int) {
	c := dialAuthenticated(t, s)
	defer c.nc.Close()
	id := newBox(t, c)
	failureIs(t, manager.ErrNotExposed, c.call(id, "Secret", []byte{0x90}))
	failureIs(t, manager.ErrNoSuchMethod, c.call(id, "NoSuchMethod", []byte{0x90}))
	failureIs(t, manager.ErrNoSuchMethod, c.call(id, "add", mustMarshal(t, []any{1}))) // unexported
	failureIs(t, manager.ErrNoSuchMethod, c.call(id, "", []byte{0x90}))
	c.ping()
}

// TestHandshakesHeldOpen measures what a peer that opens connections and
// never authenticates costs the server while they are open, and checks
// that the server frees it all once the handshake timeout cuts them off.
func TestHandshakesHeldOpen(t *testing.T) {
	const conns = 1000
	s := startTCPServer(t, manager.WithHandshakeTimeout(hostileHandshakeTimeout))
	ctx := testContext(t)
	deadline, _ := ctx.Deadline()
	goroutines := runtime.NumGoroutine()
	before := memInUse()

	held := make([]net.Conn, conns)
	hello := make([]byte, 256)
	for i := range held {
		nc, err := net.Dial("tcp", s.addr)
		require.NoError(t, err)
		defer nc.Close()
		nc.SetDeadline(deadline)
		// The server's hello shows it has accepted the connection and is
		// waiting for the client's answer.
		_, err = io.ReadFull(nc, hello[:wire.HeaderSize])
		require.NoError(t, err)
		_, err = io.ReadFull(nc, hello[:binary.BigEndian.Uint32(hello)])
		require.NoError(t, err)
		held[i] = nc
	}
	during := memInUse()
	perConn := (int64(during) - int64(before)) / conns
	t.Logf("%d unauthenticated connections held open: %.1f MiB -> %.1f MiB (heap and stacks), %d bytes each (both ends)",
		conns, mib(before), mib(during), perConn)
	assert.Less(t, perConn, int64(64<<10), "memory per unauthenticated connection")

	for _, nc := range held {
		_, err := nc.Read(hello)
		assert.ErrorIs(t, err, io.EOF, "the server closes connections that do not authenticate in time")
	}
	assert.Eventually(t, func() bool { return runtime.NumGoroutine() <= goroutines+2 },
		10*time.Second, 10*time.Millisecond, "goroutines: %d before, %d now", goroutines, runtime.NumGoroutine())
	after := memInUse()
	t.Logf("after the handshake timeout: %.1f MiB", mib(after))
	assert.Less(t, int64(after)-int64(before), int64(heapBound))
}

// memInUse returns the live heap plus goroutine stacks after a full
// collection.
func memInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc + ms.StackInuse
}

// TestShutdownCutsOffHandshakes checks that a peer stalled in the
// handshake cannot hold up Shutdown until its handshake timeout.
func TestShutdownCutsOffHandshakes(t *testing.T) {
	ctx := testContext(t)
	// Longer than the test's own deadline: only Shutdown can end it.
	s := startTCPServer(t, manager.WithHandshakeTimeout(time.Hour))
	stalled := dialRaw(t, s.addr)
	defer stalled.nc.Close()
	hello, err := stalled.r.ReadFrame() // the server is now waiting for us
	require.NoError(t, err)
	require.NotEmpty(t, hello)

	require.NoError(t, s.srv.Shutdown(ctx))
	stalled.expectClosed()
}
