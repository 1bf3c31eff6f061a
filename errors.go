package manager

import (
	"errors"
	"fmt"

	"github.com/goproc/manager/internal/errs"
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
	// ErrAbandoned: the lock or semaphore permit was acquired (the caller
	// now holds it), but its previous holder died while holding it.
	ErrAbandoned = errs.Abandoned
	// ErrBrokenBarrier: the barrier was broken or reset.
	ErrBrokenBarrier = errs.BrokenBarrier
	// ErrNotHeld: release of a lock the caller does not hold.
	ErrNotHeld = errs.NotHeld
	// ErrOverReleased: a BoundedSemaphore released more than acquired.
	ErrOverReleased = errs.OverReleased
	// ErrKeyNotFound: no such key.
	ErrKeyNotFound = errs.KeyNotFound
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
	// ErrNotSupported: the feature is not available on this platform.
	ErrNotSupported = errs.NotSupported
	// ErrProcessExited: a worker process exited unsuccessfully.
	ErrProcessExited = errs.ProcessExited
	// ErrNoAuthKey: a server was asked to serve on TCP without WithAuthKey.
	ErrNoAuthKey = errs.NoAuthKey
)

// RemoteError is an error that a shared object's method returned, or a
// panic in it, carried back to the caller. It is never used for transport
// failures. errors.Is(err, ErrX) holds when the remote error wrapped a
// library sentinel ErrX.
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
	return fmt.Sprintf("manager: %s: %s", e.Method, e.Message)
}

// Is reports whether the remote error wrapped target (a library sentinel
// or a context error) on the remote side.
func (e *RemoteError) Is(target error) bool {
	sentinel := errs.FromCode(e.code)
	return sentinel != nil && errors.Is(sentinel, target)
}

// Unwrap returns the library sentinel or context error the remote error
// wrapped, or nil.
func (e *RemoteError) Unwrap() error { return errs.FromCode(e.code) }
