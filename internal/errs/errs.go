// Package errs defines the library's sentinel errors and the stable codes
// that carry them across the wire, so that errors.Is works on an error a
// remote method returned. The root package re-exports every sentinel.
package errs

import (
	"context"
	"errors"
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
	Closed          = newErr("closed", "manager: closed (Shutdown or Close was called)")
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
	Full            = newErr("full", "manager: full")
	Abandoned       = newErr("abandoned", "manager: lock or semaphore permit acquired, but its previous holder died holding it; the state it protects may be inconsistent")
	BrokenBarrier   = newErr("broken_barrier", "manager: barrier is broken (a party timed out, was cancelled, died, or Abort was called)")
	NotHeld         = newErr("not_held", "manager: release of a lock this caller does not hold")
	OverReleased    = newErr("over_released", "manager: bounded semaphore released more times than acquired")
	KeyNotFound     = newErr("key_not_found", "manager: key not found")
	IndexOutOfRange = newErr("index_out_of_range", "manager: index out of range")
	NotFound        = newErr("not_found", "manager: value not found")
	WrongType       = newErr("wrong_type", "manager: wrong type (the object, or the stored value, is not of the proxy's type)")
	NilProxy        = newErr("nil_proxy", "manager: nil proxy or session (use what New*, Open*, Start or Connect returned)")
	NotSupported    = newErr("not_supported", "manager: not supported on this platform")
	ProcessExited   = newErr("process_exited", "manager: process exited")
	NoAuthKey       = newErr("no_auth_key", "manager: a TCP server needs an explicit key: pass WithAuthKey(key) to NewServer, and the same key to Connect")
)

// Context codes carry context.Canceled and context.DeadlineExceeded.
const (
	codeCanceled = "canceled"
	codeDeadline = "deadline_exceeded"
)

// CodeOf returns the wire code of err: the code of the first library
// sentinel or context error in its chain, or "" for any other error.
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
	return nil
}
