package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/goproc/manager/internal/errs"
)

// HeaderSize is the size of a frame's length prefix.
const HeaderSize = 4

// DefaultMaxFrameSize is the frame size limit when none is configured:
// large enough for multi-megabyte values, small enough that a hostile
// length prefix cannot make a peer allocate without bound.
const DefaultMaxFrameSize = 64 << 20

// MinMaxFrameSize is the smallest limit accepted: the handshake must fit.
const MinMaxFrameSize = 1 << 10

// readChunk is how much a Reader asks the connection for at once.
const readChunk = 32 << 10

// keepBuffer is the largest buffer a Reader or Buffer keeps for good; a
// larger one (left by a big frame) is dropped once keepFrames frames in a
// row have been small, so that one large value does not pin its memory
// for the connection's life, while a stream of large values (each store
// of 1 MiB answered by a small reply) reuses its buffer instead of
// allocating, zeroing and page-faulting a fresh one every frame.
const keepBuffer = 1 << 20

// keepFrames is how many small frames in a row release a large buffer.
const keepFrames = 2

// Reader reads frames from a byte stream.
//
// A Reader is resumable: if the underlying Read fails with a timeout in
// the middle of a frame, the bytes read so far are kept and the next
// ReadFrame continues where it stopped. The client relies on this to
// interrupt a read when a call's context ends and then finish reading the
// reply. Any other read error is sticky.
//
// A Reader is not safe for concurrent use.
type Reader struct {
	r   io.Reader
	max int
	buf []byte
	off int // start of unread data in buf
	end int // end of unread data in buf
	err error

	small int // frames read since the last one larger than keepBuffer

	// Set by SetLimits (a server's connections); zero on a client.
	conn    deadliner
	budget  *Budget
	timeout time.Duration // a frame must arrive whole within it
	charged int64         // budget held for the last frame read
	kept    []byte        // the small buffer, while buf is a charged one
	stalled bool          // a read deadline is set for a frame under way
}

// deadliner is the part of a net.Conn that cuts off a stalled read.
type deadliner interface {
	SetReadDeadline(time.Time) error
}

// SetLimits makes the Reader (a server's, after the handshake) hold every
// frame larger than keepBuffer in a buffer of its exact size, charged to
// budget (if not nil) from its length prefix until the next ReadFrame,
// and cut off a peer that does not complete a frame within timeout of its
// first byte (if timeout > 0) by setting read deadlines on conn. A peer
// idle between frames is never cut off.
func (r *Reader) SetLimits(conn deadliner, budget *Budget, timeout time.Duration) {
	r.conn, r.budget, r.timeout = conn, budget, timeout
}

// Reserve charges n more bytes to the budget for the frame just read, to
// be given back with it at the next ReadFrame; the server reserves what
// decoding the request will allocate. It waits up to the frame timeout
// for them and reports whether it got them. Without a budget it always
// succeeds.
func (r *Reader) Reserve(n int64) bool {
	if r.budget == nil || n <= 0 {
		return true
	}
	if !r.budget.Acquire(n, r.timeout) {
		return false
	}
	r.charged += n
	return true
}

// Release gives back the budget held for the last frame read and drops
// its buffer, if it was a charged one. ReadFrame does it first; a server
// does it when a connection ends.
func (r *Reader) Release() {
	if r.charged > 0 {
		r.budget.Release(r.charged)
		r.charged = 0
	}
	if r.kept != nil {
		// The charged buffer held exactly one frame, all of it read.
		r.buf, r.kept, r.off, r.end = r.kept, nil, 0, 0
	}
}

// NewReader returns a Reader that refuses frames larger than max bytes.
// It allocates its buffer on the first read, no larger than the limit in
// force then: a connection that is still in the handshake (limit
// HandshakeMaxFrame) costs about 1 KiB, not readChunk.
func NewReader(r io.Reader, max int) *Reader {
	if max <= 0 {
		max = DefaultMaxFrameSize
	}
	return &Reader{r: r, max: max}
}

// SetMax changes the frame size limit. A server lowers it until a peer has
// authenticated, so that an unauthenticated peer cannot make it allocate.
func (r *Reader) SetMax(max int) { r.max = max }

// ReadFrame returns the next frame's body. The body aliases the Reader's
// buffer and is valid only until the next call.
//
// A stream that ends between frames gives io.EOF; one that ends inside a
// frame gives io.ErrUnexpectedEOF. A length prefix above the limit gives
// an error wrapping errs.FrameTooLarge, before anything is allocated.
func (r *Reader) ReadFrame() ([]byte, error) {
	if r.err != nil {
		return nil, r.err
	}
	r.Release()
	if r.off == r.end && cap(r.buf) > keepBuffer && r.small >= keepFrames {
		r.buf, r.off, r.end = nil, 0, 0
	}
	if err := r.fill(HeaderSize); err != nil {
		return nil, r.endFrame(err)
	}
	n := int(binary.BigEndian.Uint32(r.buf[r.off:]))
	if n > r.max {
		r.err = fmt.Errorf("%w: frame of %d bytes, limit %d", errs.FrameTooLarge, n, r.max)
		return nil, r.endFrame(r.err)
	}
	if r.conn != nil && HeaderSize+n > keepBuffer && r.end-r.off < HeaderSize+n {
		if err := r.charge(n); err != nil {
			return r.discard(n, err)
		}
	}
	if err := r.fill(HeaderSize + n); err != nil {
		return nil, r.endFrame(err)
	}
	if err := r.endFrame(nil); err != nil {
		return nil, err
	}
	body := r.buf[r.off+HeaderSize : r.off+HeaderSize+n]
	r.off += HeaderSize + n
	r.small++
	if HeaderSize+n > keepBuffer {
		r.small = 0
	}
	if r.off == r.end {
		r.off, r.end = 0, 0
	}
	return body, nil
}

// charge takes budget for a large frame of n body bytes and moves what
// is buffered of it into a buffer of its exact size: a frame never costs
// more than its length, nor holds the budget past the next ReadFrame.
func (r *Reader) charge(n int) error {
	size := int64(HeaderSize + n)
	if r.budget != nil {
		if !r.budget.Acquire(size, r.timeout) {
			return fmt.Errorf("%w: no read budget for a frame of %d bytes within %v", errs.Busy, n, r.timeout)
		}
		r.charged = size
	}
	buf := make([]byte, size)
	copy(buf, r.buf[r.off:r.end])
	r.kept = r.buf[:cap(r.buf)]
	r.buf, r.end, r.off = buf, r.end-r.off, 0
	return nil
}

// discardPrefix is how much of a frame refused for want of budget is
// kept: enough for the request envelope, so that the refusal can be
// answered.
const discardPrefix = 256

// discard reads and drops a frame of n body bytes that could not get
// budget, through the Reader's small buffer, and returns the frame's
// first bytes with cause (wrapping errs.Busy). The frame boundary holds:
// the connection goes on.
func (r *Reader) discard(n int, cause error) ([]byte, error) {
	prefix := make([]byte, 0, min(n, discardPrefix))
	left := HeaderSize + n // bytes of the frame not yet consumed, from r.off
	if r.timeout > 0 && !r.stalled {
		r.stalled = true
		if err := r.conn.SetReadDeadline(time.Now().Add(r.timeout)); err != nil {
			r.err = err
			return nil, err
		}
	}
	for left > 0 {
		if r.off == r.end {
			if err := r.fill(1); err != nil {
				return nil, r.endFrame(err)
			}
		}
		m := min(left, r.end-r.off)
		chunk := r.buf[r.off : r.off+m]
		if skip := HeaderSize + n - left; skip < HeaderSize {
			chunk = chunk[min(HeaderSize-skip, len(chunk)):]
		}
		prefix = append(prefix, chunk[:min(len(chunk), cap(prefix)-len(prefix))]...)
		r.off += m
		left -= m
	}
	if r.off == r.end {
		r.off, r.end = 0, 0
	}
	if err := r.endFrame(nil); err != nil {
		return nil, err
	}
	return prefix, cause
}

// endFrame clears the read deadline set for a frame under way, and turns
// its expiry into a sticky error: on a server's connection a timeout is
// a peer that stalled mid-frame, never a resumable interruption.
func (r *Reader) endFrame(err error) error {
	if r.stalled {
		r.stalled = false
		if derr := r.conn.SetReadDeadline(time.Time{}); derr != nil && err == nil {
			err = derr
			r.err = err
		}
	}
	if err != nil && r.timeout > 0 && IsTimeout(err) {
		r.err = fmt.Errorf("peer stalled: frame not completed within %v: %w", r.timeout, err)
		return r.err
	}
	return err
}

// Buffered reports whether a whole or partial frame is waiting in the
// buffer.
func (r *Reader) Buffered() int { return r.end - r.off }

// HasFrame reports whether a whole frame is waiting in the buffer, so
// that the next ReadFrame returns without reading the connection.
func (r *Reader) HasFrame() bool {
	if r.end-r.off < HeaderSize {
		return false
	}
	return r.end-r.off >= HeaderSize+int(binary.BigEndian.Uint32(r.buf[r.off:]))
}

// fill reads until at least n unread bytes are buffered.
func (r *Reader) fill(n int) error {
	if r.end-r.off >= n {
		return nil
	}
	if n > len(r.buf)-r.off {
		// Make room: move unread bytes to the front, growing if needed
		// to exactly the frame's size (doubling would cost up to twice
		// the largest frame).
		size := max(len(r.buf), min(readChunk, HeaderSize+r.max), n)
		buf := r.buf
		if size > len(r.buf) {
			buf = make([]byte, size)
		}
		copy(buf, r.buf[r.off:r.end])
		r.buf, r.end, r.off = buf, r.end-r.off, 0
	}
	for r.end-r.off < n {
		if r.end > r.off && r.timeout > 0 && !r.stalled {
			// Part of a frame is here and the rest is not: from now on
			// the peer has timeout to send it.
			r.stalled = true
			if err := r.conn.SetReadDeadline(time.Now().Add(r.timeout)); err != nil {
				r.err = err
				return err
			}
		}
		m, err := r.r.Read(r.buf[r.end:])
		r.end += m
		if r.end-r.off >= n {
			return nil
		}
		if err != nil {
			if IsTimeout(err) {
				return err // resumable: keep the partial frame
			}
			if errors.Is(err, io.EOF) {
				if r.end-r.off > 0 {
					err = io.ErrUnexpectedEOF
				}
			}
			r.err = err
			return err
		}
	}
	return nil
}

// Buffer accumulates one outgoing frame. Begin reserves the length
// prefix, the Append methods and the io.Writer methods add to the body,
// and Finish fills in the prefix. The zero value is ready to use.
type Buffer struct {
	b     []byte
	small int // frames begun since the last one larger than keepBuffer
}

// Begin starts a new frame, discarding any previous content.
func (w *Buffer) Begin() {
	w.small++
	if len(w.b) > keepBuffer { // the previous frame
		w.small = 0
	}
	if cap(w.b) > keepBuffer && w.small >= keepFrames {
		w.b = nil
	}
	w.b = append(w.b[:0], 0, 0, 0, 0)
}

// Write appends p to the body; it never fails. It lets a msgpack.Encoder
// write straight into the frame.
func (w *Buffer) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}

// WriteByte appends c to the body.
func (w *Buffer) WriteByte(c byte) error {
	w.b = append(w.b, c)
	return nil
}

// WriteString appends s to the body.
func (w *Buffer) WriteString(s string) (int, error) {
	w.b = append(w.b, s...)
	return len(s), nil
}

// BodyLen is the number of body bytes written since Begin.
func (w *Buffer) BodyLen() int { return len(w.b) - HeaderSize }

// Body returns the body written since Begin.
func (w *Buffer) Body() []byte { return w.b[HeaderSize:] }

// Truncate cuts the body back to n bytes (to undo a partly written part).
func (w *Buffer) Truncate(n int) { w.b = w.b[:HeaderSize+n] }

// Finish fills in the length prefix and returns the whole frame. A body
// over max gives an error wrapping errs.FrameTooLarge.
func (w *Buffer) Finish(max int) ([]byte, error) {
	n := len(w.b) - HeaderSize
	if max <= 0 {
		max = DefaultMaxFrameSize
	}
	if n > max {
		return nil, fmt.Errorf("%w: frame of %d bytes, limit %d", errs.FrameTooLarge, n, max)
	}
	binary.BigEndian.PutUint32(w.b, uint32(n))
	return w.b, nil
}

// ArrayHeader appends a msgpack array header for n elements to the body.
func (w *Buffer) ArrayHeader(n int) { w.b = appendArrayHeader(w.b, n) }

// Budget bounds the bytes of large frames that a server's connections
// hold at once (see Reader.SetLimits). Waiters are served in order, so a
// large frame is not starved by a stream of smaller ones.
//
// A Budget is safe for concurrent use.
type Budget struct {
	mu      sync.Mutex // guards free and waiters
	free    int64
	size    int64
	waiters []*budgetWaiter
}

type budgetWaiter struct {
	n     int64
	ready chan struct{} // closed when granted
}

// NewBudget returns a budget of size bytes.
func NewBudget(size int64) *Budget { return &Budget{free: size, size: size} }

// Size is the budget's total.
func (b *Budget) Size() int64 { return b.size }

// Free is what is not held now.
func (b *Budget) Free() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.free
}

// Acquire takes n bytes, waiting up to timeout (forever if timeout <= 0)
// for them, and reports whether it got them. A request larger than the
// whole budget is refused at once.
func (b *Budget) Acquire(n int64, timeout time.Duration) bool {
	b.mu.Lock()
	if n > b.size {
		b.mu.Unlock()
		return false
	}
	if len(b.waiters) == 0 && b.free >= n {
		b.free -= n
		b.mu.Unlock()
		return true
	}
	w := &budgetWaiter{n: n, ready: make(chan struct{})}
	b.waiters = append(b.waiters, w)
	b.mu.Unlock()

	var expired <-chan time.Time
	if timeout > 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		expired = t.C
	}
	select {
	case <-w.ready:
		return true
	case <-expired:
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	select {
	case <-w.ready: // granted meanwhile: keep it
		return true
	default:
	}
	for i, x := range b.waiters {
		if x == w {
			b.waiters = append(b.waiters[:i], b.waiters[i+1:]...)
			break
		}
	}
	b.grant() // the head may have changed
	return false
}

// Release gives back n bytes taken by Acquire.
func (b *Budget) Release(n int64) {
	b.mu.Lock()
	b.free += n
	b.grant()
	b.mu.Unlock()
}

// grant hands free bytes to waiters in order; b.mu is held.
func (b *Budget) grant() {
	for len(b.waiters) > 0 && b.waiters[0].n <= b.free {
		w := b.waiters[0]
		b.waiters = b.waiters[1:]
		b.free -= w.n
		close(w.ready)
	}
}
