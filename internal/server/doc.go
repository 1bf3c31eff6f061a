// Package server is the manager's engine: it hosts shared objects and
// serves calls on them. The root package's Server is a thin face over it.
//
// The route of a request through it:
//
//   - server.go: the listener, the handshake of each connection, the
//     sessions (one process's connections) and Shutdown.
//   - conn.go: one connection's read loop, the admission of a request
//     against the limits, the references its proxies pin, and the reply.
//   - dispatch.go: invoke, a request to a method of a shared object,
//     called by reflection; rawcall.go: the same without reflection for
//     the hottest methods of the built-in types (the fast path).
//   - control.go: the server's own operations on object 0 (new, open,
//     decref, delete, count, ping, pin), one function each; giveback.go:
//     the operation that takes back what a withdrawn call did.
//   - callcontext.go: the context.Context a method runs under, which
//     hands reading to a new goroutine only when the method blocks.
//   - objects.go: the object table and its reference counts per session
//     and per container; containerrefs.go: how a built-in container holds
//     the objects whose proxies it stores.
//   - registry.go: the type registry (typeid → Go type and its methods,
//     built once with reflection); builtins.go: the built-in types'
//     registration.
//
// A proxy leaves the server as a wire.ProxyRef, which encodes as the
// proxy extension that the client decodes into the root package's Proxy.
package server
