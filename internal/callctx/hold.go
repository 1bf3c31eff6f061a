package callctx

import "context"

// A Holder keeps the references of one shared container: the objects
// whose proxies the container's stored values carry. The server installs
// one in the context of every method and constructor call, bound to the
// object being called (or built), so that a proxy stored in a container
// keeps its object alive as long as the container holds it — as a Python
// container holding a proxy does.
//
// Retain and Release take one msgpack-encoded value and act on every
// proxy in it that names an object of the holder's server; a value
// without proxies costs one scan and no allocation. Both must be safe for
// concurrent use and must not block.
type Holder interface {
	// Retain gives the container a reference to each object raw names.
	Retain(raw []byte)
	// Release drops one of the container's references to each object
	// raw names. A holder may defer it to the end of the call (the
	// server does, until the reply is sent), so that a value a method
	// returns as it drops it cannot be freed before its receiver holds
	// a reference of its own.
	Release(raw []byte)
}

// holderKey is the context key of the Holder. A distinct type, so no
// other package can collide with it.
type holderKey struct{}

// WithHolder returns ctx carrying h.
func WithHolder(ctx context.Context, h Holder) context.Context {
	return context.WithValue(ctx, holderKey{}, h)
}

// IsHolderKey reports whether k is the context key under which the
// Holder is stored. A custom context.Context (the server's per-call
// context) uses it to answer Value without an allocation per call.
func IsHolderKey(k any) bool {
	_, ok := k.(holderKey)
	return ok
}

// holderFrom returns the Holder ctx carries, or nil.
func holderFrom(ctx context.Context) Holder {
	h, _ := ctx.Value(holderKey{}).(Holder)
	return h
}

// Retain records that the container being called now holds raw, one
// msgpack-encoded value: each proxy in raw keeps its object alive until
// the matching Release (or until the container itself is freed). Call it
// whenever a container starts holding a value — stored, appended, queued,
// or given to a constructor — before the value becomes visible to other
// calls, so that a Release can never come first.
//
// Retain does nothing when ctx carries no Holder (a method called
// directly, as in unit tests). It does not block.
func Retain(ctx context.Context, raw []byte) {
	if h := holderFrom(ctx); h != nil {
		h.Retain(raw)
	}
}

// Release records that the container being called no longer holds raw,
// which an earlier Retain gave it: deleted, overwritten, popped or handed
// out. raw must be the bytes that were retained. The server drops the
// references once the call's reply has been sent, so the value may be
// returned by the same call.
//
// Release does nothing when ctx carries no Holder. It does not block.
func Release(ctx context.Context, raw []byte) {
	if h := holderFrom(ctx); h != nil {
		h.Release(raw)
	}
}
