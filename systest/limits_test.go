package systest

import (
	"context"
	"encoding/binary"
	"os"
	"runtime"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/goproc/manager"
	"github.com/goproc/manager/internal/errs"
	"github.com/goproc/manager/internal/wire"
)

// limitsBox is the custom type the limit attacks aim at.
type limitsBox struct{}

// Take accepts any value, so msgpack decodes it into whatever shape the
// caller sent.
func (limitsBox) Take(v any) bool { return v != nil }

// Hold keeps executing (without blocking in the protocol's sense: it
// never asks its context), holding data, until the test lets it return.
func (limitsBox) Hold(data []byte) int {
	h := limitsHold.Load()
	h.holding <- struct{}{}
	<-h.release
	return len(data)
}

// limitsHold synchronises a test with Hold; made anew by each test that
// uses it.
var limitsHold atomic.Pointer[struct{ holding, release chan struct{} }]

// limitsHeapBound is the heap growth an attack may cause beyond the
// frames it is allowed to have in flight: an unbounded decode (tens of
// bytes per byte sent) exceeds it many times over.
const limitsHeapBound = 24 << 20

// heapPeak samples the live heap until stop is called, and returns the
// highest sample minus the heap at the start. It measures what the
// server holds during an attack, from the same process.
func heapPeak(t testing.TB) (stop func() int64) {
	t.Helper()
	runtime.GC()
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	read := func() int64 { metrics.Read(sample); return int64(sample[0].Value.Uint64()) }
	base := read()
	done, finished := make(chan struct{}), make(chan int64)
	go func() {
		peak := base
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			peak = max(peak, read())
			select {
			case <-done:
				finished <- peak
				return
			case <-tick.C:
			}
		}
	}()
	return func() int64 {
		close(done)
		return <-finished - base
	}
}

// arrayOf returns a msgpack array of n copies of the encoded value elem.
func arrayOf(n int, elem []byte) []byte {
	b := make([]byte, 5, 5+n*len(elem))
	b[0] = 0xdd
	binary.BigEndian.PutUint32(b[1:], uint32(n))
	for range n {
		b = append(b, elem...)
	}
	return b
}

// args1 wraps one encoded argument into an argument array.
func args1(arg []byte) []byte { return append([]byte{0x91}, arg...) }

// newObjectRaw creates an object of typeid with encoded constructor
// arguments over c and returns its id.
func newObjectRaw(t testing.TB, c *rawConn, args []byte) uint64 {
	t.Helper()
	resp := c.call(0, "new", args)
	require.Nil(t, resp.Failure)
	var ref wire.ProxyRef
	require.NoError(t, wire.Scan(resp.Result, func(r wire.ProxyRef) { ref = r }))
	require.NotZero(t, ref.ID)
	return ref.ID
}

// assertServing checks that the well-behaved client and a new one are
// served.
func assertServing(t *testing.T, s *tcpServer, good *manager.Client) {
	t.Helper()
	ctx := testContext(t)
	q, err := manager.NewQueue[int](ctx, good, 0)
	require.NoError(t, err)
	require.NoError(t, q.Put(ctx, 1))
	c := s.connect(t)
	n, err := manager.NewList[int](ctx, c, 1, 2)
	require.NoError(t, err)
	got, err := n.Len(ctx)
	require.NoError(t, err)
	assert.Equal(t, 2, got)
	require.NoError(t, c.Close())
}

// TestLimits reproduces each way one authenticated client could make the
// manager take memory without bound, scaled to run in seconds, and checks
// that it gets a typed error, that the server goes on serving (the
// attacker's connection too, where the attack leaves it usable), and that
// the server's heap stays bounded.
func TestLimits(t *testing.T) {
	// A List.Extend of nils: 57 bytes of []msgpack.RawMessage per byte.
	t.Run("List.Extend of nils", func(t *testing.T) {
		s := startTCPServer(t, manager.WithMaxFrameSize(8<<20))
		good := s.connect(t)
		c := dialAuthenticated(t, s)
		defer c.nc.Close()
		list := newObjectRaw(t, c, mustMarshal(t, []any{"List", []any{}}))
		args := args1(arrayOf(5<<20, []byte{0xc0})) // costs 5 Mi × 57 B > 256 MiB

		peak := heapPeak(t)
		failureIs(t, manager.ErrTooLarge, c.call(list, "Extend", args))
		grew := peak()
		t.Logf("heap peak +%.1f MiB for a %.1f MiB request", mib(uint64(grew)), mib(uint64(len(args))))
		assert.Less(t, grew, int64(len(args)+limitsHeapBound))
		c.ping() // the connection goes on
		assertServing(t, s, good)
	})

	// A custom method taking any, given empty arrays: 40 bytes of []any
	// per byte.
	t.Run("empty arrays into any", func(t *testing.T) {
		s := startTCPServer(t, manager.WithMaxFrameSize(8<<20), manager.WithMaxRequestSize(64<<20))
		good := s.connect(t)
		c := dialAuthenticated(t, s)
		defer c.nc.Close()
		box := newObjectRaw(t, c, mustMarshal(t, []any{"limits.Box"}))
		args := args1(arrayOf(2<<20, []byte{0x90}))

		peak := heapPeak(t)
		failureIs(t, manager.ErrTooLarge, c.call(box, "Take", args))
		grew := peak()
		t.Logf("heap peak +%.1f MiB for a %.1f MiB request", mib(uint64(grew)), mib(uint64(len(args))))
		assert.Less(t, grew, int64(len(args)+limitsHeapBound))
		c.ping()
		// Below the limit the same shape is served.
		resp := c.call(box, "Take", args1(arrayOf(1<<10, []byte{0x90})))
		require.Nil(t, resp.Failure)
		assertServing(t, s, good)
	})

	// Pipelined blocking calls: each one costs a goroutine.
	t.Run("pipelined blocked Queue.Get", func(t *testing.T) {
		const limit, extra = 64, 32
		s := startTCPServer(t, manager.WithMaxBlockedCalls(limit))
		good := s.connect(t)
		ctx := testContext(t)
		q, err := manager.OpenQueue[int](ctx, good, "q", 0)
		require.NoError(t, err)
		c := dialAuthenticated(t, s)
		defer c.nc.Close()
		resp := c.call(0, "open", mustMarshal(t, []any{"q", "Queue", 0}))
		require.Nil(t, resp.Failure)
		var ref wire.ProxyRef
		require.NoError(t, wire.Scan(resp.Result, func(r wire.ProxyRef) { ref = r }))
		goroutines := runtime.NumGoroutine()

		first := c.nextID
		for range limit + extra {
			wire.BeginRequest(&c.w, c.nextID, ref.ID, 0, "Get")
			c.w.Write([]byte{0x90})
			frame, err := c.w.Finish(0)
			require.NoError(t, err)
			c.write(frame)
			c.nextID++
		}
		// The calls past the limit are refused at once...
		for range extra {
			body, err := c.r.ReadFrame()
			require.NoError(t, err)
			var m wire.Message
			require.NoError(t, wire.Decode(body, &m, nil))
			require.GreaterOrEqual(t, m.Response.ID, first+limit, "a call within the limit was answered")
			failureIs(t, manager.ErrBusy, m.Response)
		}
		// ...the connection goes on, holding a bounded number of
		// goroutines...
		c.ping()
		assert.LessOrEqual(t, runtime.NumGoroutine(), goroutines+limit+4)
		// ...and the calls within the limit are served.
		for i := range limit {
			require.NoError(t, q.Put(ctx, i))
		}
		for range limit {
			body, err := c.r.ReadFrame()
			require.NoError(t, err)
			var m wire.Message
			require.NoError(t, wire.Decode(body, &m, nil))
			assert.Nil(t, m.Response.Failure)
			assert.Less(t, m.Response.ID, first+limit)
		}
		assertServing(t, s, good)
	})

	// Peers that send most of a large frame and go silent.
	t.Run("frames stalled midway", func(t *testing.T) {
		const (
			maxFrame = 4 << 20
			conns    = 8
			timeout  = 500 * time.Millisecond
		)
		// A budget of two large frames, frame and decoding each.
		s := startTCPServer(t, manager.WithMaxFrameSize(maxFrame), manager.WithMaxRequestSize(maxFrame),
			manager.WithReadBudget(2*2*(maxFrame+wire.HeaderSize)), manager.WithFrameReadTimeout(timeout))
		good := s.connect(t)
		idle := dialAuthenticated(t, s)
		defer idle.nc.Close()
		part := make([]byte, wire.HeaderSize+3<<20)
		binary.BigEndian.PutUint32(part, maxFrame)

		peak := heapPeak(t)
		start := time.Now()
		var wg sync.WaitGroup
		stalled := make([]*rawConn, conns)
		for i := range stalled {
			stalled[i] = dialAuthenticated(t, s)
			defer stalled[i].nc.Close()
			wg.Go(func() { stalled[i].write(part) }) // blocks while the server waits for budget
		}
		assertServing(t, s, good) // small requests need no budget
		for _, c := range stalled {
			c.expectClosed()
		}
		grew := peak()
		wg.Wait()
		t.Logf("%d peers stalled in %d MiB frames: heap peak +%.1f MiB, all cut off after %v",
			conns, maxFrame>>20, mib(uint64(grew)), time.Since(start).Round(time.Millisecond))
		assert.Less(t, grew, int64(2*2*maxFrame+limitsHeapBound))
		assert.GreaterOrEqual(t, time.Since(start), timeout, "cut off before the timeout")
		// A connection idle between frames all along is not cut off.
		idle.ping()
		assertServing(t, s, good)
	})

	// A request that finds the read budget held by others waits, then is
	// refused; its connection goes on.
	t.Run("read budget exhausted", func(t *testing.T) {
		const maxFrame = 2 << 20
		hold := &struct{ holding, release chan struct{} }{make(chan struct{}, 1), make(chan struct{})}
		limitsHold.Store(hold)
		s := startTCPServer(t, manager.WithMaxFrameSize(maxFrame), manager.WithMaxRequestSize(maxFrame),
			manager.WithReadBudget(1), manager.WithFrameReadTimeout(300*time.Millisecond))
		good := s.connect(t)
		holder, waiter := dialAuthenticated(t, s), dialAuthenticated(t, s)
		defer holder.nc.Close()
		defer waiter.nc.Close()
		box := newObjectRaw(t, holder, mustMarshal(t, []any{"limits.Box"}))
		args := mustMarshal(t, []any{make([]byte, 3*maxFrame/4)})

		// The holder's call executes, holding its frame and its cost.
		wire.BeginRequest(&holder.w, 99, box, 0, "Hold")
		holder.w.Write(args)
		frame, err := holder.w.Finish(0)
		require.NoError(t, err)
		holder.write(frame)
		<-hold.holding
		resp := waiter.call(box, "Hold", args)
		failureIs(t, manager.ErrBusy, resp)
		assert.Contains(t, resp.Failure.Message, "budget")
		waiter.ping()
		assertServing(t, s, good)

		close(hold.release)
		require.Nil(t, holder.response(99).Failure)
		holder.ping() // its next frame gives back the budget
		require.Nil(t, waiter.call(box, "Hold", args).Failure)
		<-hold.holding
	})

	// A reader of a hostile stored value: the client's own decoding.
	t.Run("reading a stored value of empty arrays", func(t *testing.T) {
		s := startTCPServer(t, manager.WithMaxFrameSize(8<<20))
		ctx := testContext(t)
		reader := s.connect(t, manager.WithMaxRequestSize(16<<20))
		d, err := manager.OpenDict[string, any](ctx, reader, "d")
		require.NoError(t, err)
		c := dialAuthenticated(t, s)
		defer c.nc.Close()
		resp := c.call(0, "open", mustMarshal(t, []any{"d", "Dict", []any{}}))
		require.Nil(t, resp.Failure)
		var ref wire.ProxyRef
		require.NoError(t, wire.Scan(resp.Result, func(r wire.ProxyRef) { ref = r }))
		value := arrayOf(1<<20, []byte{0x90}) // 1 MiB: 40 MiB as []any
		store := append(append([]byte{0x92}, mustMarshal(t, "k")...), value...)
		require.Nil(t, c.call(ref.ID, "Store", store).Failure, "stored values stay encoded: the server accepts it")

		peak := heapPeak(t)
		_, _, err = d.Load(ctx, "k")
		grew := peak()
		require.ErrorIs(t, err, manager.ErrTooLarge)
		t.Logf("reader's heap peak +%.1f MiB for a %.1f MiB value", mib(uint64(grew)), mib(uint64(len(value))))
		assert.Less(t, grew, int64(len(value)+limitsHeapBound))

		// The reader goes on, and a typed reader decodes the value.
		require.NoError(t, d.Store(ctx, "small", []any{1, "two"}))
		v, ok, err := d.Load(ctx, "small")
		require.NoError(t, err)
		assert.True(t, ok)
		assert.Len(t, v, 2)
		typed, err := manager.OpenDict[string, [][]int](ctx, reader, "d")
		require.NoError(t, err)
		all, ok, err := typed.Load(ctx, "k")
		require.NoError(t, err)
		assert.True(t, ok)
		assert.Len(t, all, 1<<20)
	})
}

// TestLimitsServeLargeValues checks that the limits leave legitimate
// large requests alone: a stream of stores of values near the frame
// limit, on one connection, each charged to and given back to a budget
// that holds only one of them at a time.
func TestLimitsServeLargeValues(t *testing.T) {
	const maxFrame = 8 << 20
	s := startTCPServer(t, manager.WithMaxFrameSize(maxFrame), manager.WithMaxRequestSize(maxFrame+maxFrame/4), manager.WithReadBudget(1))
	// 80 MiB through the wire takes seconds under -race, and more than
	// testContext's 30 s on a loaded machine: a bound of its own.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	c := s.connect(t)
	d, err := manager.NewDict[int, []byte](ctx, c)
	require.NoError(t, err)
	value := make([]byte, maxFrame-1024)
	for i := range 5 {
		value[0] = byte(i)
		require.NoError(t, d.Store(ctx, i, value))
	}
	for i := range 5 {
		got, ok, err := d.Load(ctx, i)
		require.NoError(t, err)
		require.True(t, ok)
		assert.Equal(t, byte(i), got[0])
	}
	l, err := manager.NewList[any](ctx, c)
	require.NoError(t, err)
	require.NoError(t, l.Extend(ctx, make([]any, 1<<16)...), "64 Ki nils cost 5 MiB")
	n, err := l.Len(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1<<16, n)
}

// TestLimitsSentinelsCrossTheWire checks that the limits' errors keep
// their identity in a failure response.
func TestLimitsSentinelsCrossTheWire(t *testing.T) {
	for _, want := range []error{manager.ErrTooLarge, manager.ErrBusy} {
		assert.ErrorIs(t, errs.FromCode(errs.CodeOf(want)), want)
	}
}

// TestLimitsReachTheManagerProcess checks that Start passes the limits to
// a manager process, and that its refusal leaves the client working.
func TestLimitsReachTheManagerProcess(t *testing.T) {
	m := startManager(t, manager.WithMaxRequestSize(1<<20))
	require.NotEqual(t, os.Getpid(), m.Pid(), "a manager process")
	ctx := testContext(t)
	l, err := manager.NewList[any](ctx, m)
	require.NoError(t, err)
	require.ErrorIs(t, l.Extend(ctx, make([]any, 1<<16)...), manager.ErrTooLarge, "64 Ki nils cost 5 MiB")
	require.NoError(t, l.Extend(ctx, make([]any, 1<<10)...))
	n, err := l.Len(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1<<10, n)
}
