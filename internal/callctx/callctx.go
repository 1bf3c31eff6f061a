// Package callctx carries the identity of the caller of a shared object's
// method in the method's context, names the hook by which an object
// learns that a caller's session has ended, and carries the Holder
// through which a container keeps alive the objects whose proxies it
// stores (Retain, Release).
//
// It is internal so that the built-in types and the server agree on one
// key; the root package re-exports what users need.
package callctx

import (
	"context"
	"encoding/hex"
)

// SessionID identifies one client session: one process's client, across
// all of its connections. It is chosen at random by the client.
type SessionID [16]byte

// String returns the session id in hex, for logs and errors.
func (s SessionID) String() string { return hex.EncodeToString(s[:]) }

// Caller says who is calling a method.
type Caller struct {
	// Session is the calling process's client session.
	Session SessionID
	// Handle identifies the proxy handle the call came through; distinct
	// proxies (even of one object, in one process) have distinct handles.
	// An RLock uses it as its owner.
	Handle uint64
}

type key struct{}

// With returns ctx carrying c.
func With(ctx context.Context, c Caller) context.Context {
	return context.WithValue(ctx, key{}, c)
}

// From returns the caller carried by ctx, and false if there is none
// (a method called directly, not through the server).
func From(ctx context.Context) (Caller, bool) {
	c, ok := ctx.Value(key{}).(Caller)
	return c, ok
}

// SessionReleaser is implemented by shared objects that hold something on
// behalf of sessions (a lock holder, semaphore permits, an item taken but
// not acknowledged). The server calls ReleaseSession once for every live
// object when a session ends, so nothing stays held by a dead process.
// ReleaseSession must not block for long.
type SessionReleaser interface {
	ReleaseSession(s SessionID)
}

// A GiveBacker undoes what a call took when its caller gave up before the
// reply reached it (the client's reconciler saw the reply arrive late):
// a Queue puts the item back at the front, a Lock or Semaphore releases
// what was acquired. method is the call's method, code the wire code of
// its failure ("" for success; an Acquire that succeeded with
// errs.Abandoned has that code), args its msgpack array of arguments and
// result its msgpack result (nil on failure). Both alias a buffer that is
// reused once GiveBack returns. ctx carries the caller (the same session
// and handle as the call) and the object's Holder. GiveBack must ignore
// methods that take nothing, and must not block.
type GiveBacker interface {
	GiveBack(ctx context.Context, method, code string, args, result []byte)
}

// IsCallerKey reports whether k is the context key under which the
// caller is stored. A custom context.Context (the server's per-call
// context) uses it to answer Value without an allocation per call.
func IsCallerKey(k any) bool {
	_, ok := k.(key)
	return ok
}
