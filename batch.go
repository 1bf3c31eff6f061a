package manager

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/goproc/manager/internal/builtin"
	"github.com/goproc/manager/internal/errs"
	"github.com/goproc/manager/internal/wire"
)

// A Batch queues calls on the proxies of one session and sends them
// together: [Batch.Flush] writes every request on one connection, without
// waiting for each reply, and then reads all the replies. A pipeline of
// n calls costs about one round trip instead of n.
//
// Queue calls with the generic functions [BatchCall], [BatchLoad],
// [BatchStore], [BatchAdd] and [BatchValueAdd]; each returns a [Future]
// whose result is there once Flush returns. Each call keeps its own
// result or error, the same as it would get alone (ErrWrongType,
// ErrEmpty, a *RemoteError…); calls of one batch run in the order they
// were queued, but other sessions' calls may run between them: a batch
// is not a transaction.
//
// A blocking method (Queue.Get, Lock.Acquire…) may be queued; the
// calls after it still run while it waits, and Flush returns when every
// call has answered or ctx has ended.
//
// A Batch is for one goroutine; it is not safe for concurrent use. After
// Flush it is empty and may be reused. Batches run on every session: on a
// *RedisSession, Flush sends the calls' scripts in one pipeline (see
// RedisSession).
type Batch struct {
	s     Session
	calls []*batchCall
	buf   []byte // the queued request frames, one after another
	w     wire.Buffer
	enc   *msgpack.Encoder
}

// batchCall is one queued call.
type batchCall struct {
	op         string // "Type.Method", for errors
	typeid     string // the object's type
	object     uint64
	handle     uint64
	method     string
	start, end int // its frame in Batch.buf; start == end: not sent
	argsAt     int // its arguments' offset within the frame
	out        any // where the result decodes (nil: discarded)
	err        error
	answered   bool
	sent       bool
	done       *bool // the future's flag
}

// NewBatch returns an empty batch of calls on the objects of s.
func NewBatch(s Session) *Batch {
	b := &Batch{s: s}
	b.enc = msgpack.NewEncoder(&b.w)
	return b
}

// Len returns the number of calls queued and not yet flushed.
func (b *Batch) Len() int { return len(b.calls) }

// A Future is the result of a call queued in a [Batch], there once the
// batch's Flush has returned.
type Future[R any] struct {
	call  *batchCall
	value R
	done  bool
}

// Get returns the call's result and error. Before its batch was flushed
// it returns an error satisfying errors.Is(err, ErrNotSupported). It does
// not block.
func (f *Future[R]) Get() (R, error) {
	if !f.done {
		var zero R
		return zero, fmt.Errorf("manager: %s: %w: the batch has not been flushed yet (call Batch.Flush first)", f.call.op, ErrNotSupported)
	}
	return f.value, f.call.err
}

// Err returns the call's error, as Get does.
func (f *Future[R]) Err() error {
	_, err := f.Get()
	return err
}

// BatchCall adds a call of method on p with args to b, and returns its
// future; R is the method's result type, as for [Call].
func BatchCall[R any](b *Batch, p *Proxy, method string, args ...any) *Future[R] {
	return queueArgs[R](b, p, method, len(args), func(enc *msgpack.Encoder, i int) error {
		return enc.Encode(args[i])
	})
}

// queueArgs is Queue with nargs arguments that encodeArg writes.
func queueArgs[R any](b *Batch, p *Proxy, method string, nargs int, encodeArg func(enc *msgpack.Encoder, i int) error) *Future[R] {
	f := &Future[R]{}
	call := &batchCall{method: method, done: &f.done}
	f.call = call
	if _, isStruct := any(f.value).(struct{}); !isStruct {
		call.out = &f.value
	}
	b.calls = append(b.calls, call)
	if err := p.usable(method); err != nil {
		call.op, call.err = method, err
		return f
	}
	call.op, call.object, call.handle, call.typeid = p.ref.TypeID+"."+method, p.ref.ID, p.handle, p.ref.TypeID
	if p.eng != b.s.engine() {
		call.err = &opError{call.op, errors.New("the proxy belongs to another session than the batch's (make one batch per session)")}
		return f
	}
	// The request id is filled in by Flush (the connection issues ids).
	wire.BeginRequestPatchable(&b.w, call.object, call.handle, method)
	call.argsAt = b.w.BodyLen()
	b.w.ArrayHeader(nargs)
	for i := range nargs {
		if err := encodeArg(b.enc, i); err != nil {
			call.err = &opError{call.op, errs.Errorf("encode argument %d: %w", i+1, err)}
			return f
		}
	}
	frame, err := b.w.Finish(clientMaxFrame(b.s))
	if err != nil {
		call.err = &opError{call.op, err}
		return f
	}
	call.start = len(b.buf)
	b.buf = append(b.buf, frame...)
	call.end = len(b.buf)
	return f
}

// clientMaxFrame is the frame limit of s's client, or the default.
func clientMaxFrame(s Session) int {
	if c, ok := s.engine().(*Client); ok && c != nil {
		return c.maxFrame
	}
	return 0
}

// BatchLoad queues d.Load(key); the future's result is the value and
// whether it was present.
func BatchLoad[K comparable, V any](b *Batch, d *Dict[K, V], key K) *Future[LoadResult[V]] {
	key = canonicalKey(key)
	return queueArgs[LoadResult[V]](b, d.core().proxy(), "Load", 1, func(enc *msgpack.Encoder, _ int) error {
		return encodeScalar(enc, key)
	})
}

// BatchStore queues d.Store(key, value).
func BatchStore[K comparable, V any](b *Batch, d *Dict[K, V], key K, value V) *Future[struct{}] {
	key = canonicalKey(key)
	return queueArgs[struct{}](b, d.core().proxy(), "Store", 2, func(enc *msgpack.Encoder, i int) error {
		if i == 0 {
			return encodeScalar(enc, key)
		}
		return encodeScalar(enc, value)
	})
}

// BatchAdd queues d.Add(key, delta); the future's result is the sum.
func BatchAdd[K comparable, V any](b *Batch, d *Dict[K, V], key K, delta V) *Future[V] {
	key = canonicalKey(key)
	return queueArgs[V](b, d.core().proxy(), "Add", 2, func(enc *msgpack.Encoder, i int) error {
		if i == 0 {
			return encodeScalar(enc, key)
		}
		return encodeScalar(enc, delta)
	})
}

// BatchValueAdd queues v.Add(delta); the future's result is the sum.
func BatchValueAdd[T any](b *Batch, v *Value[T], delta T) *Future[T] {
	return queueArgs[T](b, v.core().proxy(), "Add", 1, func(enc *msgpack.Encoder, _ int) error {
		return encodeScalar(enc, delta)
	})
}

// A LoadResult is what a Load finds: Value, the value (the zero V when
// the key was absent), and OK, whether the key was present. It has the
// layout of every Load result (internal/builtin's Loaded).
type LoadResult[V any] builtin.Loaded[V]

// DecodeMsgpack implements msgpack.CustomDecoder as Dict.Load decodes.
func (r *LoadResult[V]) DecodeMsgpack(dec *msgpack.Decoder) error {
	return (*builtin.Loaded[V])(r).DecodeMsgpack(dec)
}

// batchChunk is the most a Flush hands to one write: requests leave in
// whole frames, so that a write cut short by ctx's end leaves the
// connection fit for the cancel frames.
const batchChunk = 256 << 10

// Flush sends every queued call on one connection, reads their replies,
// and fills in their futures; the batch is then empty. It blocks until
// every call has answered or ctx has ended: the calls not answered then
// are withdrawn as a single call is (a cancel frame each; a late reply
// that took something gives it back) and their futures hold an error
// satisfying errors.Is(err, ctx.Err()).
//
// Flush returns an error only when the batch could not be sent at all
// (the session is closed or gone, no connection); each call's own error
// is in its future.
func (b *Batch) Flush(ctx context.Context) error {
	calls, buf := b.calls, b.buf
	b.calls, b.buf = nil, b.buf[:0]
	err := b.flush(ctx, calls, buf)
	for _, call := range calls {
		if call.err == nil && !call.answered {
			call.err = &opError{call.op, err}
		}
		*call.done = true
	}
	return err
}

func (b *Batch) flush(ctx context.Context, calls []*batchCall, buf []byte) error {
	if r, ok := b.s.engine().(*RedisSession); ok && r != nil {
		return r.flushBatch(ctx, calls, buf)
	}
	c, ok := b.s.engine().(*Client)
	if !ok || c == nil {
		return fmt.Errorf("manager: batch: %w: batches run on a manager session (*Manager or *Client), not on %T; call the methods one by one", ErrNotSupported, b.s)
	}
	pending := 0
	for _, call := range calls {
		if call.err == nil {
			pending++
		}
	}
	if pending == 0 {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return c.ctxError(ctx)
	}
	cc, err := c.getConn(ctx)
	if err != nil {
		return err
	}
	// Give each sendable call its id, and index it by id.
	byID := make(map[uint64]*batchCall, pending)
	for _, call := range calls {
		if call.err != nil {
			continue
		}
		id := cc.nextID
		cc.nextID++
		wire.SetRequestID(buf[call.start+wire.HeaderSize:call.end], id)
		byID[id] = call
	}

	// The writer writes whole frames while this goroutine reads replies,
	// so full socket buffers on both sides cannot deadlock the batch.
	var (
		wmu     sync.Mutex
		broken  bool // a write was cut off mid-frame
		stopped bool
	)
	// toSend is fixed before the writer starts: the writer reads only
	// its frames' bounds, while this goroutine fills in the calls.
	toSend := make([]*batchCall, 0, pending)
	for _, call := range calls {
		if call.err == nil {
			toSend = append(toSend, call)
		}
	}
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		for i := 0; i < len(toSend); {
			j, start := i+1, toSend[i].start
			for j < len(toSend) && toSend[j].end-start <= batchChunk {
				j++
			}
			end := toSend[j-1].end
			wmu.Lock()
			stop := stopped
			wmu.Unlock()
			if stop {
				return
			}
			n, err := cc.nc.Write(buf[start:end])
			wmu.Lock()
			if err != nil {
				broken = n != 0 || !wire.IsTimeout(err)
				stopped = true
				wmu.Unlock()
				return
			}
			for _, call := range toSend[i:j] {
				call.sent = true
			}
			wmu.Unlock()
			i = j
		}
	}()

	var interrupted chan struct{}
	stop := func() bool { return true }
	if ctx.Done() != nil {
		interrupted = make(chan struct{}, 1)
		stop = context.AfterFunc(ctx, func() {
			wmu.Lock()
			stopped = true
			wmu.Unlock()
			cc.nc.SetDeadline(wire.LongAgo)
			interrupted <- struct{}{}
		})
	}
	answered := 0
	var readErr error
	for answered < pending {
		body, err := cc.r.ReadFrame()
		if err != nil {
			readErr = err
			break
		}
		if b.answer(c, ctx, cc, byID, body) {
			answered++
		}
	}
	if stop() {
		interrupted = nil
	}
	<-writerDone
	if readErr == nil {
		if interrupted != nil {
			// ctx ended just as the last reply came: undo the interrupt.
			<-interrupted
			cc.nc.SetDeadline(time.Time{})
		}
		c.putConn(cc)
		return nil
	}
	if interrupted == nil || ctx.Err() == nil {
		// The connection broke, not ctx.
		return c.callFailed(ctx, cc, readErr)
	}
	<-interrupted
	wmu.Lock()
	poisoned := broken
	wmu.Unlock()
	cerr := c.ctxError(ctx)
	for _, call := range byID {
		if !call.answered {
			call.err = &opError{call.op, cerr}
		}
	}
	if poisoned {
		// A request was cut off mid-frame: the connection is unusable,
		// and closing it withdraws the blocked calls on the server.
		c.dropConn(cc)
		return nil
	}
	// Withdraw the calls sent and not answered, as roundTrip does for
	// one call: a cancel frame each, then cancelGrace for their replies.
	var w wire.Buffer
	var unanswered []uint64
	for id, call := range byID {
		if call.sent && !call.answered {
			unanswered = append(unanswered, id)
		}
	}
	cc.nc.SetDeadline(time.Now().Add(cancelGrace))
	var cancels []byte
	for _, id := range unanswered {
		wire.AppendCancel(&w, id)
		f, _ := w.Finish(0)
		cancels = append(cancels, f...)
	}
	if _, err := cc.nc.Write(cancels); err != nil {
		// Cut off or not sent: closing the connection withdraws the
		// blocked calls on the server instead.
		c.dropConn(cc)
		return nil
	}
	left := map[uint64]*batchCall{}
	for _, id := range unanswered {
		left[id] = byID[id]
	}
	for len(left) > 0 {
		body, err := cc.r.ReadFrame()
		if err != nil {
			break
		}
		if err := wire.Decode(body, &cc.msg, nil); err != nil || cc.msg.Tag != wire.TagResponse {
			continue
		}
		if call, ok := left[cc.msg.Response.ID]; ok {
			// Answered within the grace: the caller has its result.
			delete(left, cc.msg.Response.ID)
			b.answerMsg(c, ctx, cc, call)
		}
	}
	if len(left) == 0 {
		cc.nc.SetDeadline(time.Time{})
		c.putConn(cc)
		return nil
	}
	// Replies still to come: the reconciler settles them one by one.
	ws := make([]*withdrawnCall, 0, len(left))
	for id, call := range left {
		ws = append(ws, &withdrawnCall{cc: cc, id: id, object: call.object, handle: call.handle, method: call.method, args: buf[call.start+wire.HeaderSize+call.argsAt : call.end]})
	}
	c.reconcileMany(ws)
	return nil
}

// answer decodes body and, if it is the reply to a call of byID not yet
// answered, fills in that call and reports true.
func (b *Batch) answer(c *Client, ctx context.Context, cc *clientConn, byID map[uint64]*batchCall, body []byte) bool {
	if err := wire.Decode(body, &cc.msg, nil); err != nil || cc.msg.Tag != wire.TagResponse {
		return false
	}
	call, ok := byID[cc.msg.Response.ID]
	if !ok || call.answered {
		return false
	}
	b.answerMsg(c, ctx, cc, call)
	return true
}

// answerMsg fills in call from the response in cc.msg.
func (b *Batch) answerMsg(c *Client, ctx context.Context, cc *clientConn, call *batchCall) {
	call.answered = true
	call.err = nil
	resp := &cc.msg.Response
	if f := resp.Failure; f != nil {
		call.err = qualify(c.failureError(ctx, call.op, f), "")
		return
	}
	if call.out == nil {
		return
	}
	if err := checkResult(call.out, resp.Result); err != nil {
		call.err = &opError{call.op, err}
		return
	}
	cc.res.Reset(resp.Result)
	cc.dec.Reset(&cc.res)
	if err := decodeResult(cc.dec, call.out, resp.Result, c.opts.limits.MaxRequestSize); err != nil {
		call.err = &opError{call.op, newDecodeError("result", call.out, resp.Result, err)}
	}
}

// reconcileMany is reconcile for several withdrawn calls of one
// connection: one goroutine reads until each has its reply, gives back
// what each took, and then returns the connection to the pool.
func (c *Client) reconcileMany(ws []*withdrawnCall) {
	cc := ws[0].cc
	for _, w := range ws {
		w.args = bytes.Clone(w.args)
	}
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		c.dropConn(cc)
		return
	}
	c.settling[cc] = struct{}{}
	c.reconcilers.Add(1)
	c.mu.Unlock()
	go func() {
		defer c.reconcilers.Done()
		ok := c.settleMany(cc, ws)
		c.mu.Lock()
		delete(c.settling, cc)
		c.mu.Unlock()
		if ok {
			c.putConn(cc)
		} else {
			c.dropConn(cc)
		}
	}()
}

// settleMany reads the replies of ws in whatever order they come, gives
// back what each took, and reports whether the connection is fit for
// reuse.
func (c *Client) settleMany(cc *clientConn, ws []*withdrawnCall) bool {
	cc.nc.SetDeadline(time.Now().Add(reconcileTimeout))
	left := make(map[uint64]*withdrawnCall, len(ws))
	for _, w := range ws {
		left[w.id] = w
	}
	for len(left) > 0 {
		body, err := cc.r.ReadFrame()
		if err != nil {
			return false
		}
		if err := wire.Decode(body, &cc.msg, nil); err != nil {
			return false
		}
		if cc.msg.Tag != wire.TagResponse {
			continue
		}
		w, ok := left[cc.msg.Response.ID]
		if !ok {
			continue
		}
		delete(left, w.id)
		if tookSomething(&cc.msg.Response) && !c.giveBack(w, &cc.msg.Response) {
			return false
		}
	}
	cc.nc.SetDeadline(time.Time{})
	return true
}

// BatchGet queues q.Get: it waits for an item, and Flush returns once it
// has one (or ctx ends). As with Queue.Get, an item that does not decode
// into T stays in the queue, and the future holds an error satisfying
// errors.Is(err, ErrWrongType).
func BatchGet[T any](b *Batch, q *Queue[T]) *Future[T] {
	return batchGet(b, q, "Get")
}

// BatchTryGet queues q.TryGet: an empty queue gives the future an error
// satisfying errors.Is(err, ErrEmpty). An item that does not decode into
// T stays in the queue, as with [BatchGet].
func BatchTryGet[T any](b *Batch, q *Queue[T]) *Future[T] {
	return batchGet(b, q, "TryGet")
}

// batchGet queues method (Get or TryGet) as Queue.get calls it: through
// the shape-checked form when T cannot hold every value.
func batchGet[T any](b *Batch, q *Queue[T], method string) *Future[T] {
	p := q.core().proxy()
	ts := shapeFor[T]()
	if ts.any() {
		return queueArgs[T](b, p, method, 0, nil)
	}
	f := queueArgs[T](b, p, method+"As", 1, func(enc *msgpack.Encoder, _ int) error { return enc.Encode(ts.arg) })
	if p != nil && f.call.err == nil {
		f.call.op = p.ref.TypeID + "." + method // errors name the public method
	}
	return f
}
