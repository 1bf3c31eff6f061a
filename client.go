package manager

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/goproc/manager/internal/builtin"
	"github.com/goproc/manager/internal/callctx"
	"github.com/goproc/manager/internal/errs"
	"github.com/goproc/manager/internal/wire"
)

// maxIdleConns is how many idle connections a client keeps. A call holds
// a connection for its whole round trip (so a lone caller writes and
// reads on its own goroutine, with no hand-off); calls made while another
// is in flight share the multiplexed connection (client_mux.go), and
// only a Batch, or a call that cannot share, dials beyond it.
const maxIdleConns = 16

// cancelGrace is how long a call whose context ended still waits for its
// reply: the cancel frame is sent at once, and a blocked call withdrawn
// on the server answers within a round trip (~20 µs), so the connection
// usually goes straight back to the pool. Past it the call returns the
// context's error without waiting for the server (a frozen manager, or a
// method that ignores its context, must not hold the caller), and the
// connection goes to the reconciler (see reconcile.go).
const cancelGrace = 5 * time.Millisecond

// probeTimeout bounds the dial that tells a lost connection from a gone
// manager.
const probeTimeout = time.Second

// A Client is a session with a manager: one process's connection(s) to
// it. Everything a session holds (locks, semaphore permits, references to
// objects) is released when the session ends: when Close is called or the
// process exits.
//
// A Client is safe for concurrent use. A lone call has a connection to
// itself; calls made while another is in flight share one multiplexed
// connection, whose requests leave together and whose replies are handed
// to their callers by request id, so that many goroutines of one process
// cost the manager few writes and reads. [Client.PoolStats] counts them.
type Client struct {
	network, addr string
	key           []byte
	opts          options
	session       callctx.SessionID
	info          wire.ServerInfo
	maxFrame      int

	handles atomic.Uint64 // last proxy handle id issued
	closing atomic.Bool   // Shutdown began: refuse new calls with ErrClosed

	mu    sync.Mutex // guards idle, conns and err
	idle  []*clientConn
	conns map[*clientConn]struct{}
	err   error         // ErrClosed or ErrManagerGone once the client is done
	done  chan struct{} // closed when err is set

	watchDone chan struct{} // closed when the watcher goroutine exits
	anchor    *clientConn   // the connection the watcher reads

	// settling holds the connections of withdrawn calls whose reply the
	// reconciler still awaits (guarded by mu); reconcilers counts its
	// goroutines, which Close waits for.
	settling    map[*clientConn]struct{}
	reconcilers sync.WaitGroup

	inUse  int          // connections of conns held by a call, a Batch or the reconciler (guarded by mu)
	shared muxState     // the multiplexed connection (client_mux.go)
	pool   poolCounters // for PoolStats
}

// clientConn is one connection of a client's pool. It is used by one
// call at a time.
type clientConn struct {
	nc     net.Conn
	r      *wire.Reader
	w      wire.Buffer
	enc    *msgpack.Encoder
	dec    *msgpack.Decoder
	res    bytes.Reader
	msg    wire.Message
	nextID uint64

	// interrupt (made on first use, then reused by every call) ends a
	// blocked read when the call's context ends, and reports that it ran
	// on interrupted (buffered 1): arming a call's cancellation then costs
	// only context.AfterFunc's own allocations.
	interrupt   func()
	interrupted chan struct{}

	// cancelUnsent is set when a withdrawn call's cancel frame could not
	// be written; the reconciler sends it.
	cancelUnsent bool
}

// Connect opens a session with the manager serving at network, addr
// ("unix" and a socket path, or "tcp" and "host:port"), proving that it
// holds key. ctx bounds dialing and the handshake only, like
// net.Dialer.DialContext; the session lasts until Close.
//
// A wrong key gives an error satisfying errors.Is(err, ErrAuthFailed).
func Connect(ctx context.Context, network, addr string, key []byte, opts ...ClientOption) (*Client, error) {
	return connect(ctx, network, addr, key, buildOptions(opts))
}

// connect is Connect with its options built.
func connect(ctx context.Context, network, addr string, key []byte, o options) (*Client, error) {
	c := &Client{
		network:   network,
		addr:      addr,
		key:       append([]byte(nil), key...),
		opts:      o,
		maxFrame:  o.maxFrame,
		conns:     map[*clientConn]struct{}{},
		settling:  map[*clientConn]struct{}{},
		done:      make(chan struct{}),
		watchDone: make(chan struct{}),
	}
	rand.Read(c.session[:])
	// The first connection is the session's anchor: nothing is sent on
	// it, and a goroutine reads it only to learn at once when the manager
	// goes away, so that every call can fail fast with ErrManagerGone.
	watch, err := c.dial(ctx)
	if err != nil {
		return nil, err
	}
	c.maxFrame = min(c.maxFrame, c.info.MaxFrame)
	c.anchor = watch
	go c.watch(watch)
	registerEngine(c)
	// Best effort: a client whose manager cannot hear who it is still
	// works (Stats shows pid 0), and the failure, if it lasts, is the
	// next call's to report.
	c.hello(ctx)
	return c, nil
}

// dial opens and authenticates a new connection.
func (c *Client) dial(ctx context.Context) (*clientConn, error) {
	c.pool.dials.Add(1)
	cc, err := c.dialConn(ctx)
	if err != nil {
		c.pool.dialErrors.Add(1)
	}
	return cc, err
}

// dialConn is dial without counting.
func (c *Client) dialConn(ctx context.Context) (*clientConn, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, c.network, c.addr)
	if err != nil {
		return nil, fmt.Errorf("dial manager: %w", err)
	}
	if c.opts.tls != nil {
		nc = tls.Client(nc, tlsClientConfig(c.opts.tls, c.addr))
	}
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(c.opts.handshakeTimeout)
	}
	nc.SetDeadline(deadline)
	// A ctx cancelled during the handshake ends it at once: a stopped
	// manager accepts connections (the kernel does) but never answers.
	stop := context.AfterFunc(ctx, func() { nc.SetDeadline(wire.LongAgo) })
	r := wire.NewReader(nc, c.opts.maxFrame)
	info, err := wire.ClientHandshake(nc, r, c.key, c.session)
	if !stop() && err == nil {
		err = ctx.Err() // cancelled just as the handshake completed: the deadline is spent
	}
	if err != nil {
		nc.Close()
		if ctx.Err() != nil {
			return nil, fmt.Errorf("connect to manager: %w", ctx.Err())
		}
		if ok && wire.IsTimeout(err) {
			// The socket's deadline was ctx's, whose own timer may not
			// have fired yet.
			return nil, fmt.Errorf("connect to manager: %w", context.DeadlineExceeded)
		}
		return nil, fmt.Errorf("connect to manager at %s: %w", c.addr, err)
	}
	nc.SetDeadline(time.Time{})
	wire.GrowSendBuffer(nc)
	if c.info == (wire.ServerInfo{}) {
		c.info = info // the first dial, in Connect, before c is shared: later dials only read it
	} else if info.ID != c.info.ID {
		// Another server answers at the address (the manager restarted):
		// its objects are not ours, and object ids would collide.
		nc.Close()
		c.fail(ErrManagerGone)
		return nil, fmt.Errorf("%w: a different manager now serves %s", ErrManagerGone, c.addr)
	}
	cc := &clientConn{nc: nc, r: r, dec: msgpack.NewDecoder(nil)}
	cc.enc = msgpack.NewEncoder(&cc.w)
	decoderOwners.Store(cc.dec, c)

	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		cc.close()
		return nil, c.err
	}
	c.conns[cc] = struct{}{}
	return cc, nil
}

func (cc *clientConn) close() {
	decoderOwners.Delete(cc.dec)
	cc.nc.Close()
}

// watch reads the anchor connection until it fails, then marks the
// manager gone (unless the client was closed first).
func (c *Client) watch(cc *clientConn) {
	defer close(c.watchDone)
	for {
		if _, err := cc.r.ReadFrame(); err != nil {
			// The manager closed its side: calls in flight get what
			// it sent them before, so they are not interrupted.
			if c.closing.Load() {
				c.end(ErrClosed, false) // our own Shutdown stopped the manager
			} else {
				c.end(ErrManagerGone, false)
			}
			return
		}
	}
}

// fail ends the client with err (ErrClosed or ErrManagerGone) unless it
// has ended already, closing every connection so that calls in flight
// return at once.
func (c *Client) fail(err error) { c.end(err, true) }

// end ends the client with err unless it has ended already. It closes
// the idle connections and the anchor, and, with interrupt, the busy ones
// too, so that calls in flight return at once. Without interrupt a busy
// connection is closed when its call ends: that is for when the manager
// has closed its side (it died, or shut down), so that a reply it sent
// before, such as a blocked call's ErrClosed or an executing call's
// result, is read rather than lost, and then the connection reads EOF.
func (c *Client) end(err error, interrupt bool) {
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return
	}
	c.err = err
	close(c.done)
	conns, idle := c.conns, c.idle
	c.conns, c.idle = map[*clientConn]struct{}{}, nil
	c.mu.Unlock()
	if !interrupt {
		conns = map[*clientConn]struct{}{}
		for _, cc := range idle {
			conns[cc] = struct{}{}
		}
		if c.anchor != nil {
			conns[c.anchor] = struct{}{}
		}
	}
	for cc := range conns {
		cc.close()
	}
	c.shared.ended()
}

// Close ends the session: the server releases everything it held. Calls
// in flight fail with ErrClosed. Close may be called more than once. It
// does not wait for the manager: it closes the connections, and returns
// once the client's goroutines have exited.
func (c *Client) Close() error {
	if c == nil {
		return nil
	}
	c.closing.Store(true)
	c.fail(ErrClosed)
	c.stopReconciling()
	c.shared.close()
	<-c.watchDone
	unregisterEngine(c)
	return nil
}

// Done returns a channel that is closed when the client can no longer
// make calls: it was closed, or the manager is gone (Err says which). A
// nil *Client's is closed already.
func (c *Client) Done() <-chan struct{} {
	if c == nil {
		return closedDone
	}
	return c.done
}

// closedDone is the Done channel of a nil *Client.
var closedDone = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// Err returns nil while the client works, then ErrClosed or
// ErrManagerGone; a nil *Client's is ErrNilProxy.
func (c *Client) Err() error {
	if c == nil {
		return ErrNilProxy
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Addr returns the address of the manager the client is connected to
// (nil for a nil *Client).
func (c *Client) Addr() net.Addr {
	if c == nil {
		return nil
	}
	return addr{c.network, c.addr}
}

// ManagerPid returns the process id of the manager process (for a remote
// manager, a pid on its machine; 0 for a nil *Client).
func (c *Client) ManagerPid() int {
	if c == nil {
		return 0
	}
	return c.info.Pid
}

type addr struct{ network, address string }

func (a addr) Network() string { return a.network }
func (a addr) String() string  { return a.address }

// getConn returns a connection for the caller's use alone: an idle one,
// or a new one.
func (c *Client) getConn(ctx context.Context) (*clientConn, error) {
	cc, _, err := c.takeConn(ctx, false)
	return cc, err
}

// dialFailed says why a call could not open a connection. When the
// manager has died, the watcher sees its anchor connection close at once
// (all of a dead process's sockets close together), so a failed dial
// waits for that, briefly, to report ErrManagerGone rather than a
// transport error; a dial that failed for another reason (too many open
// files) is reported as it is, and the client goes on.
func (c *Client) dialFailed(ctx context.Context, err error) error {
	if ctx.Err() == nil && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
		t := time.NewTimer(probeTimeout)
		select {
		case <-c.done:
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
	}
	if c.closing.Load() {
		return ErrClosed
	}
	if cerr := c.Err(); cerr != nil {
		return cerr
	}
	return err
}

func (c *Client) putConn(cc *clientConn) {
	c.mu.Lock()
	c.inUse--
	if c.err == nil && len(c.idle) < maxIdleConns {
		c.idle = append(c.idle, cc)
		c.mu.Unlock()
		return
	}
	delete(c.conns, cc)
	c.mu.Unlock()
	cc.close()
}

// dropConn closes a connection that can no longer be trusted.
func (c *Client) dropConn(cc *clientConn) {
	c.mu.Lock()
	c.inUse--
	delete(c.conns, cc)
	c.mu.Unlock()
	cc.close()
}

// call sends one request and waits for its response, decoding the result
// into out (a pointer, or nil to discard it).
func (c *Client) call(ctx context.Context, object, handle uint64, method string, out any, args ...any) error {
	return c.callArgs(ctx, object, handle, method, true, out, len(args), func(enc *msgpack.Encoder, i int) error {
		return enc.Encode(args[i])
	})
}

// callArgs is call with nargs arguments that encodeArg(enc, i) encodes:
// a typed proxy writes its keys and values straight into the request,
// where boxing them into call's ...any would allocate. share says whether
// the call may join the multiplexed connection (client_mux.go): only
// methods that return at once or wait through their ctx (the built-in
// types', the control operations) may, because the manager runs one
// connection's requests in turn until one waits, and a custom method
// that computes for seconds would hold up the calls queued behind it.
func (c *Client) callArgs(ctx context.Context, object, handle uint64, method string, share bool, out any, nargs int, encodeArg func(enc *msgpack.Encoder, i int) error) error {
	if c == nil {
		return fmt.Errorf("manager: %s: %w", method, ErrNilProxy)
	}
	if err := ctx.Err(); err != nil {
		// Before taking a connection it would have to drop; the client's
		// own end (a worker's ctx ends because the manager did) comes first.
		if c.closing.Load() {
			return &opError{callOp(object, method), ErrClosed}
		}
		if cerr := c.Err(); cerr != nil {
			return &opError{callOp(object, method), cerr}
		}
		return &opError{callOp(object, method), err}
	}
	cc, m, err := c.takeConn(ctx, share)
	if err != nil {
		return &opError{callOp(object, method), err}
	}
	if m != nil {
		err := c.callShared(ctx, m, object, handle, method, out, nargs, encodeArg)
		if err != errNotShared {
			return err
		}
		if cc, err = c.getConn(ctx); err != nil {
			return &opError{callOp(object, method), err}
		}
	}
	id := cc.nextID
	cc.nextID++
	frame, argsAt, err := c.encodeRequest(ctx, &cc.w, cc.enc, id, object, handle, method, nargs, encodeArg)
	if err != nil {
		c.putConn(cc)
		return err
	}
	resp, err := cc.roundTrip(ctx, frame, id)
	if err != nil {
		if errors.Is(err, errUnanswered) {
			// The call was withdrawn and its reply has not come: return
			// now, and let the reconciler settle what the server does.
			c.reconcile(&withdrawnCall{cc: cc, id: id, object: object, handle: handle, method: method, args: frame[wire.HeaderSize+argsAt:]})
			return &opError{callOp(object, method), c.ctxError(ctx)}
		}
		return &opError{callOp(object, method), c.callFailed(ctx, cc, err)}
	}
	err = c.result(ctx, object, method, resp, cc.dec, &cc.res, out)
	c.putConn(cc)
	return err
}

// encodeRequest encodes request id into w (enc writes into w) and
// returns its frame and the offset of its arguments in the frame's body.
func (c *Client) encodeRequest(ctx context.Context, w *wire.Buffer, enc *msgpack.Encoder, id, object, handle uint64, method string, nargs int, encodeArg func(enc *msgpack.Encoder, i int) error) (frame []byte, argsAt int, err error) {
	if deadline, ok := serverDeadline(ctx); ok {
		// The server gives the method this deadline (see callContext),
		// so a blocking method gives up there when we do here (or, for
		// a settling call, before we stop awaiting its reply: settle.go).
		wire.BeginRequestTimeout(w, id, object, handle, method, time.Until(deadline))
	} else {
		wire.BeginRequest(w, id, object, handle, method)
	}
	argsAt = w.BodyLen()
	w.ArrayHeader(nargs)
	for i := range nargs {
		if err := encodeArg(enc, i); err != nil {
			return nil, 0, &opError{callOp(object, method), errs.Errorf("encode argument %d: %w", i+1, err)}
		}
	}
	frame, err = w.Finish(c.maxFrame)
	if err != nil {
		return nil, 0, &opError{callOp(object, method), err}
	}
	return frame, argsAt, nil
}

// result turns a call's response into its error, decoding its result
// into out (a pointer, or nil to discard it) with dec, which reads res.
func (c *Client) result(ctx context.Context, object uint64, method string, resp *wire.Response, dec *msgpack.Decoder, res *bytes.Reader, out any) error {
	if f := resp.Failure; f != nil {
		return c.failureError(ctx, callOp(object, method), f)
	}
	if out == nil {
		return nil
	}
	if err := checkResult(out, resp.Result); err != nil {
		return &opError{callOp(object, method), err}
	}
	res.Reset(resp.Result)
	dec.Reset(res)
	if err := decodeResult(dec, out, resp.Result, c.opts.limits.MaxRequestSize); err != nil {
		return &opError{callOp(object, method), newDecodeError("result", out, resp.Result, err)}
	}
	return nil
}

// failureError turns a failure response into the error the caller sees.
func (c *Client) failureError(ctx context.Context, method string, f *wire.Failure) error {
	if ctx.Err() != nil && errors.Is(errs.FromCode(f.Code), ctx.Err()) {
		// Withdrawn on the server at our deadline (the method returned
		// its ctx's error): the caller sees its own ctx's end, as when
		// the client gives up first.
		return &opError{method, ctx.Err()}
	}
	if f.Remote {
		return &RemoteError{Method: method, Type: f.Type, Message: f.Message, code: f.Code}
	}
	sentinel := errs.FromCode(f.Code)
	if errors.Is(sentinel, context.Canceled) && ctx.Err() != nil {
		return &opError{method, ctx.Err()}
	}
	return &opError{method, &callError{sentinel: sentinel, msg: f.Message}}
}

// callError is an error of the call machinery reported by the server.
type callError struct {
	sentinel error
	msg      string
}

func (e *callError) Error() string { return e.msg }
func (e *callError) Unwrap() error { return e.sentinel }

// ctxError is the error of a call whose ctx ended. The client's end comes
// first: a worker's ctx is cancelled because the manager went away, and
// its calls must say so, not "canceled".
func (c *Client) ctxError(ctx context.Context) error {
	if c.closing.Load() {
		return ErrClosed
	}
	if cerr := c.Err(); cerr != nil {
		return cerr
	}
	return ctx.Err()
}

// callFailed handles a call whose connection failed, and says why.
// A nil cc is a connection closed already (the multiplexed one).
func (c *Client) callFailed(ctx context.Context, cc *clientConn, err error) error {
	if cc != nil {
		c.dropConn(cc)
	}
	if ctx.Err() != nil {
		return c.ctxError(ctx)
	}
	if c.closing.Load() {
		return ErrClosed
	}
	if cerr := c.Err(); cerr != nil {
		return cerr
	}
	// A broken connection: is the manager gone, or only this connection?
	// If it is gone, the watcher sees its anchor connection close at once
	// (all of a dead process's sockets close together); a failed dial of
	// our own would prove nothing (a slow handshake, no descriptors left),
	// so the watcher alone decides.
	t := time.NewTimer(probeTimeout)
	defer t.Stop()
	select {
	case <-c.done:
		if c.closing.Load() {
			return ErrClosed
		}
		return c.Err()
	case <-t.C:
	}
	return fmt.Errorf("connection lost during the call (it may or may not have run): %w", err)
}

// errUnanswered is roundTrip's report that ctx ended, the cancel was sent
// (or could not be yet: cc.cancelUnsent), and no reply came within
// cancelGrace. The connection is intact, with the reply still to come.
var errUnanswered = errors.New("manager: call withdrawn, reply pending")

// roundTrip writes a request frame and reads until its response. If ctx
// ends while waiting, it sends a cancel frame and waits cancelGrace more:
// a reply in that time (the result of a call that completed first, so
// nothing it did is lost, or its withdrawal) is returned; otherwise
// errUnanswered, and the caller hands the connection to the reconciler.
// So a call returns within cancelGrace of its ctx's end whatever the
// server does.
//
// ctx is watched with context.AfterFunc (two allocations per call). A
// read deadline instead (the first try at saving them) cost far more:
// moving a connection's deadline on every call wakes the runtime's network
// poller, and the round trip's median grew by a third.
func (cc *clientConn) roundTrip(ctx context.Context, frame []byte, id uint64) (*wire.Response, error) {
	var stop func() bool
	if ctx.Done() != nil {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if cc.interrupt == nil {
			cc.interrupted = make(chan struct{}, 1)
			cc.interrupt = func() {
				cc.nc.SetDeadline(wire.LongAgo)
				cc.interrupted <- struct{}{}
			}
		}
		stop = context.AfterFunc(ctx, cc.interrupt)
	}
	// disarm makes sure the interrupt cannot fire later, and clears it if
	// it fired (taking its token, so the next call starts clean), so the
	// connection can be reused.
	disarm := func() {
		if stop != nil && !stop() {
			<-cc.interrupted
			cc.nc.SetDeadline(time.Time{})
		}
		stop = nil
	}
	defer disarm()

	if _, err := cc.nc.Write(frame); err != nil {
		return nil, err // a partial write poisons the connection
	}
	cancelled := false
	for {
		body, err := cc.r.ReadFrame()
		if err != nil {
			if !wire.IsTimeout(err) || ctx.Err() == nil {
				return nil, err
			}
			if cancelled {
				return nil, errUnanswered // the wire.Reader keeps any partial frame
			}
			disarm()
			cancelled = true
			cc.nc.SetDeadline(time.Now().Add(cancelGrace))
			var w wire.Buffer
			wire.AppendCancel(&w, id)
			cancelFrame, _ := w.Finish(0)
			if n, err := cc.nc.Write(cancelFrame); err != nil {
				if n != 0 || !wire.IsTimeout(err) {
					return nil, err // a partial frame poisons the connection
				}
				// The send buffer is full (the manager stopped reading):
				// the reconciler sends it later.
				cc.cancelUnsent = true
				return nil, errUnanswered
			}
			continue
		}
		if err := wire.Decode(body, &cc.msg, nil); err != nil {
			return nil, err
		}
		if cc.msg.Tag != wire.TagResponse || cc.msg.Response.ID != id {
			continue // not ours: a stale reply can never be taken for this one
		}
		if cancelled {
			cc.nc.SetDeadline(time.Time{})
		}
		return &cc.msg.Response, nil
	}
}

// The Client as an engine (see engine.go).

func (c *Client) engine() engine {
	if c == nil {
		return nil // not a non-nil interface holding a nil *Client
	}
	return c
}

func (c *Client) serverID() [16]byte { return c.info.ID }

func (c *Client) newHandle() uint64 { return c.handles.Add(1) }

func (c *Client) interceptor() CallFunc { return c.opts.callChain }

func (c *Client) invoke(ctx context.Context, ref wire.ProxyRef, handle uint64, method string, out any, nargs int, encodeArg func(enc *msgpack.Encoder, i int) error) error {
	if settles(ref.TypeID, method) {
		return c.invokeSettling(ctx, ref, handle, method, out, nargs, encodeArg)
	}
	return c.callArgs(ctx, ref.ID, handle, method, builtin.IsType(ref.TypeID), out, nargs, encodeArg)
}

func (c *Client) create(ctx context.Context, name, typeid string, args []any) (*Proxy, error) {
	var p *Proxy
	var err error
	if name == "" {
		err = c.call(ctx, 0, 0, "new", &p, append([]any{typeid}, args...)...)
	} else {
		err = c.call(ctx, 0, 0, "open", &p, append([]any{name, typeid}, args...)...)
	}
	if err != nil {
		return nil, err
	}
	return p, nil
}

func (c *Client) release(ctx context.Context, ref wire.ProxyRef) error {
	return c.call(ctx, 0, 0, "decref", nil, ref.ID)
}

// NumObjects returns the number of live objects in the manager, like
// Python's _number_of_objects: for tests and for debugging leaks.
func (c *Client) NumObjects(ctx context.Context) (int, error) {
	var n int
	err := c.call(ctx, 0, 0, "count", &n)
	return n, err
}

// Delete removes the name of a named object (see Open); the object is
// freed once no proxy refers to it. It reports whether the name existed.
func (c *Client) Delete(ctx context.Context, name string) (bool, error) {
	var ok bool
	err := c.call(ctx, 0, 0, "delete", &ok, name)
	return ok, err
}

// decodeResult decodes a call's result into ptr, keeping msgpack's fast paths
// for common types: a client decodes results another client stored. raw
// is the encoded result dec reads: when ptr holds interfaces or maps,
// whose shape the value, not the reader, decides, decoding it must not
// cost more than limit (WithMaxRequestSize), or a reader of a hostile
// stored value would allocate without bound (an 8 MiB value of empty
// arrays decodes to 328 MiB of []any).
func decodeResult(dec *msgpack.Decoder, ptr any, raw []byte, limit int64) (err error) {
	if int64(len(raw))*wire.MaxCostPerByte > limit && shapedByValue(reflect.TypeOf(ptr)) {
		cost, _, err := wire.Cost(raw)
		if err != nil {
			return fmt.Errorf("%w: %v", errs.Protocol, err)
		}
		if cost > limit {
			return fmt.Errorf("%w: decoding the result would cost %d bytes, over the limit of %d", errs.TooLarge, cost, limit)
		}
	}
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("undecodable value: %v", p)
		}
	}()
	return dec.Decode(ptr)
}

// shapedCache caches shapedByValue by type.
var shapedCache sync.Map // reflect.Type → bool

// shapedByValue reports whether t holds an interface or a map anywhere,
// so that what decoding into it allocates per encoded byte is up to the
// value: a []any or map[string]any takes any shape a writer chose. Other
// types cost at most a small multiple of the bytes (a []int64 of 1-byte
// integers, 8 bytes each), which the reader chose.
func shapedByValue(t reflect.Type) bool {
	if t == nil {
		return true
	}
	if v, ok := shapedCache.Load(t); ok {
		return v.(bool)
	}
	shaped := shapedWalk(t, map[reflect.Type]bool{})
	shapedCache.Store(t, shaped)
	return shaped
}

func shapedWalk(t reflect.Type, seen map[reflect.Type]bool) bool {
	if seen[t] {
		return false // a recursive type: judged where it started
	}
	seen[t] = true
	switch t.Kind() {
	case reflect.Interface, reflect.Map:
		return true
	case reflect.Pointer, reflect.Slice, reflect.Array:
		return shapedWalk(t.Elem(), seen)
	case reflect.Struct:
		for i := range t.NumField() {
			if shapedWalk(t.Field(i).Type, seen) {
				return true
			}
		}
	}
	return false
}
