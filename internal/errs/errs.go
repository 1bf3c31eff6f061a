// Package errs defines the library's sentinel errors and the stable codes
// that carry them across the wire, so that errors.Is works on an error a
// remote method returned. The root package re-exports every sentinel.
package errs

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
)

// Error is a sentinel error with a stable wire code.
type Error struct {
	code string
	msg  string
}

func (e *Error) Error() string { return e.msg }

// Code is the stable identifier sent on the wire.
func (e *Error) Code() string { return e.code }

func newErr(code, msg string) *Error {
	e := &Error{code: code, msg: msg}
	byCode[code] = e
	return e
}

var byCode = map[string]*Error{}

// The sentinels. Messages say what happened and, where it helps, what to do.
var (
	Closed          = newErr("closed", "manager: closed (Close or Shutdown was called)")
	ManagerGone     = newErr("manager_gone", "manager: the manager process is gone (it exited or the connection to it was lost)")
	NoSuchObject    = newErr("no_such_object", "manager: no such object (it was freed, deleted, or never created on this manager)")
	NoSuchMethod    = newErr("no_such_method", "manager: no such method on this type")
	NotExposed      = newErr("not_exposed", "manager: method not exposed (add it to Exposed(...) when registering the type)")
	NotRegistered   = newErr("not_registered", "manager: type or worker not registered (call Register or RegisterWorker in an init function)")
	BadArguments    = newErr("bad_arguments", "manager: bad arguments (wrong number or types of arguments for the method)")
	FrameTooLarge   = newErr("frame_too_large", "manager: frame too large (raise the limit with WithMaxFrameSize on both sides)")
	AuthFailed      = newErr("auth_failed", "manager: authentication failed (the client and server keys differ)")
	Protocol        = newErr("protocol", "manager: protocol error (the peer sent bytes that are not a valid frame)")
	Empty           = newErr("empty", "manager: empty")
	Full            = newErr("full", "manager: queue full")
	ShutDown        = newErr("shut_down", "manager: queue shut down")
	Abandoned       = newErr("abandoned", "manager: lock or semaphore permit acquired, but its previous holder died holding it; the state it protects may be inconsistent")
	BrokenBarrier   = newErr("broken_barrier", "manager: barrier is broken (a party timed out, was cancelled, died, or Abort was called)")
	NotHeld         = newErr("not_held", "manager: release of a lock this caller does not hold")
	OverReleased    = newErr("over_released", "manager: bounded semaphore released more times than acquired")
	IndexOutOfRange = newErr("index_out_of_range", "manager: index out of range")
	NotFound        = newErr("not_found", "manager: value not found")
	WrongType       = newErr("wrong_type", "manager: wrong type (the object, or the stored value, is not of the proxy's type)")
	NilProxy        = newErr("nil_proxy", "manager: nil proxy or session (use what New*, Open*, Start or Connect returned)")
	NotSupported    = newErr("not_supported", "manager: not supported")
	ProcessExited   = newErr("process_exited", "manager: process exited")
	NoAuthKey       = newErr("no_auth_key", "manager: a TCP server needs an explicit key: pass WithAuthKey(key) to NewServer, and the same key to Connect")
	Unreachable     = newErr("unreachable", "manager: the Redis server did not answer (a timeout or a lost connection); a call that writes may or may not have been applied: check its effect, or retry once Redis answers")
)

// Prefix begins every error text the library builds, once.
const Prefix = "manager: "

// Text returns err's text without a leading Prefix: the text to put after
// an operation's name in an error that begins with Prefix itself.
func Text(err error) string {
	return strings.TrimPrefix(err.Error(), Prefix)
}

// TextOf is Text for an error's text that crossed a process boundary.
func TextOf(msg string) string {
	return strings.TrimPrefix(msg, Prefix)
}

// Errorf is fmt.Errorf for errors that wrap the library's errors in the
// middle of their text: every error among args whose text begins with
// Prefix reads without it (so that the result holds Prefix once, at most
// at its start), and still satisfies errors.Is and CodeOf.
func Errorf(format string, args ...any) error {
	copied := false
	for i, a := range args {
		if e, ok := a.(error); ok && strings.HasPrefix(e.Error(), Prefix) {
			if !copied {
				args, copied = slices.Clone(args), true // the caller's slice stays as it was
			}
			args[i] = bare{e}
		}
	}
	return fmt.Errorf(format, args...)
}

// bare is an error that reads without its Prefix.
type bare struct{ err error }

func (b bare) Error() string { return Text(b.err) }
func (b bare) Unwrap() error { return b.err }

// The limits' sentinels (see LIMITS.md).
var (
	TooLarge = newErr("too_large", "manager: request or value too large to decode (raise the limit with WithMaxRequestSize, or send it in smaller parts)")
	Busy     = newErr("busy", "manager: server busy (too many blocked calls on the connection, or no read budget left); retry later")
)

// Context codes carry context.Canceled and context.DeadlineExceeded.
const (
	codeCanceled = "canceled"
	codeDeadline = "deadline_exceeded"
)

// userPrefix begins the wire code of every error registered with
// Register, so that no user's code can collide with a library code, now
// or later.
const userPrefix = "user:"

// users holds the errors registered with Register.
var users struct {
	mu     sync.RWMutex     // guards the fields below
	byCode map[string]error // wire code → error
	list   []userError      // in registration order, for CodeOf
}

type userError struct {
	code string
	err  error
}

// Register makes err travel the wire under the stable name code: an
// error wrapping it that a remote method returns satisfies errors.Is(…,
// err) in the caller's process, provided that process registered it too
// (every process of a program runs the same init functions). It returns
// an error for an empty code, a nil err, or a code or error registered
// already.
func Register(code string, err error) error {
	switch {
	case code == "":
		return errors.New("empty code: give the error a stable name")
	case err == nil:
		return errors.New("nil error")
	}
	users.mu.Lock()
	defer users.mu.Unlock()
	if users.byCode == nil {
		users.byCode = map[string]error{}
	}
	if prev, dup := users.byCode[userPrefix+code]; dup {
		return fmt.Errorf("code %q already registered for error %q: register each error once, from one init function, or pick another code", code, prev)
	}
	for _, u := range users.list {
		if u.err == err {
			return fmt.Errorf("error already registered as %q", strings.TrimPrefix(u.code, userPrefix))
		}
	}
	users.byCode[userPrefix+code] = err
	users.list = append(users.list, userError{userPrefix + code, err})
	return nil
}

// CodeOf returns the wire code of err: the code of the first library
// sentinel or context error in its chain, else of the first error
// registered with Register that it wraps (checked in registration
// order), or "" for any other error.
func CodeOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.code
	}
	switch {
	case errors.Is(err, context.Canceled):
		return codeCanceled
	case errors.Is(err, context.DeadlineExceeded):
		return codeDeadline
	}
	users.mu.RLock()
	defer users.mu.RUnlock()
	for _, u := range users.list {
		if errors.Is(err, u.err) {
			return u.code
		}
	}
	return ""
}

// FromCode returns the error a wire code stands for, or nil if the code
// is empty or unknown (a newer peer may send codes this one lacks).
func FromCode(code string) error {
	switch code {
	case "":
		return nil
	case codeCanceled:
		return context.Canceled
	case codeDeadline:
		return context.DeadlineExceeded
	}
	if e, ok := byCode[code]; ok {
		return e
	}
	users.mu.RLock()
	defer users.mu.RUnlock()
	return users.byCode[code] // nil if unknown
}
