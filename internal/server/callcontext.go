package server

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/goproc/manager/internal/callctx"
	"github.com/goproc/manager/internal/errs"
)

// callContext is the context.Context a method runs under on the server.
//
// It is built to keep the common call free of goroutine hand-offs: a
// request is executed on the goroutine that read it, and only if the
// method asks for ctx.Done() — which a method does when it is about to
// wait — does the connection start another goroutine to go on reading
// (so that the cancel frame for this call, and other calls, can arrive).
// A method that never waits never pays for that.
//
// A request that carries its caller's timeout (wire.Request.Timeout)
// gives the context a deadline: the caller stops waiting then, so a
// blocking method (Queue.Get, Lock.Acquire, …) must give up then too, on
// the server and by itself, rather than commit something nobody will
// receive. The built-in types check ctx.Err() after being served for that
// reason; the deadline makes that check true from the deadline on, and
// its timer, armed only when the method asks for Done, wakes a waiting
// method at the deadline. The deadline is counted from when the server
// read the request, so it is never earlier than the caller's own.
type callContext struct {
	conn   *serverConn
	id     uint64
	caller callctx.Caller
	object uint64 // the object called (0: a control method), owner of what it retains
	// asContext is c itself, set by invoke for methods that take a ctx.
	asContext context.Context
	// deadline is when the caller stops waiting (zero: never); set
	// before the method runs, and read-only afterwards.
	deadline time.Time

	mu      sync.Mutex    // guards the fields below
	done    chan struct{} // made on the first Done call
	err     error         // context.Canceled once cancelled or finished
	cause   error         // why it was cancelled, reported instead of err
	running bool          // the method is executing on the reading goroutine
	blocked bool          // Done was called while running: reading moved on
	timer   *time.Timer   // ends the context at deadline; armed by Done
	// refs is what the call does to references besides the method's
	// own work (see callRefs); made only for calls that involve proxies,
	// to keep every call's context small.
	refs *callRefs
}

var _ context.Context = (*callContext)(nil)

var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// Deadline returns when the caller stops waiting, if its request said.
func (c *callContext) Deadline() (time.Time, bool) { return c.deadline, !c.deadline.IsZero() }

// Done returns the channel closed when the caller gives up (a cancel
// frame), its connection closes, the server shuts down, or the call
// finishes. Its first call while the method runs marks the call as
// blocking and hands the connection's reading to a new goroutine.
func (c *callContext) Done() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done != nil {
		return c.done
	}
	if c.err != nil {
		c.done = closedChan
		return c.done
	}
	if !c.deadline.IsZero() {
		d := time.Until(c.deadline)
		if d <= 0 {
			c.expireLocked()
			c.done = closedChan
			return c.done
		}
		c.timer = time.AfterFunc(d, c.expire)
	}
	c.done = make(chan struct{}) // startBlocking may close it
	if c.running && !c.blocked {
		if !c.conn.startBlocking(c) {
			// Over the connection's limit of blocked calls: the call
			// ends now, as if cancelled, and reports why.
			c.err, c.cause = context.Canceled, errBlockedLimit(c.conn.srv.opts.Limits.MaxBlockedCalls)
			c.done = closedChan
			return c.done
		}
		c.blocked = true
	}
	return c.done
}

func (c *callContext) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err == nil && !c.deadline.IsZero() && !time.Now().Before(c.deadline) {
		// Checked here as well as by the timer, which may not have
		// fired yet (or was never armed): past the deadline, a method
		// must see the context as ended.
		c.expireLocked()
	}
	return c.err
}

// expire ends the context at its deadline.
func (c *callContext) expire() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.expireLocked()
}

func (c *callContext) expireLocked() {
	if c.err != nil {
		return
	}
	c.err = context.DeadlineExceeded
	if c.done != nil && c.done != closedChan {
		close(c.done)
	}
}

func (c *callContext) Value(key any) any {
	if callctx.IsCallerKey(key) {
		return c.caller
	}
	if callctx.IsHolderKey(key) {
		return c // a callctx.Holder for the object called
	}
	return c.conn.baseCtx.Value(key)
}

// cancel ends the context with cause (reported to the caller in place of
// context.Canceled); the first cancel wins.
func (c *callContext) cancel(cause error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return
	}
	c.err, c.cause = context.Canceled, cause
	if c.done != nil && c.done != closedChan {
		close(c.done)
	}
}

// finish marks the method as returned and reports whether it blocked
// (in which case another goroutine now reads the connection).
func (c *callContext) finish() (blocked bool) {
	c.mu.Lock()
	c.running = false
	blocked = c.blocked
	if c.timer != nil {
		c.timer.Stop()
	}
	c.mu.Unlock()
	c.cancel(nil)
	return blocked
}

// reportedCause is the error to report when the method failed because its
// context ended, or nil to report the method's own error.
func (c *callContext) reportedCause() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cause
}

// errBlockedLimit is the error of a call refused because its connection
// already has max calls blocked.
func errBlockedLimit(max int) error {
	return fmt.Errorf("%w: the connection already has %d blocked calls (WithMaxBlockedCalls)", errs.Busy, max)
}
