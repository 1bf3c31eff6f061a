package server

import (
	"bytes"
	"context"
	"reflect"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/goproc/manager/internal/builtin"
	"github.com/goproc/manager/internal/wire"
)

// recordConn is a net.Conn that records each Write.
type recordConn struct {
	discardConn
	mu     sync.Mutex
	writes [][]byte
}

func (r *recordConn) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.writes = append(r.writes, append([]byte(nil), p...))
	return len(p), nil
}

// TestRepliesToBufferedRequestsLeaveInOneWrite checks that the replies
// to requests that arrived together (a client's pipeline) are written
// together, once the reader has no whole request left, and that every
// reply is there, in order.
func TestRepliesToBufferedRequestsLeaveInOneWrite(t *testing.T) {
	s := New(Config{})
	typ, ok := lookupType(builtin.TypeDict)
	require.True(t, ok)
	d, err := builtin.NewDict(context.Background(), nil)
	require.NoError(t, err)
	o := s.objects.add(typ, reflect.ValueOf(d))

	const n = 50
	var in bytes.Buffer
	for i := range n {
		var w wire.Buffer
		wire.BeginRequest(&w, uint64(i+1), o.id, 1, "Store")
		w.ArrayHeader(2)
		enc := msgpack.NewEncoder(&w)
		require.NoError(t, enc.Encode(i))
		require.NoError(t, enc.Encode(i))
		frame, err := w.Finish(wire.DefaultMaxFrameSize)
		require.NoError(t, err)
		in.Write(frame)
	}
	nc := &recordConn{}
	c := newServerConn(s, nc, wire.NewReader(&in, wire.DefaultMaxFrameSize), [16]byte{1})
	s.mu.Lock()
	s.sessions[c.session]++
	s.mu.Unlock()
	c.readLoop() // returns at EOF

	require.Len(t, nc.writes, 1, "replies to buffered requests are written at once")
	r := wire.NewReader(bytes.NewReader(nc.writes[0]), wire.DefaultMaxFrameSize)
	for i := range n {
		body, err := r.ReadFrame()
		require.NoError(t, err)
		var m wire.Message
		require.NoError(t, wire.Decode(body, &m, nil))
		assert.Equal(t, uint64(i+1), m.Response.ID)
	}
}
