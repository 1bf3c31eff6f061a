package wire

import (
	"bytes"
	"io"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A stream of large frames, each followed by a small one (a 1 MiB store
// and its reply, seen from either side), reuses one large buffer; two
// small frames in a row release it.
func TestLargeBufferKeptForAStreamOfLargeFrames(t *testing.T) {
	big, small := frame(make([]byte, 2*keepBuffer)), frame([]byte("ok"))
	r := NewReader(&framesReader{frames: [][]byte{big, small, big, small, small, small, small}}, 8*keepBuffer)
	var bufs []*byte
	for range 4 {
		_, err := r.ReadFrame()
		require.NoError(t, err)
		bufs = append(bufs, &r.buf[:1][0])
	}
	assert.Same(t, bufs[0], bufs[2], "the second large frame reuses the first one's buffer")
	for range 3 {
		_, err := r.ReadFrame()
		require.NoError(t, err)
	}
	assert.LessOrEqual(t, cap(r.buf), keepBuffer, "released after small frames in a row")
}

// framesReader hands out one frame at a time, as a socket does when the
// peer waits for each reply: a Read never returns part of the next frame.
type framesReader struct {
	frames [][]byte
}

func (r *framesReader) Read(p []byte) (int, error) {
	if len(r.frames) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.frames[0])
	if r.frames[0] = r.frames[0][n:]; len(r.frames[0]) == 0 {
		r.frames = r.frames[1:]
	}
	return n, nil
}

func TestLargeWriteBufferKeptForAStreamOfLargeFrames(t *testing.T) {
	payload := bytes.Repeat([]byte{1}, 2*keepBuffer)
	var w Buffer
	write := func(p []byte) *byte {
		w.Begin()
		w.Write(p)
		f, err := w.Finish(8 * keepBuffer)
		require.NoError(t, err)
		return &f[0]
	}
	first := write(payload)
	write([]byte("ok"))
	assert.Same(t, first, write(payload), "the second large frame reuses the first one's buffer")
	write([]byte("ok"))
	write([]byte("ok"))
	write([]byte("ok"))
	assert.LessOrEqual(t, cap(w.b), keepBuffer, "released after small frames in a row")
}
