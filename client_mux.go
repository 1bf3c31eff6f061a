package manager

import (
	"bytes"
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/goproc/manager/internal/wire"
)

// The multiplexed connection.
//
// A lone caller takes an idle connection of the pool (or dials one),
// writes its request and reads its own reply on its own goroutine
// (roundTrip): no goroutine hand-off, which costs more than the library's
// own work in a round trip. When a call finds exclusiveConns connections
// already busy with other calls, it does not dial another: it shares the
// client's one multiplexed connection. There each caller writes its own
// request frame, or, when another caller is writing, leaves it for that
// writer to send with its own (so requests made at once leave in one
// write), and one reader goroutine, running only while replies are
// awaited, hands each reply to its caller by request id. The server holds
// replies while more requests are buffered (internal/server/conn.go), so
// n calls in flight together cost about one write and one read on each
// side instead of n of each.
//
// The reader is a goroutine rather than one of the waiting callers
// (leader/follower): a shared call pays a hand-off, but only calls that
// find others in flight share, and then one read brings several replies.
// A leading caller would save one wake-up per read, but would have to
// hand reading over whenever its own reply came or its ctx ended, which
// is where withdrawal must stay exact.
//
// What stays as on a connection of one's own:
//   - a call whose ctx ends sends a cancel frame at once and waits
//     cancelGrace for its reply; a reply in that time is returned (nothing
//     it did is lost); past it the call returns its ctx's error and the
//     reader settles the late reply: what it took is given back with the
//     "giveback" control call (see reconcile.go);
//   - a blocked call (a Get on an empty Queue) waits on the server, which
//     goes on reading the connection, and here for its reply, while the
//     reader hands other replies to their callers: it stalls nobody;
//   - a connection that breaks fails every call on it; a manager that died
//     gives each ErrManagerGone (as callFailed decides).
//
// What differs: the server runs the requests of one connection one after
// another until one of them waits, so a slow method that never waits (a
// long computation ignoring its ctx) delays the shared calls queued behind
// it. New calls stop joining a connection that has answered nothing for
// muxStall while two or more calls wait on it (one alone may be a blocked
// call, which holds nobody up), and take connections of their own
// instead, as do calls past muxMaxInFlight (the server also caps the
// calls blocked per connection, WithMaxBlockedCalls) and requests larger
// than muxMaxFrame.

// exclusiveConns is how many calls in flight at once have a connection
// each before further calls share the multiplexed one.
const exclusiveConns = 1

// muxMaxInFlight bounds the calls in flight on the multiplexed
// connection; calls past it dial connections of their own.
const muxMaxInFlight = 256

// muxStall is how long the multiplexed connection may go without a reply
// while two or more calls wait on it before new calls stop joining it;
// long enough that a loaded machine's scheduling delays do not trip it.
const muxStall = 50 * time.Millisecond

// muxMaxFrame is the largest request frame sent on the multiplexed
// connection: a larger one gains nothing from sharing a write, and
// together with muxMaxInFlight it bounds what the writer may have to
// push into the socket's buffers (4 MiB, see wire.GrowSendBuffer).
const muxMaxFrame = 16 << 10

// errNotShared is callShared's report that the request was not sent: it
// is too large to share the connection, or the connection broke first.
// The caller sends it on a connection of its own.
var errNotShared = errors.New("manager: request not shared")

// freeMuxCalls bounds the call states a client keeps for reuse.
const freeMuxCalls = 64

// muxState is a client's multiplexed connection and what its calls use.
type muxState struct {
	mu     sync.Mutex // guards conn, free and closed
	conn   *muxConn   // the multiplexed connection, or nil
	free   []*muxCall // call states for reuse, each decoder registered in decoderOwners
	closed bool       // Close has begun: no reader may start

	readers sync.WaitGroup // reader goroutines, which Close waits for
}

// muxConn is a connection shared by concurrent calls.
type muxConn struct {
	c        *Client
	cc       *clientConn // its read side (cc.r, cc.msg) belongs to the reader
	nextID   atomic.Uint64
	inflight atomic.Int64 // calls in pending
	// waitingSince is when the oldest request sent since the last reply
	// was sent (UnixNano), or 0 when every request has been answered
	// since: how long the connection has gone without a reply while
	// calls waited.
	waitingSince atomic.Int64

	mu        sync.Mutex                // guards the fields below
	pending   map[uint64]*muxCall       // calls awaiting their reply, by request id
	withdrawn map[uint64]*withdrawnCall // calls that returned before their reply came
	reading   bool                      // the reader goroutine runs
	writing   bool                      // a caller is writing: others leave their frames in queued
	queued    []byte                    // frames for the writer to send next
	spare     []byte                    // a written queue's buffer, for reuse
	err       error                     // the connection broke: later calls fail at once
}

// muxCall is the state of one call on the multiplexed connection.
type muxCall struct {
	ch   chan struct{} // buffered 1: the reply is in body, or err is set
	body []byte        // the reply's frame body, copied by the reader
	err  error         // the connection failed before the reply came
	w    wire.Buffer
	enc  *msgpack.Encoder
	dec  *msgpack.Decoder
	res  bytes.Reader
	msg  wire.Message
}

// current returns the multiplexed connection, or nil.
func (s *muxState) current() *muxConn {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conn
}

// joinable returns the multiplexed connection if a call may share it
// now, or nil.
func (s *muxState) joinable() *muxConn {
	s.mu.Lock()
	m := s.conn
	s.mu.Unlock()
	if m == nil {
		return nil
	}
	n := m.inflight.Load()
	if n >= muxMaxInFlight {
		return nil
	}
	// One call alone may wait as long as it likes (a Get on an empty
	// Queue: the server reads on); two or more unanswered for muxStall
	// are queued behind a slow method (see the file's doc).
	if since := m.waitingSince.Load(); n >= 2 && since != 0 && time.Now().UnixNano()-since > int64(muxStall) {
		return nil
	}
	return m
}

// exists reports whether the client has a multiplexed connection.
func (s *muxState) exists() bool { return s.current() != nil }

// adopt makes cc, freshly dialed, the multiplexed connection unless
// there is one already (another call dialed at the same time); it
// returns the multiplexed connection, or nil if cc was not adopted.
func (s *muxState) adopt(c *Client, cc *clientConn) *muxConn {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn != nil || s.closed {
		return nil
	}
	s.conn = &muxConn{c: c, cc: cc, pending: map[uint64]*muxCall{}, withdrawn: map[uint64]*withdrawnCall{}}
	return s.conn
}

// getCall returns a call state for c's calls.
func (s *muxState) getCall(c *Client) *muxCall {
	s.mu.Lock()
	if n := len(s.free); n > 0 {
		call := s.free[n-1]
		s.free = s.free[:n-1]
		s.mu.Unlock()
		return call
	}
	s.mu.Unlock()
	call := &muxCall{ch: make(chan struct{}, 1), dec: msgpack.NewDecoder(nil)}
	call.enc = msgpack.NewEncoder(&call.w)
	decoderOwners.Store(call.dec, c)
	return call
}

// putCall keeps call for reuse, or forgets it.
func (s *muxState) putCall(call *muxCall) {
	call.err = nil
	if cap(call.body) > 64<<10 {
		call.body = nil // a large reply passed through: do not keep it
	}
	s.mu.Lock()
	if len(s.free) < freeMuxCalls && !s.closed {
		s.free = append(s.free, call)
		call = nil
	}
	s.mu.Unlock()
	if call != nil {
		decoderOwners.Delete(call.dec)
	}
}

// close stops new readers, waits for the running ones (the connections
// are closed already) and forgets the call states; for Close.
func (s *muxState) close() {
	s.mu.Lock()
	s.closed = true
	free := s.free
	s.free = nil
	s.mu.Unlock()
	for _, call := range free {
		decoderOwners.Delete(call.dec)
	}
	s.readers.Wait()
}

// ended closes the multiplexed connection if no reader is reading it; a
// reader closes it when it stops. For Client.end: a reader reads what the
// manager sent before it closed its side.
func (s *muxState) ended() {
	m := s.current()
	if m == nil {
		return
	}
	m.mu.Lock()
	reading := m.reading
	m.mu.Unlock()
	if !reading {
		m.c.dropShared(m)
	}
}

// dropShared closes the multiplexed connection m and forgets it.
func (c *Client) dropShared(m *muxConn) {
	c.shared.mu.Lock()
	if c.shared.conn == m {
		c.shared.conn = nil
	}
	c.shared.mu.Unlock()
	c.mu.Lock()
	delete(c.conns, m.cc)
	c.mu.Unlock()
	m.cc.close()
}

// takeConn finds a call its connection. With share, once
// exclusiveConns connections are busy with other calls, that is the
// multiplexed one (m), even if idle connections wait in the pool: calls
// made at once gain most by sharing writes and reads. Otherwise it is an
// idle connection of the pool, or a new one (cc), for the caller alone
// (a Batch always needs one).
func (c *Client) takeConn(ctx context.Context, share bool) (cc *clientConn, m *muxConn, err error) {
	if c.closing.Load() {
		return nil, nil, ErrClosed
	}
	c.mu.Lock()
	if c.err != nil {
		err := c.err
		c.mu.Unlock()
		return nil, nil, err
	}
	share = share && c.inUse >= exclusiveConns
	dialShared := false
	if share {
		c.mu.Unlock()
		if m := c.shared.joinable(); m != nil {
			return nil, m, nil
		}
		dialShared = !c.shared.exists() // else it is busy: a connection of one's own
		c.mu.Lock()
	}
	// Counted in use from here, dialing included, so that calls made at
	// once do not all dial.
	c.inUse++
	if n := len(c.idle); n > 0 && !dialShared {
		cc := c.idle[n-1]
		c.idle = c.idle[:n-1]
		c.mu.Unlock()
		return cc, nil, nil
	}
	c.mu.Unlock()
	c.pool.waits.Add(1)
	start := time.Now()
	cc, err = c.dial(ctx)
	c.pool.waitNanos.Add(int64(time.Since(start)))
	if err == nil && dialShared {
		m = c.shared.adopt(c, cc)
	}
	if err != nil || m != nil {
		c.mu.Lock()
		c.inUse--
		c.mu.Unlock()
	}
	if err != nil {
		return nil, nil, c.dialFailed(ctx, err)
	}
	if m != nil {
		return nil, m, nil
	}
	return cc, nil, nil
}

// callShared is callArgs on the multiplexed connection m.
func (c *Client) callShared(ctx context.Context, m *muxConn, object, handle uint64, method string, out any, nargs int, encodeArg func(enc *msgpack.Encoder, i int) error) error {
	call := c.shared.getCall(c)
	defer c.shared.putCall(call)
	id := m.nextID.Add(1)
	frame, argsAt, err := c.encodeRequest(ctx, &call.w, call.enc, id, object, handle, method, nargs, encodeArg)
	if err != nil {
		return err
	}
	if len(frame) > muxMaxFrame {
		return errNotShared
	}
	if !m.register(id, call) {
		return errNotShared // it broke just now, with nothing of ours sent
	}
	c.pool.sharedCalls.Add(1)
	m.send(frame)
	select {
	case <-call.ch:
	case <-ctx.Done():
		m.send(cancelFrame(id))
		t := time.NewTimer(cancelGrace)
		select {
		case <-call.ch:
		case <-t.C:
			w := &withdrawnCall{id: id, object: object, handle: handle, method: method, args: bytes.Clone(frame[wire.HeaderSize+argsAt:])}
			if m.withdraw(id, call, w) {
				return &opError{callOp(object, method), c.ctxError(ctx)}
			}
			<-call.ch // the reader is handing the reply over
		}
		t.Stop()
	}
	if call.err != nil {
		return &opError{callOp(object, method), c.sharedFailed(ctx, call.err)}
	}
	if err := wire.Decode(call.body, &call.msg, nil); err != nil {
		return &opError{callOp(object, method), c.sharedFailed(ctx, err)}
	}
	return c.result(ctx, object, method, &call.msg.Response, call.dec, &call.res, out)
}

// sharedFailed says why a call on the multiplexed connection failed with
// err, as callFailed does (which closes the connection the reader or
// writer has closed already).
func (c *Client) sharedFailed(ctx context.Context, err error) error {
	return c.callFailed(ctx, nil, err)
}

// cancelFrame returns the cancel message for request id.
func cancelFrame(id uint64) []byte {
	var w wire.Buffer
	wire.AppendCancel(&w, id)
	f, _ := w.Finish(0)
	return f
}

// register adds call as awaiting the reply to request id, and starts the
// reader if none runs. It reports false if the connection has broken.
func (m *muxConn) register(id uint64, call *muxCall) bool {
	m.mu.Lock()
	if m.err != nil {
		m.mu.Unlock()
		return false
	}
	if m.waitingSince.Load() == 0 {
		m.waitingSince.Store(time.Now().UnixNano())
	}
	m.pending[id] = call
	m.inflight.Add(1)
	start := !m.reading
	m.reading = true
	m.mu.Unlock()
	if start {
		s := &m.c.shared
		s.mu.Lock()
		closed := s.closed
		if !closed {
			s.readers.Add(1)
		}
		s.mu.Unlock()
		if closed {
			m.broken(ErrClosed)
			return true // call has its error
		}
		go m.read()
	}
	return true
}

// withdraw removes call, whose ctx ended, from those awaiting request id,
// leaving w for the reader to settle the late reply; it reports false
// when the reply (or the connection's failure) is being handed over.
func (m *muxConn) withdraw(id uint64, call *muxCall, w *withdrawnCall) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.pending[id] != call {
		return false
	}
	delete(m.pending, id)
	m.inflight.Add(-1)
	m.withdrawn[id] = w
	return true
}

// send writes frame, with the frames other callers leave while it
// writes; if another caller is writing, it leaves frame to that one. A
// failed write closes the connection and fails every call on it.
//
// The write is not interrupted when the caller's ctx ends: it could be
// cut off mid-frame, spoiling the connection for every call on it. It
// cannot block for long either: only frames up to muxMaxFrame are
// shared, and muxMaxInFlight of them fit in the socket's buffers, so a
// manager that stopped reading (SIGSTOP) does not hold the writer.
func (m *muxConn) send(frame []byte) {
	m.mu.Lock()
	if m.err != nil {
		m.mu.Unlock()
		return
	}
	m.queued = append(m.queued, frame...)
	if m.writing {
		m.mu.Unlock()
		return
	}
	m.writing = true
	m.mu.Unlock()
	if m.inflight.Load() > 1 {
		// Callers just handed their replies are about to send their next
		// requests: let them run first, to leave their frames for this
		// write instead of each making its own.
		runtime.Gosched()
	}
	for {
		m.mu.Lock()
		if len(m.queued) == 0 {
			m.writing = false
			m.mu.Unlock()
			return
		}
		out := m.queued
		m.queued, m.spare = m.spare[:0], nil
		m.mu.Unlock()
		if _, err := m.cc.nc.Write(out); err != nil {
			m.mu.Lock()
			m.writing = false
			m.mu.Unlock()
			m.broken(err)
			return
		}
		if cap(out) <= 64<<10 {
			m.mu.Lock()
			m.spare = out
			m.mu.Unlock()
		}
	}
}

// read hands each reply to its caller, and settles the late replies of
// withdrawn calls, until none is awaited or the connection fails.
func (m *muxConn) read() {
	defer m.c.shared.readers.Done()
	cc := m.cc
	for {
		body, err := cc.r.ReadFrame()
		if err != nil {
			m.broken(err)
			return
		}
		m.waitingSince.Store(0)
		if err := wire.Decode(body, &cc.msg, nil); err != nil {
			m.broken(err) // cannot tell whose: as roundTrip, the connection goes
			return
		}
		if cc.msg.Tag != wire.TagResponse {
			continue
		}
		id := cc.msg.Response.ID
		m.mu.Lock()
		call := m.pending[id]
		if call != nil {
			delete(m.pending, id)
			m.inflight.Add(-1)
			call.body = append(call.body[:0], body...)
		}
		w := m.withdrawn[id]
		delete(m.withdrawn, id)
		m.mu.Unlock()
		if call != nil {
			call.ch <- struct{}{}
		}
		if w != nil {
			m.c.settleLate(w, &cc.msg.Response)
		}
		// Stop once nothing is awaited. Only after the last use of cc.msg
		// and cc.r: a call may start the next reader at once.
		m.mu.Lock()
		idle := len(m.pending) == 0 && len(m.withdrawn) == 0
		if idle {
			m.reading = false
		}
		m.mu.Unlock()
		if idle {
			select {
			case <-m.c.done:
				m.c.dropShared(m) // the client ended while this read: see muxState.ended
			default:
			}
			return
		}
	}
}

// broken fails every call on m with err and closes it.
func (m *muxConn) broken(err error) {
	m.mu.Lock()
	if m.err == nil {
		m.err = err
	}
	pending := m.pending
	m.pending, m.withdrawn = map[uint64]*muxCall{}, map[uint64]*withdrawnCall{}
	m.reading = false
	m.mu.Unlock()
	m.c.dropShared(m)
	for _, call := range pending {
		m.inflight.Add(-1)
		call.err = err
		call.ch <- struct{}{}
	}
}

// settleLate settles the late reply resp of the withdrawn call w: what
// it took is given back (giveBack, on a connection of the pool), in a
// goroutine owned by c: the reader must not wait for it.
func (c *Client) settleLate(w *withdrawnCall, resp *wire.Response) {
	if !tookSomething(resp) {
		return
	}
	// resp aliases the reader's buffer and message.
	late := &wire.Response{ID: resp.ID, Result: bytes.Clone(resp.Result)}
	if f := resp.Failure; f != nil {
		failure := *f
		late.Failure = &failure
	}
	c.mu.Lock()
	if c.err != nil {
		// Closing: the session ends, and the server releases what it
		// holds.
		c.mu.Unlock()
		return
	}
	c.reconcilers.Add(1)
	c.mu.Unlock()
	go func() {
		defer c.reconcilers.Done()
		ctx, cancel := context.WithTimeout(context.Background(), reconcileTimeout)
		defer cancel()
		cc, err := c.getConn(ctx)
		if err != nil {
			return // the client ended: the session releases what it held
		}
		// A deadline as the reconciler's: Close closes the connection,
		// and a manager frozen for good does not keep it for ever.
		cc.nc.SetDeadline(time.Now().Add(reconcileTimeout))
		w.cc = cc
		if c.giveBack(w, late) {
			cc.nc.SetDeadline(time.Time{})
			c.putConn(cc)
		} else {
			c.dropConn(cc)
		}
	}()
}
