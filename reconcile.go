package manager

import (
	"bytes"
	"time"

	"github.com/goproc/manager/internal/errs"
	"github.com/goproc/manager/internal/wire"
)

// Reconciling withdrawn calls.
//
// A call returns within cancelGrace of its context's end, whatever the
// server does (see roundTrip). The server may still answer later: a
// method that ignores its context runs to the end, and a manager that was
// stopped (SIGSTOP, a debugger, swap) reads the request only when it
// resumes. The request is out of the caller's hands, so its outcome is
// settled here, in the background, without making anyone wait:
//
//   - the connection of a withdrawn call is not returned to the pool. A
//     goroutine owned by the Client reads it until the call's reply
//     (bounded by reconcileTimeout), then returns the connection to the
//     pool; on any error, or past the bound, it closes it.
//   - a late reply that shows the call took something (a Queue.Get that
//     took an item, an Acquire that took a lock or a permit, a proxy
//     counted for this session) gives it back with the server's
//     "giveback" control method, which asks the object to undo what
//     nobody received (an item goes back to the front of its queue, a
//     lock or permit is released; see opGiveBack in internal/server/giveback.go). So a
//     withdrawn Get never consumes an item the caller did not receive, and
//     an Acquire withdrawn at its deadline never leaves the lock held by
//     nobody.
//
// The server also knows the caller's deadline (wire.Request.Timeout), so a
// blocking built-in gives up on its own at the deadline and never commits
// after it: a late commit can only come from a call served just before its
// deadline, or from a request the server read late (a stopped manager).
//
// What is not settled: if the manager stays unresponsive past
// reconcileTimeout, or the Client is closed first, the connection is
// closed with the request possibly unread, and a manager that resumes may
// still run it (with no one to give back to; a lock or permit is still
// released with the session, a plain Queue item is not).

// reconcileTimeout bounds how long the reconciler waits for a withdrawn
// call's reply. Long, because giving up closes the connection while the
// server may still run the request; short enough that a manager frozen
// for good does not keep connections open for ever.
const reconcileTimeout = 30 * time.Second

// withdrawnCall is a call that returned its context's error before its
// reply came.
type withdrawnCall struct {
	cc                 *clientConn
	id, object, handle uint64
	method             string
	args               []byte // the request's msgpack array of arguments
	cancelUnsent       bool
}

// reconcile takes over w's connection: a goroutine owned by c awaits the
// reply and settles it. It does not block.
func (c *Client) reconcile(w *withdrawnCall) {
	w.args = bytes.Clone(w.args) // it aliases the connection's write buffer
	w.cancelUnsent, w.cc.cancelUnsent = w.cc.cancelUnsent, false
	c.mu.Lock()
	if c.err != nil {
		// Closing: the session ends with the connection, and the
		// server releases what it holds.
		c.mu.Unlock()
		c.dropConn(w.cc)
		return
	}
	c.settling[w.cc] = struct{}{}
	c.reconcilers.Add(1)
	c.mu.Unlock()
	go func() {
		defer c.reconcilers.Done()
		ok := c.settle(w)
		c.mu.Lock()
		delete(c.settling, w.cc)
		c.mu.Unlock()
		if ok {
			c.putConn(w.cc)
		} else {
			c.dropConn(w.cc)
		}
	}()
}

// stopReconciling closes the connections still being reconciled and
// waits for their goroutines; for Close, after the client has ended.
func (c *Client) stopReconciling() {
	c.mu.Lock()
	settling := make([]*clientConn, 0, len(c.settling))
	for cc := range c.settling {
		settling = append(settling, cc)
	}
	c.mu.Unlock()
	for _, cc := range settling {
		cc.nc.Close() // the goroutine sees the error and drops it
	}
	c.reconcilers.Wait()
}

// settle reads w's reply, gives back what it took, and reports whether
// the connection is fit for reuse.
func (c *Client) settle(w *withdrawnCall) bool {
	cc := w.cc
	cc.nc.SetDeadline(time.Now().Add(reconcileTimeout))
	if w.cancelUnsent {
		var b wire.Buffer
		wire.AppendCancel(&b, w.id)
		frame, _ := b.Finish(0)
		if _, err := cc.nc.Write(frame); err != nil {
			return false
		}
	}
	resp, err := cc.readReply(w.id)
	if err != nil {
		return false
	}
	if tookSomething(resp) {
		if !c.giveBack(w, resp) {
			return false
		}
	}
	cc.nc.SetDeadline(time.Time{})
	return true
}

// tookSomething reports whether a reply may show its call holding
// something: any success (the object decides what, if anything, to give
// back), or an Acquire that succeeded with errs.Abandoned.
func tookSomething(resp *wire.Response) bool {
	return resp.Failure == nil || resp.Failure.Code == errs.Abandoned.Code()
}

// giveBack sends the "giveback" control request for w's late reply on
// w's connection, and reports whether the connection is still fit.
func (c *Client) giveBack(w *withdrawnCall, resp *wire.Response) bool {
	cc := w.cc
	var code string
	result := resp.Result
	if f := resp.Failure; f != nil {
		code, result = f.Code, nil
	}
	if len(result) == 0 {
		result = []byte{0xc0} // nil
	}
	id := cc.nextID
	cc.nextID++
	// result aliases the reader's buffer, which stays put until the
	// next read: it is copied into the request first.
	wire.BeginRequest(&cc.w, id, 0, 0, "giveback")
	cc.w.ArrayHeader(6)
	cc.enc.EncodeUint(w.object)
	cc.enc.EncodeUint(w.handle)
	cc.enc.EncodeString(w.method)
	cc.enc.EncodeString(code)
	cc.w.Write(w.args)
	cc.w.Write(result)
	frame, err := cc.w.Finish(c.maxFrame)
	if err != nil {
		// An item within a few bytes of the frame limit: it cannot be
		// sent back, and stays with this session's references only.
		return true
	}
	if _, err := cc.nc.Write(frame); err != nil {
		return false
	}
	_, err = cc.readReply(id)
	return err == nil
}

// readReply reads until the response to request id, skipping others.
func (cc *clientConn) readReply(id uint64) (*wire.Response, error) {
	for {
		body, err := cc.r.ReadFrame()
		if err != nil {
			return nil, err
		}
		if err := wire.Decode(body, &cc.msg, nil); err != nil {
			return nil, err
		}
		if cc.msg.Tag == wire.TagResponse && cc.msg.Response.ID == id {
			return &cc.msg.Response, nil
		}
	}
}
