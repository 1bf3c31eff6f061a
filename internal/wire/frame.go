package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

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
	if r.off == r.end && cap(r.buf) > keepBuffer && r.small >= keepFrames {
		r.buf, r.off, r.end = nil, 0, 0
	}
	if err := r.fill(HeaderSize); err != nil {
		return nil, err
	}
	n := int(binary.BigEndian.Uint32(r.buf[r.off:]))
	if n > r.max {
		r.err = fmt.Errorf("%w: frame of %d bytes, limit %d", errs.FrameTooLarge, n, r.max)
		return nil, r.err
	}
	if err := r.fill(HeaderSize + n); err != nil {
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

// Buffered reports whether a whole or partial frame is waiting in the
// buffer.
func (r *Reader) Buffered() int { return r.end - r.off }

// fill reads until at least n unread bytes are buffered.
func (r *Reader) fill(n int) error {
	if r.end-r.off >= n {
		return nil
	}
	if n > len(r.buf)-r.off {
		// Make room: move unread bytes to the front, growing if needed.
		size := max(len(r.buf), min(readChunk, HeaderSize+r.max))
		for size < n {
			size *= 2
		}
		buf := r.buf
		if size > len(r.buf) {
			buf = make([]byte, size)
		}
		copy(buf, r.buf[r.off:r.end])
		r.buf, r.end, r.off = buf, r.end-r.off, 0
	}
	for r.end-r.off < n {
		m, err := r.r.Read(r.buf[r.end:])
		r.end += m
		if r.end-r.off >= n {
			return nil
		}
		if err != nil {
			if isTimeout(err) {
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

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
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
