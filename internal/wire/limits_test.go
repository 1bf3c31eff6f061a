package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/goproc/manager/internal/errs"
)

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

// allocated returns the bytes decoding b into a new value of what new
// returns allocates.
func allocated(t *testing.T, b []byte, new func() any) int64 {
	t.Helper()
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	v := new()
	require.NoError(t, msgpack.Unmarshal(b, v))
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(v)
	return int64(after.TotalAlloc - before.TotalAlloc)
}

// The cost model bounds what msgpack/v5 really allocates, for the
// element shapes that cost the most per byte, decoded into interface
// types and into raw messages (as the built-in List stores them).
func TestCostBoundsDecoding(t *testing.T) {
	const n = 1 << 14
	tests := []struct {
		name string
		elem []byte
	}{
		{"nil", []byte{0xc0}},
		{"small int", []byte{0x05}},
		{"empty array", []byte{0x90}},
		{"empty map", []byte{0x80}},
		{"map of one nil", []byte{0x81, 0xa1, 'k', 0xc0}},
		{"array of one nil", []byte{0x91, 0xc0}},
		{"one-byte string", []byte{0xa1, 'x'}},
		{"one-byte bin", []byte{0xc4, 1, 1}},
		{"float", []byte{0xcb, 1, 2, 3, 4, 5, 6, 7, 8}},
		{"33-byte string", append([]byte{0xd9, 33}, bytes.Repeat([]byte{'s'}, 33)...)},
		{"1025-byte bin", append([]byte{0xc5, 4, 1}, make([]byte, 1025)...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := arrayOf(n, tt.elem)
			require.NoError(t, Scan(b, nil))
			cost, size, err := Cost(b)
			require.NoError(t, err)
			assert.Equal(t, len(b), size)
			assert.LessOrEqual(t, cost, int64(len(b))*MaxCostPerByte)
			intoAny := allocated(t, b, func() any { var v any; return &v })
			intoRaw := allocated(t, b, func() any { var v []msgpack.RawMessage; return &v })
			t.Logf("cost %d B/element; allocated into any %d, into []RawMessage %d", cost/n, intoAny/n, intoRaw/n)
			assert.LessOrEqual(t, intoAny, cost, "into any")
			shallow, _, err := ShallowCost(b)
			require.NoError(t, err)
			assert.LessOrEqual(t, intoRaw, shallow, "into []RawMessage")
		})
	}
}

func TestArrayCost(t *testing.T) {
	value := arrayOf(100, []byte{0x90})
	args := append(append([]byte{0x93}, value...), value...)
	args = append(args, value...)
	deep, _, err := Cost(value)
	require.NoError(t, err)
	shallow, _, err := ShallowCost(value)
	require.NoError(t, err)
	kinds := []ArgDecoding{ArgDecoded, ArgRawElems, ArgRaw}
	got, err := ArrayCost(args, func(i int) ArgDecoding { return kinds[i] })
	require.NoError(t, err)
	assert.Equal(t, 1+ValueCost+deep+shallow+bytesCost(len(value)), got)

	_, err = ArrayCost([]byte{0x92, 0xc0}, func(int) ArgDecoding { return ArgDecoded })
	assert.Error(t, err, "fewer elements than the header claims")
}

func TestBudget(t *testing.T) {
	b := NewBudget(10)
	require.True(t, b.Acquire(6, time.Second))
	assert.False(t, b.Acquire(11, 0), "more than the whole budget is refused at once, even without a timeout")
	assert.False(t, b.Acquire(5, time.Millisecond), "times out while held")
	assert.Equal(t, int64(4), b.Free(), "a timed-out wait takes nothing")

	// Waiters are served in order: a large one is not passed by a small
	// one that would fit.
	large, small := make(chan bool), make(chan bool)
	go func() { large <- b.Acquire(8, 0) }()
	waitFor(t, func() bool { b.mu.Lock(); defer b.mu.Unlock(); return len(b.waiters) == 1 })
	go func() { small <- b.Acquire(2, 0) }()
	waitFor(t, func() bool { b.mu.Lock(); defer b.mu.Unlock(); return len(b.waiters) == 2 })
	b.Release(6)
	assert.True(t, <-large)
	b.Release(8)
	assert.True(t, <-small)
	b.Release(2)
	assert.Equal(t, int64(10), b.Free())
}

// waitFor polls cond until it holds, for at most 10 s.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	require.Eventually(t, cond, 10*time.Second, time.Millisecond)
}

// deadlineConn is a net.Conn's read side over a pipe.
func pipeConns(t *testing.T) (server, client net.Conn) {
	t.Helper()
	server, client = net.Pipe()
	t.Cleanup(func() { server.Close(); client.Close() })
	return server, client
}

// A large frame gets a buffer of exactly its size, charged to the budget
// until the next frame, and the Reader goes back to its small buffer.
func TestLimitedReaderExactBufferAndBudget(t *testing.T) {
	const size = 3 * keepBuffer
	budget := NewBudget(2 * size)
	stream := append(frame(bytes.Repeat([]byte{7}, size)), frame([]byte("ok"))...)
	r := NewReader(bytes.NewReader(stream), 4*size)
	r.SetLimits(nopDeadliner{}, budget, time.Second)

	body, err := r.ReadFrame()
	require.NoError(t, err)
	assert.Len(t, body, size)
	assert.Equal(t, HeaderSize+size, cap(r.buf), "exact size, no doubling")
	assert.Equal(t, int64(size-HeaderSize), budget.Free(), "charged while it is being handled")

	body, err = r.ReadFrame()
	require.NoError(t, err)
	assert.Equal(t, "ok", string(body))
	assert.Equal(t, int64(2*size), budget.Free(), "given back at the next frame")
	assert.LessOrEqual(t, cap(r.buf), readChunk, "back to the small buffer")
}

// A frame that finds no budget in time is read through without being
// kept, its first bytes returned with ErrBusy, and the stream goes on.
func TestLimitedReaderDropsFrameWithoutBudget(t *testing.T) {
	const size = 2 * keepBuffer
	budget := NewBudget(size)
	require.True(t, budget.Acquire(1, 0)) // someone else holds a byte
	big := bytes.Repeat([]byte{9}, size)
	copy(big, "envelope")
	stream := append(frame(big), frame([]byte("next"))...)
	r := NewReader(bytes.NewReader(stream), 4*size)
	r.SetLimits(nopDeadliner{}, budget, 10*time.Millisecond)

	prefix, err := r.ReadFrame()
	require.ErrorIs(t, err, errs.Busy)
	assert.Equal(t, "envelope", string(prefix[:8]))
	assert.Len(t, prefix, discardPrefix)
	assert.LessOrEqual(t, cap(r.buf), readChunk, "the frame was never held whole")

	body, err := r.ReadFrame()
	require.NoError(t, err, "the frame boundary held")
	assert.Equal(t, "next", string(body))
	assert.Equal(t, int64(size-1), budget.Free())
}

// A peer that sends part of a frame and stops is cut off after the
// timeout; one idle between frames is not.
func TestLimitedReaderStall(t *testing.T) {
	server, client := pipeConns(t)
	r := NewReader(server, 1<<20)
	const timeout = 50 * time.Millisecond
	r.SetLimits(server, nil, timeout)

	go client.Write(frame([]byte("first")))
	body, err := r.ReadFrame()
	require.NoError(t, err)
	assert.Equal(t, "first", string(body))

	// Idle for several timeouts between frames, then a whole frame.
	idle := time.AfterFunc(4*timeout, func() { client.Write(frame([]byte("late"))) })
	defer idle.Stop()
	body, err = r.ReadFrame()
	require.NoError(t, err, "idle between frames is not a stall")
	assert.Equal(t, "late", string(body))

	// Part of a frame, then silence.
	go client.Write(frame([]byte("cut off"))[:6])
	start := time.Now()
	_, err = r.ReadFrame()
	require.Error(t, err)
	assert.True(t, errors.Is(err, errs.Protocol) || IsTimeout(err), "a stall: %v", err)
	assert.GreaterOrEqual(t, time.Since(start), timeout)
	_, again := r.ReadFrame()
	assert.Equal(t, err, again, "sticky")
}

type nopDeadliner struct{}

func (nopDeadliner) SetReadDeadline(time.Time) error { return nil }

var _ io.Reader = (*bytes.Reader)(nil)
