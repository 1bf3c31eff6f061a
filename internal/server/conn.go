package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"reflect"
	"sync"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/goproc/manager/internal/callctx"
	"github.com/goproc/manager/internal/errs"
	"github.com/goproc/manager/internal/wire"
)

// serverConn is one authenticated client connection.
//
// Exactly one goroutine reads the connection at a time. It executes each
// request itself; when a method blocks (see callContext) a new goroutine
// takes over reading and the old one finishes the call and exits. So a
// connection has one reader plus one goroutine per blocked call.
type serverConn struct {
	srv     *Server
	nc      net.Conn
	r       *wire.Reader
	session callctx.SessionID
	baseCtx context.Context // carries the object resolver

	// Used only by the goroutine currently reading:
	dec    *msgpack.Decoder
	argBuf bytes.Reader
	msg    wire.Message
	// rawArgs holds the encoded (msgpack.RawMessage) arguments of the
	// request being dispatched; the method receives copies of the slices,
	// so the next request may overwrite them.
	rawArgs [4]msgpack.RawMessage

	wmu sync.Mutex // guards w, enc, out and writes to nc
	w   wire.Buffer
	enc *msgpack.Encoder
	// out holds replies the reader finished while more requests were
	// already buffered (a client's pipeline): they leave in one write
	// when the reader runs out of whole frames, when a method blocks, or
	// when out reaches maxHeld, instead of one write (and one wake-up of
	// the client) per reply.
	out []byte
	// held is set by the reading goroutine when it left a reply in out;
	// only the reader reads or writes it.
	held bool

	mu      sync.Mutex              // guards blocked and closed
	blocked map[uint64]*callContext // calls waiting in a method, by request id
	closed  bool

	handlers sync.WaitGroup // blocked calls still running

	stats connCounters // see stats.go
	obs   connObs      // see hooks.go

	// pinFn is c.pin as a func value, made once: a method value made per
	// call would be a heap allocation on every request and reply.
	pinFn func(wire.ProxyRef)
	// collectFn is c.collect, likewise; pins are the objects the request
	// being read carries (used only by the reading goroutine).
	collectFn func(wire.ProxyRef)
	pins      []uint64
}

func newServerConn(s *Server, nc net.Conn, r *wire.Reader, session callctx.SessionID) *serverConn {
	c := &serverConn{
		srv:     s,
		nc:      nc,
		r:       r,
		session: session,
		baseCtx: callctx.WithResolver(context.Background(), s.objects.resolve),
		dec:     msgpack.NewDecoder(nil),
		blocked: map[uint64]*callContext{},
	}
	c.enc = msgpack.NewEncoder(&c.w)
	c.pinFn = c.pin
	c.collectFn = c.collect
	wire.GrowSendBuffer(nc)
	return c
}

// readLoop reads and executes requests until the connection ends or a
// blocked call hands reading to a new goroutine.
func (c *serverConn) readLoop() {
	for {
		if c.held && !c.r.HasFrame() {
			c.flush() // the next read may wait: send what was held
		}
		body, err := c.r.ReadFrame()
		if err != nil {
			if body != nil && errors.Is(err, errs.Busy) {
				// The frame found no read budget and was dropped; its
				// first bytes name the request to answer.
				c.refuse(body, err)
				continue
			}
			c.close(err)
			return
		}
		c.stats.bytesIn.Add(uint64(len(body) + wire.HeaderSize))
		m := &c.msg
		c.pins = c.pins[:0]
		if err := wire.Decode(body, m, c.collectFn); err != nil {
			// The frame boundary is intact, so the connection goes on;
			// a request whose id we read gets the error as its reply.
			c.srv.log.Debug("manager: malformed message", "err", err)
			if m.Tag == wire.TagRequest {
				c.reply(m.Request.ID, nil, failureOf(err, false))
			}
			continue
		}
		switch m.Tag {
		case wire.TagRequest:
			if c.execute(&m.Request) {
				return // a blocked call moved reading to a new goroutine
			}
		case wire.TagCancel:
			c.mu.Lock()
			cc := c.blocked[m.CancelID]
			c.mu.Unlock()
			if cc != nil {
				cc.cancel(context.Canceled)
			}
		default:
			c.srv.log.Debug("manager: unexpected message tag from client", "tag", m.Tag)
		}
	}
}

// refuse answers a request that was read only in part (prefix), for
// want of budget, with err.
func (c *serverConn) refuse(prefix []byte, err error) {
	m := &c.msg
	wire.Decode(prefix, m, nil) // fails: the arguments are cut off
	if m.Tag == wire.TagRequest {
		c.reply(m.Request.ID, nil, failureOf(err, false))
	}
}

// smallCost is the decoding cost below which a request is neither
// measured nor charged to the read budget: each connection's reader may
// hold that much (a request at a time), as its read buffer does.
const smallCost = 1 << 20

// admit checks what decoding the arguments args will cost against the
// limits: above WithMaxRequestSize the request is refused with
// ErrTooLarge; a large one is charged to the read budget until it
// returns or blocks, and refused with ErrBusy if the budget stays
// exhausted. types are the arguments' types, which say how each is
// decoded (nil: every one into Go values). typeid and method name the
// call in errors. It runs on the reading goroutine, before decoding.
func (c *serverConn) admit(typeid string, method []byte, args []byte, types []reflect.Type) error {
	if int64(len(args))*wire.MaxCostPerByte <= smallCost {
		return nil // cannot cost more: skip the walk
	}
	what := typeid + "." + string(method)
	var cost int64
	if allRaw(types) {
		// Kept encoded: the bytes are the cost, without a walk (a
		// Dict.Store of a large value is the common large request).
		cost = int64(len(args)+len(args)/8) + wire.ValueCost
	} else {
		var err error
		cost, err = wire.ArrayCost(args, func(i int) wire.ArgDecoding {
			if i < len(types) {
				return argDecodingOf(types[i])
			}
			return wire.ArgDecoded
		})
		if err != nil {
			return fmt.Errorf("%w: %s: %v", errs.Protocol, what, err)
		}
	}
	l := &c.srv.opts.Limits
	if cost > l.MaxRequestSize {
		return fmt.Errorf("%w: %s: decoding the arguments would cost %d bytes, over the limit of %d", errs.TooLarge, what, cost, l.MaxRequestSize)
	}
	if cost > smallCost && !c.r.Reserve(cost) {
		return fmt.Errorf("%w: %s: no read budget for arguments costing %d bytes within %v", errs.Busy, what, cost, l.FrameReadTimeout)
	}
	return nil
}

// allRaw reports whether every argument type is msgpack.RawMessage.
func allRaw(types []reflect.Type) bool {
	for _, t := range types {
		if t != rawMessageType {
			return false
		}
	}
	return len(types) > 0
}

// collect notes a proxy a request carries; execute pins them once the
// request is accepted.
func (c *serverConn) collect(r wire.ProxyRef) {
	if r.Server == c.srv.id {
		c.pins = append(c.pins, r.ID)
	}
}

// pin gives the session a reference to each proxy its request carries,
// before the request runs, so an object handed to another process (or
// stored in another object) cannot be freed in transit. A reply's
// proxies are counted the same way: each is owned by the proxy it
// decodes into, and given back by its Close.
func (c *serverConn) pin(r wire.ProxyRef) {
	if r.Server == c.srv.id {
		c.srv.objects.incref(r.ID, c.session)
	}
}

// execute runs one request and reports whether the call blocked.
func (c *serverConn) execute(req *wire.Request) (blocked bool) {
	// req lives in c.msg, which the next reader overwrites once the call
	// blocks: keep what is needed after the method in locals.
	id := req.ID
	// Counted before the closing check, so that Shutdown, which sets
	// closing and then waits for the count to drain, cannot miss it.
	c.srv.running.Add(1)
	if c.srv.closing.Load() {
		c.reply(id, nil, failureOf(errs.Closed, false))
		c.srv.running.Add(-1)
		return false
	}
	for _, obj := range c.pins {
		c.srv.objects.incref(obj, c.session)
	}
	cc := &callContext{conn: c, id: id, caller: callctx.Caller{Session: c.session, Handle: req.Handle}, object: req.Object, running: true}
	if req.Timeout > 0 {
		cc.deadline = time.Now().Add(req.Timeout) // see callContext
	}
	if len(c.pins) > 0 {
		cc.notePins(c.pins)
	}
	c.stats.inFlight.Add(1)
	var res *result
	var fail *wire.Failure
	if c.srv.observed.Load() {
		res, fail = c.srv.invokeObserved(cc, c, req) // see hooks.go
	} else {
		res, fail = c.srv.invoke(cc, c, req)
	}
	c.stats.inFlight.Add(-1)
	c.stats.calls.Add(1)
	if fail != nil {
		c.stats.errors.Add(1)
	}
	blocked = cc.finish()
	if blocked {
		c.stats.blocked.Add(-1)
	}
	if fail != nil {
		if cause := cc.reportedCause(); cause != nil && (fail.Code == "canceled" || fail.Remote && errors.Is(errs.FromCode(fail.Code), context.Canceled)) {
			fail = failureOf(cause, false)
		}
	}
	// Only the reader may hold a reply back (a blocked call's goroutine
	// no longer owns c.r), and only while another request is already
	// here to be run at once.
	if !blocked && c.r.HasFrame() {
		c.held = true
		c.replyHeld(id, res, fail, true)
	} else {
		c.reply(id, res, fail)
	}
	cc.endRefs() // after the reply has given its receiver references
	c.srv.running.Add(-1)
	if blocked {
		c.mu.Lock()
		if c.blocked[id] == cc {
			delete(c.blocked, id)
		}
		c.mu.Unlock()
		c.handlers.Done()
	}
	return blocked
}

// startBlocking is called (by callContext.Done, under its lock) when a
// method is about to wait: the call is registered for cancellation and a
// new goroutine takes over reading the connection. It reports false,
// doing nothing, when the connection has as many calls blocked as
// WithMaxBlockedCalls allows: the call must not wait.
func (c *serverConn) startBlocking(cc *callContext) bool {
	// Only the reading goroutine closes a connection, and it is busy
	// running this method, so the connection cannot have closed yet.
	c.mu.Lock()
	if len(c.blocked) >= c.srv.opts.Limits.MaxBlockedCalls {
		c.mu.Unlock()
		return false
	}
	_, duplicate := c.blocked[cc.id]
	if !duplicate {
		c.blocked[cc.id] = cc
	}
	c.handlers.Add(1)
	c.stats.blocked.Add(1) // until execute has the method's result
	c.mu.Unlock()
	switch {
	case duplicate:
		// A peer reusing the id of a call still blocked could otherwise
		// hide that call from cancellation (and from Shutdown) forever.
		cc.err, cc.cause = context.Canceled, fmt.Errorf("%w: request id %d is already in use by a blocked call", errs.Protocol, cc.id)
		close(cc.done)
	case c.srv.closing.Load():
		cc.err, cc.cause = context.Canceled, errs.Closed
		close(cc.done)
	}
	c.srv.wg.Add(1)
	go func() {
		defer c.srv.wg.Done()
		c.readLoop()
	}()
	return true
}

// maxHeld bounds the replies held in serverConn.out: past it they are
// written even while requests are buffered, so a long pipeline neither
// grows the buffer without bound nor leaves the client waiting for its
// first replies.
const maxHeld = 64 << 10

// reply sends the response to request id, with any replies held before
// it.
func (c *serverConn) reply(id uint64, res *result, fail *wire.Failure) {
	c.replyHeld(id, res, fail, false)
}

// flush writes the replies held in out.
func (c *serverConn) flush() {
	c.held = false
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.writeOut()
}

// writeOut writes out and empties it; wmu must be held.
func (c *serverConn) writeOut() {
	if len(c.out) == 0 {
		return
	}
	if _, err := c.nc.Write(c.out); err != nil {
		c.srv.log.Debug("manager: write reply", "err", err)
	}
	if cap(c.out) > 4*maxHeld {
		c.out = nil // a large reply passed through: do not keep it
	} else {
		c.out = c.out[:0]
	}
}

// replyHeld encodes the response to request id and writes it, or with
// hold appends it to out to leave with the next write.
func (c *serverConn) replyHeld(id uint64, res *result, fail *wire.Failure, hold bool) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if fail == nil {
		wire.BeginResponse(&c.w, id)
		start := c.w.BodyLen()
		if err := res.encode(c.enc); err != nil {
			fail = failureOf(err, true)
		} else if _, err := c.w.Finish(c.srv.opts.MaxFrame); err != nil {
			fail = failureOf(err, false)
		} else {
			// Only a reply that will be sent counts its proxies.
			wire.Scan(c.w.Body()[start:], c.pinFn)
		}
	}
	if fail != nil {
		wire.AppendFailure(&c.w, id, fail)
	}
	frame, _ := c.w.Finish(c.srv.opts.MaxFrame) // a failure always fits
	c.stats.bytesOut.Add(uint64(len(frame)))
	if hold || len(c.out) > 0 {
		c.out = append(c.out, frame...)
		if !hold || len(c.out) >= maxHeld {
			c.writeOut()
		}
		return
	}
	if _, err := c.nc.Write(frame); err != nil {
		c.srv.log.Debug("manager: write reply", "err", err)
	}
}

// cancelBlocked cancels every blocked call with cause.
func (c *serverConn) cancelBlocked(cause error) {
	c.mu.Lock()
	calls := make([]*callContext, 0, len(c.blocked))
	for _, cc := range c.blocked {
		calls = append(calls, cc)
	}
	c.mu.Unlock()
	for _, cc := range calls {
		cc.cancel(cause)
	}
}

// close ends the connection after a read error: blocked calls are
// withdrawn, and once they have returned the session may end.
func (c *serverConn) close(err error) {
	if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
		c.srv.log.Debug("manager: connection closed", "err", err)
	}
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.cancelBlocked(context.Canceled)
	c.r.Release() // this goroutine was the connection's reader
	// Close first: the withdrawn calls' replies cannot reach a peer that
	// is gone, and a write to one that stopped reading must not block.
	c.nc.Close()
	c.handlers.Wait()
	c.srv.connClosed(c)
}
