package manager

import (
	"errors"
	"reflect"
	"strings"

	"github.com/goproc/manager/internal/builtin"
	"github.com/goproc/manager/internal/errs"
	"github.com/goproc/manager/internal/wire"
)

// The library's sentinel errors. Test for them with errors.Is: they are
// recognised across the wire, so an error a remote method returned
// matches the same sentinel in the caller's process.
var (
	// ErrClosed: the client or manager was closed (Close or Shutdown was
	// called), or the server is shutting down.
	ErrClosed = errs.Closed
	// ErrManagerGone: the manager process exited or became unreachable.
	// Every pending and later call on a client fails with it.
	ErrManagerGone = errs.ManagerGone
	// ErrUnreachable: the Redis server of a RedisSession did not answer
	// in time (go-redis's ReadTimeout, 3 s by default) or the connection
	// to it failed. Unlike ErrManagerGone it is not final: later calls
	// work again once Redis answers. A call that writes may have been
	// applied before the answer was lost.
	ErrUnreachable = errs.Unreachable
	// ErrNoSuchObject: the object was freed or deleted, or never existed.
	ErrNoSuchObject = errs.NoSuchObject
	// ErrNoSuchMethod: the object's type has no exported method by that name.
	ErrNoSuchMethod = errs.NoSuchMethod
	// ErrNotExposed: the method exists but Exposed(...) does not list it.
	ErrNotExposed = errs.NotExposed
	// ErrNotRegistered: no type or worker is registered by that name in
	// the process that needed it.
	ErrNotRegistered = errs.NotRegistered
	// ErrBadArguments: a call's arguments do not fit the method.
	ErrBadArguments = errs.BadArguments
	// ErrFrameTooLarge: a message exceeds the frame size limit (WithMaxFrameSize).
	ErrFrameTooLarge = errs.FrameTooLarge
	// ErrAuthFailed: the peers' keys differ.
	ErrAuthFailed = errs.AuthFailed
	// ErrProtocol: the peer sent bytes that are not a valid message.
	ErrProtocol = errs.Protocol
	// ErrEmpty: a non-blocking get found the queue empty.
	ErrEmpty = errs.Empty
	// ErrFull: a non-blocking put found the queue full.
	ErrFull = errs.Full
	// ErrShutDown: the queue was shut down (Queue.Shutdown); a Put fails
	// at once, a Get once the queue is empty (Python 3.13's ShutDown).
	ErrShutDown = errs.ShutDown
	// ErrAbandoned: the lock or semaphore permit was acquired (the caller
	// now holds it), but its previous holder died while holding it.
	ErrAbandoned = errs.Abandoned
	// ErrBrokenBarrier: the barrier was broken or reset.
	ErrBrokenBarrier = errs.BrokenBarrier
	// ErrNotHeld: release of a lock the caller does not hold.
	ErrNotHeld = errs.NotHeld
	// ErrOverReleased: a BoundedSemaphore released more than acquired.
	ErrOverReleased = errs.OverReleased
	// ErrIndexOutOfRange: a list or array index outside its length.
	ErrIndexOutOfRange = errs.IndexOutOfRange
	// ErrNotFound: a value searched for is not there (List.Index, List.Remove).
	ErrNotFound = errs.NotFound
	// ErrWrongType: a proxy or name refers to an object of another type,
	// or a stored value does not decode into the proxy's type (the error
	// names both; a method that would have removed the value leaves it).
	ErrWrongType = errs.WrongType
	// ErrNilProxy: a method was called on a nil typed proxy (or one never
	// created by New*/Open*), or a constructor was given a nil session.
	ErrNilProxy = errs.NilProxy
	// ErrNotSupported: the feature is not available on this platform, or on
	// this engine (the Redis engine hosts the built-in types only).
	ErrNotSupported = errs.NotSupported
	// ErrProcessExited: a worker process exited unsuccessfully.
	ErrProcessExited = errs.ProcessExited
	// ErrNoAuthKey: a server was asked to serve on TCP without WithAuthKey.
	ErrNoAuthKey = errs.NoAuthKey
)

// The sentinels of the server's limits (see LIMITS.md).
var (
	// ErrTooLarge: a request, or a result decoded into interface types,
	// would cost more memory to decode than WithMaxRequestSize allows.
	// The connection goes on.
	ErrTooLarge = errs.TooLarge
	// ErrBusy: the server refused a call for now: the connection has
	// WithMaxBlockedCalls calls blocked already, or the server's read
	// budget (WithReadBudget) stayed exhausted. The connection goes on;
	// retry later.
	ErrBusy = errs.Busy
)

// RemoteError is an error that a shared object's method returned, or a
// panic in it, carried back to the caller. It is never used for transport
// failures. errors.Is(err, ErrX) holds when the remote error wrapped a
// library sentinel ErrX, or an error registered with RegisterError.
type RemoteError struct {
	// Method is the method that failed, as "typeid.Method".
	Method string
	// Type is the Go type of the remote error ("panic" for a panic).
	Type string
	// Message is the remote error's text.
	Message string
	// code names the sentinel the remote error wrapped, if any.
	code string
}

// Error returns the remote error's text with the method it came from.
func (e *RemoteError) Error() string {
	return errs.Prefix + e.Method + ": " + strings.TrimPrefix(e.Message, errs.Prefix)
}

// Is reports whether the remote error wrapped target (a library
// sentinel, a context error or an error registered with RegisterError)
// on the remote side.
func (e *RemoteError) Is(target error) bool {
	sentinel := errs.FromCode(e.code)
	return sentinel != nil && errors.Is(sentinel, target)
}

// Unwrap returns the library sentinel, context error or registered error
// the remote error wrapped, or nil.
func (e *RemoteError) Unwrap() error { return errs.FromCode(e.code) }

// An opError is the error of one call (a method of a shared object, or
// New, Open, …): its text is the package's prefix, the call's name once,
// then the cause without a prefix of its own, so that no text stutters
// ("manager: Queue.TryPut: queue full").
type opError struct {
	op  string // "Queue.TryPut"; a proxy's method alone until qualify adds the typeid
	err error
}

func (e *opError) Error() string { return errs.Prefix + e.op + ": " + errs.Text(e.err) }
func (e *opError) Unwrap() error { return e.err }

// callOp names the call of method on object for error texts: a method of
// a shared object (qualify adds its typeid), or the public function behind
// one of the server's own methods.
func callOp(object uint64, method string) string {
	if object != 0 {
		return method
	}
	switch method {
	case "new":
		return "New"
	case "open":
		return "Open"
	case "decref":
		return "Proxy.Close"
	case "count":
		return "Client.NumObjects"
	case "delete":
		return "Client.Delete"
	case "pin":
		return "Fork"
	}
	return method
}

// qualify prefixes the typeid to the method named by an error the client
// built for a call on a shared object ("TryPut" becomes "Queue.TryPut"),
// leaving any other error as it is. The error is the call's own, so
// changing it races with no one.
func qualify(err error, typeid string) error {
	switch e := err.(type) {
	case *opError:
		op := e.op
		if public, ok := shapeChecked[op]; ok && builtinTypeIDs[typeid] {
			op = public
		}
		e.op = typeid + "." + op
	case *RemoteError:
		e.Method = typeid + "." + e.Method
	}
	return err
}

// shapeChecked maps the built-in types' shape-checked methods (see
// internal/builtin/shape.go), which the typed proxies call in place of
// the methods that remove a value, to the public method a caller called.
var shapeChecked = map[string]string{
	"GetAs": "Get", "TryGetAs": "TryGet", "PopAs": "Pop",
	"LoadAndDeleteAs": "LoadAndDelete", "PopItemAs": "PopItem", "SwapAs": "Swap",
}

// builtinTypeIDs holds the typeids of the built-in types.
var builtinTypeIDs = map[string]bool{
	builtin.TypeDict: true, builtin.TypeList: true, builtin.TypeNamespace: true, builtin.TypeValue: true, builtin.TypeArray: true,
	builtin.TypeQueue: true, builtin.TypeJoinableQueue: true, builtin.TypeLock: true, builtin.TypeRLock: true,
	builtin.TypeSemaphore: true, builtin.TypeBoundedSemaphore: true, builtin.TypeCondition: true,
	builtin.TypeEvent: true, builtin.TypeBarrier: true,
}

// decodeError is a result that does not decode into the caller's type. It
// says so in the caller's terms, and wraps the decoder's own error (whose
// text speaks of msgpack codes) for errors.As.
type decodeError struct {
	msg   string
	cause error
}

func (e *decodeError) Error() string { return e.msg }
func (e *decodeError) Unwrap() error { return e.cause }

// newDecodeError describes why the encoded value raw (what: "result",
// "argument 2", …) did not decode into out (a pointer): by the library's
// own error when the decoding returned one (a proxy of the wrong type),
// else by what raw holds and the type it should have fitted. A result
// struct of this package that carries the user's value in its Value field
// (a Dict's Load result) is described by that value and its type, which
// are what the caller asked for.
func newDecodeError(what string, out any, raw []byte, cause error) error {
	var lib *errs.Error
	if errors.As(cause, &lib) {
		return &decodeError{msg: what + ": " + errs.Text(cause), cause: cause}
	}
	t := reflect.TypeOf(out)
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() == reflect.Struct && t.PkgPath() == reflect.TypeFor[opError]().PkgPath() {
		if f, ok := t.FieldByName("Value"); ok && len(f.Index) == 1 {
			// The struct is encoded as an array of its exported fields.
			pos := 0
			for i := range f.Index[0] {
				if t.Field(i).IsExported() {
					pos++
				}
			}
			t, raw = f.Type, wire.ArrayElem(raw, pos)
		}
	}
	return &decodeError{msg: what + " does not decode into " + t.String() + ": it is " + wire.Describe(raw), cause: cause}
}

// errorf is fmt.Errorf for the texts the root package builds: a library
// error wrapped after the "manager: …" context reads without its own
// prefix, so that the prefix appears once.
var errorf = errs.Errorf
