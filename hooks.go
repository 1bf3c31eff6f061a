package manager

import (
	"context"
	"errors"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/goproc/manager/internal/errs"
	"github.com/goproc/manager/internal/server"
	"github.com/goproc/manager/internal/wire"
)

// Interceptors are connect-go's: a function that takes the next step of
// a call and returns a step that runs around it. Client interceptors run
// around every method call a proxy makes, on any engine (a manager's
// Client or a RedisSession); server interceptors run in the server
// around every call it executes. A session or server without
// interceptors pays one nil check per call.

// CallInfo describes a method call that a proxy makes, for a client
// Interceptor.
type CallInfo struct {
	// TypeID is the object's registered type ("Dict", "Queue", or a
	// custom type's typeid).
	TypeID string
	// Object is the object's id on its manager or Redis namespace.
	Object uint64
	// Method is the method's name on the wire: the exported method of a
	// custom type, or a built-in's (a typed proxy's method may call one
	// of another name, such as Queue.Get calling "GetAs").
	Method string

	// The call itself, made by the innermost CallFunc. An interceptor
	// changing the exported fields does not change the call.
	eng       engine
	ref       wire.ProxyRef
	handle    uint64
	out       any
	nargs     int
	encodeArg func(enc *msgpack.Encoder, i int) error
}

// A CallFunc makes a call (the next interceptor's, or at the end of the
// chain the call itself) under ctx and returns its error.
type CallFunc func(ctx context.Context, call CallInfo) error

// An Interceptor wraps the calls of a session: given the next CallFunc,
// it returns one that does its work around it. It must call next at most
// once, with the CallInfo it was given, and may pass it a ctx of its own
// (derived from the one it got: a trace span, a deadline); what it
// returns is the caller's error. The error it sees from next is the one
// the caller would get: errors.Is works on it as on any call's error.
//
// Interceptors see the method calls of proxies (Proxy, Call, and every
// typed proxy's methods), not New, Open, a proxy's Close, Batch calls or
// a Client's own operations (Stats, Delete…). They run on the calling
// goroutine and must be safe for concurrent use.
type Interceptor func(next CallFunc) CallFunc

// WithInterceptors adds interceptors to a Client (Connect) or the
// Manager's own client (Start): the first given is the outermost. The
// default is none, which costs a call one nil check. Functions do not
// travel to other processes: the Client a worker started by Fork
// receives has none.
func WithInterceptors(interceptors ...Interceptor) ClientOption {
	return clientOption(func(o *options) {
		o.interceptors = append(o.interceptors, interceptors...)
		o.callChain = chainCalls(o.interceptors)
	})
}

// WithRedisInterceptors adds interceptors to a RedisSession: the first
// given is the outermost. The default is none.
func WithRedisInterceptors(interceptors ...Interceptor) RedisOption {
	return redisOptionFunc(func(o *redisOptions) {
		o.interceptors = append(o.interceptors, interceptors...)
		o.callChain = chainCalls(o.interceptors)
	})
}

// clientOption is a ClientOption only.
type clientOption func(*options)

func (f clientOption) apply(o *options) { f(o) }
func (clientOption) isClientOption()    {}

// chainCalls composes interceptors around the call itself; nil when there
// are none.
func chainCalls(interceptors []Interceptor) CallFunc {
	if len(interceptors) == 0 {
		return nil
	}
	return compose(makeCall, interceptors)
}

// compose wraps inner in interceptors, the first given outermost; nil
// interceptors are skipped.
func compose[F any, I ~func(F) F](inner F, interceptors []I) F {
	f := inner
	for i := len(interceptors) - 1; i >= 0; i-- {
		if interceptors[i] != nil {
			f = interceptors[i](f)
		}
	}
	return f
}

// makeCall is the end of every chain: the call itself.
func makeCall(ctx context.Context, ci CallInfo) error {
	if ci.eng == nil {
		return errors.New("manager: an interceptor called next with a CallInfo of its own; pass on the one it was given")
	}
	if err := ci.eng.invoke(ctx, ci.ref, ci.handle, ci.Method, ci.out, ci.nargs, ci.encodeArg); err != nil {
		return qualify(err, ci.ref.TypeID)
	}
	return nil
}

// invokeEngine is every proxy method call: eng.invoke, through eng's
// interceptors when it has any, with the error naming the type.
func invokeEngine(ctx context.Context, eng engine, ref wire.ProxyRef, handle uint64, method string, out any, nargs int, encodeArg func(enc *msgpack.Encoder, i int) error) error {
	if chain := eng.interceptor(); chain != nil {
		return chain(ctx, CallInfo{TypeID: ref.TypeID, Object: ref.ID, Method: method, eng: eng, ref: ref, handle: handle, out: out, nargs: nargs, encodeArg: encodeArg})
	}
	if err := eng.invoke(ctx, ref, handle, method, out, nargs, encodeArg); err != nil {
		return qualify(err, ref.TypeID)
	}
	return nil
}

// ServerCallInfo describes a call that a server executes, for a
// ServerInterceptor.
type ServerCallInfo struct {
	// TypeID is the object's registered type; "" for one of the
	// server's own operations (Object 0) or an object that does not
	// exist.
	TypeID string
	// Object is the object's id; 0 for the server's own operations
	// (Method is then the operation's wire name: "new", "open",
	// "decref", "stats"…; PROTOCOL.md lists them).
	Object uint64
	// Method is the method's name on the wire.
	Method string
	// Session is the calling session's id, as Stats shows it.
	Session string
	// Pid is the calling process's pid, or 0 if its client did not say.
	Pid int

	call *server.Call
}

// A ServerCallFunc executes a call (the next server interceptor's, or at
// the end of the chain the method itself) under ctx and returns its
// error.
type ServerCallFunc func(ctx context.Context, call ServerCallInfo) error

// A ServerInterceptor wraps the calls a server executes: given the next
// ServerCallFunc, it returns one that does its work around it (measure
// the duration, count the errors, start a span). It must call next at
// most once, before it returns, with the ServerCallInfo it was given.
//
// The ctx it gets is the call's; the ctx it passes to next is the one
// the method receives (a method that takes a context.Context). It may
// add values to it (context.WithValue, a trace span) but must not watch
// it for cancellation before calling next (context.WithCancel or
// WithTimeout of it do): a method that waits is what moves the server
// on to the connection's next request, and a call whose interceptor
// did so first fails with an error saying so. The error next returns
// is the call's failure as its caller will see it (a *RemoteError for
// the method's own error or panic; errors.Is works on it); what the
// interceptor returns is what the caller gets: that error, another (the
// caller sees a *RemoteError with its text), or nil (the caller gets
// the result, or none if next was not called or failed). A panic in an
// interceptor is logged and becomes the call's error; the server goes
// on.
//
// Server interceptors run on the server's goroutines, one call each,
// and must be safe for concurrent use. They do not see a call refused
// before it runs (a malformed or over-limit request).
type ServerInterceptor func(next ServerCallFunc) ServerCallFunc

// WithServerInterceptors adds interceptors to a server: NewServer's, or
// the one Start runs with InProcess; the first given is the outermost.
// The default is none, which costs a call one atomic load.
//
// Functions cannot travel to a manager process, so Start without
// InProcess refuses them with an error satisfying
// errors.Is(err, ErrNotSupported): run the server in a process that
// holds the interceptors (Start with InProcess, or NewServer and Serve
// in a program of your own, which workers reach with Connect).
func WithServerInterceptors(interceptors ...ServerInterceptor) ServerOption {
	return serverOption(func(o *options) { o.serverInterceptors = append(o.serverInterceptors, interceptors...) })
}

// WithPprofLabels makes a server label the goroutine running each call
// with pprof labels "manager.type" (the object's type, "manager" for the
// server's own operations) and "manager.method", so that a CPU profile
// of the manager (runtime/pprof, net/http/pprof) splits its time by
// method. The labels are set for the call and cleared after it. Off by
// default: labels cost a few allocations per call. It reaches a manager
// process started by Start.
func WithPprofLabels() ServerOption {
	return serverOption(func(o *options) { o.pprofLabels = true })
}

// serverIntercept returns the internal server's interceptor under the
// interceptors given, or nil when there are none.
func serverIntercept(interceptors []ServerInterceptor) server.Intercept {
	if len(interceptors) == 0 {
		return nil
	}
	f := compose(executeCall, interceptors)
	return func(ctx context.Context, info server.CallInfo, call *server.Call) error {
		return f(ctx, ServerCallInfo{TypeID: info.TypeID, Object: info.Object, Method: info.Method, Session: info.SessionText, Pid: info.Pid, call: call})
	}
}

// executeCall is the end of every server chain: the call itself. Its
// failure is given to the interceptors as the caller will see it (and
// stands for that failure when they return it).
func executeCall(ctx context.Context, ci ServerCallInfo) error {
	if ci.call == nil {
		return errors.New("manager: a server interceptor called next with a ServerCallInfo of its own; pass on the one it was given")
	}
	err := ci.call.Run(ctx)
	var f *server.Failed
	if !errors.As(err, &f) {
		return err // the chain was misused (see internal/server/hooks.go)
	}
	ci.call.Seen = failureAsError(ci.TypeID, ci.Method, f.Failure)
	return ci.call.Seen
}

// failureAsError is the error a client gets for the failure f of a call
// of typeid.method.
func failureAsError(typeid, method string, f *wire.Failure) error {
	op := method
	if typeid != "" {
		op = typeid + "." + method
	}
	if f.Remote {
		return &RemoteError{Method: op, Type: f.Type, Message: f.Message, code: f.Code}
	}
	return &opError{op, &callError{sentinel: errs.FromCode(f.Code), msg: f.Message}}
}

// ErrorCode returns the code that PROTOCOL.md ("Error codes") gives err:
// "" for nil; the code of the library sentinel, context error or
// RegisterError'd error that err wraps ("empty", "deadline_exceeded", …), on
// either side of the wire; "error" for any other error. It suits metric
// labels, which must come from a small set, where an error's text would
// not.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	if code := errs.CodeOf(err); code != "" {
		return code
	}
	return "error"
}
