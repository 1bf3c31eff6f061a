package server

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"runtime/pprof"
	"sync/atomic"
	"time"

	"github.com/goproc/manager/internal/callctx"
	"github.com/goproc/manager/internal/wire"
)

// Calls are observed (by interceptors, pprof labels or a monitor) only
// on a second path: execute takes invokeObserved instead of invoke when
// Server.observed is set, so that a server with none of them pays one
// atomic load per call and nothing else.

// CallInfo describes one call to an interceptor (Config.Intercept).
type CallInfo struct {
	// Object is the object called; 0 for a control operation.
	Object uint64
	// TypeID is the object's type; "" for a control operation or an
	// object that does not exist.
	TypeID string
	// Method is the method's name, or the control operation's.
	Method string
	// Session is the calling client's session, and SessionText the
	// same in hex.
	Session     callctx.SessionID
	SessionText string
	// Pid is the calling process's pid, when its client said it (0 if
	// not).
	Pid int
}

// An Intercept is called around each call on a server configured with
// one (Config.Intercept). call.Run makes the call and returns its error
// (a *Failed for a failure); it may be called at most once, before
// Intercept returns. What Intercept returns is the call's outcome: nil
// answers with the call's result (none if Run was not called), a *Failed
// or call.Seen the call's own failure, and any other error a remote
// error.
type Intercept func(ctx context.Context, info CallInfo, call *Call) error

// Failed is the error Call.Run returns for a call that failed: its
// Failure is what the client is told.
type Failed struct{ Failure *wire.Failure }

func (f *Failed) Error() string { return f.Failure.Message }

// A Call is one call that an Intercept wraps. It is made per call, only
// on a server with an Intercept.
type Call struct {
	s      *Server
	cc     *callContext
	c      *serverConn
	req    *wire.Request
	res    *result
	fail   *wire.Failure
	called bool

	// Seen is for the Intercept: the error it showed for the call's
	// failure, which, returned, stands for that failure.
	Seen error
}

// Run makes the call under ctx, which the method receives.
func (k *Call) Run(ctx context.Context) error {
	if k.called {
		return errCalledTwice
	}
	k.called = true
	if k.cc.movedOn() {
		return errMovedOn
	}
	if ctx != context.Context(k.cc) {
		k.cc.asContext = ctx // the method runs under the interceptor's ctx
	}
	k.res, k.fail = k.s.invoke(k.cc, k.c, k.req)
	if k.fail != nil {
		return &Failed{Failure: k.fail}
	}
	return nil
}

// connObs is what a connection keeps for observing its calls.
type connObs struct {
	// pid is the session's pid once known (see peerPid).
	pid atomic.Int64
	// session is the session id in hex, made once.
	session atomic.Pointer[string]
}

// sessionText returns the connection's session id in hex.
func (c *serverConn) sessionText() string {
	if p := c.obs.session.Load(); p != nil {
		return *p
	}
	s := c.session.String()
	c.obs.session.Store(&s)
	return s
}

// methodName returns method as a string, without allocating when it
// names a method of o (nil for a control operation) or a control
// operation.
func methodName(o *object, method []byte) string {
	if o != nil {
		if mi := o.typ.methods[string(method)]; mi != nil {
			return mi.name
		}
	} else if op, ok := controlNames[string(method)]; ok {
		return op
	}
	return string(method)
}

// controlNames maps each control operation's name to itself, so that
// methodName finds it without allocating (built by monitor.go's init).
var controlNames = map[string]string{}

// peerPid returns the pid the connection's session said it has (0 if
// it has not), cached on the connection once known.
func (c *serverConn) peerPid() int {
	if p := c.obs.pid.Load(); p != 0 {
		return int(p)
	}
	c.srv.mu.Lock()
	p := c.srv.sessionInfo[c.session].Pid
	c.srv.mu.Unlock()
	c.obs.pid.Store(int64(p))
	return p
}

// updateObserved sets Server.observed from the configuration and the
// monitors attached.
func (s *Server) updateObserved() {
	s.observed.Store(s.opts.Intercept != nil || s.opts.PprofLabels || s.monitors.active())
}

// invokeObserved is invoke with the interceptor, pprof labels and
// monitors around it.
func (s *Server) invokeObserved(cc *callContext, c *serverConn, req *wire.Request) (res *result, fail *wire.Failure) {
	info := CallInfo{Object: req.Object, Session: c.session, SessionText: c.sessionText(), Pid: c.peerPid()}
	var o *object
	if req.Object != 0 {
		if o, _ = s.objects.get(req.Object); o != nil {
			info.TypeID = o.typ.id
		}
	}
	if o == nil && req.Object != 0 {
		info.Method = string(req.Method) // no such object
	} else {
		info.Method = methodName(o, req.Method)
	}
	// Rendered now: the arguments live in the connection's frame, which
	// the next request overwrites once the call blocks.
	mon, args := s.monitors.prepare(&info, req.Args)
	start := time.Now()
	if s.opts.PprofLabels {
		typ := info.TypeID
		if typ == "" {
			typ = "manager"
		}
		pprof.SetGoroutineLabels(pprof.WithLabels(context.Background(), pprof.Labels("manager.type", typ, "manager.method", info.Method)))
		// Cleared after the call: the reader goes on with other calls.
		defer pprof.SetGoroutineLabels(context.Background())
	}
	if s.opts.Intercept == nil {
		res, fail = s.invoke(cc, c, req)
	} else {
		res, fail = s.intercepted(cc, c, req, info)
	}
	if mon {
		s.monitors.record(&info, start, fail, args)
	}
	return res, fail
}

// errMovedOn is the error of a call whose interceptor waited on its ctx
// (a context.WithCancel or WithTimeout of it watches ctx.Done) before
// calling next: the connection's reader has moved on to the next
// request, and this one's arguments are gone.
var errMovedOn = errors.New("manager: a server interceptor watched ctx.Done before calling next (derive values only, with context.WithValue, before the call)")

// errCalledTwice is the error of a second call of an interceptor's next.
var errCalledTwice = errors.New("manager: a server interceptor called next more than once")

// intercepted runs the call through the configured Intercept. A panic in
// it becomes the call's error; the server goes on.
func (s *Server) intercepted(cc *callContext, c *serverConn, req *wire.Request, info CallInfo) (res *result, fail *wire.Failure) {
	call := &Call{s: s, cc: cc, c: c, req: req}
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("manager: server interceptor panicked", "method", info.TypeID+"."+info.Method, "panic", p, "stack", string(debug.Stack()))
			res, fail = nil, failureOf(&panicError{msg: fmt.Sprintf("server interceptor: %v", p)}, true)
		}
	}()
	err := s.opts.Intercept(cc, info, call)
	var f *Failed
	switch {
	case err == nil:
		return call.res, nil
	case call.fail != nil && err == call.Seen:
		return nil, call.fail
	case errors.As(err, &f):
		return nil, f.Failure
	default:
		return nil, failureOf(err, true)
	}
}

// movedOn reports whether the call has been marked as blocking, so that
// another goroutine now reads its connection.
func (c *callContext) movedOn() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.blocked
}

// methodContext is the ctx a method receives: the call's own, or the
// one an interceptor passed on.
func (c *callContext) methodContext() context.Context {
	if c.asContext != nil {
		return c.asContext
	}
	return c
}
