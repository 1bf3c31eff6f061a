package manager

import (
	"context"
	"sync"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/goproc/manager/internal/wire"
)

// An engine is where shared objects live, seen from this process: the one
// contract between the proxies (Proxy, and the typed proxies over it) and
// the machinery behind them. A *Client (a session with a manager) is one
// engine; a *RedisSession (objects kept in Redis) is another. A proxy
// knows nothing of sockets, frames or object tables: it names its object
// (a wire.ProxyRef), and its engine calls the object's methods by name
// with msgpack-encoded arguments and decodes msgpack-encoded results.
//
// What every engine promises (the package doc's "Engines" section says
// it for users):
//   - each method call is atomic: no other call on the same object sees
//     it half done;
//   - a blocking call waits until its ctx ends, and then returns within a
//     few milliseconds; a call withdrawn so changes nothing the caller
//     does not learn of (an item it did not receive stays in its queue, a
//     lock it did not get is not held for it);
//   - errors wrap the library's sentinels (ErrEmpty, ErrAbandoned, …) the
//     same way on every engine, so errors.Is works alike;
//   - what a session held (locks, permits, unacknowledged items, its
//     references) is released when it ends, or when its process dies;
//   - a result carrying proxies gives this session a reference to each
//     object, which the proxy's Close gives back.
type engine interface {
	// serverID names where the objects live (a manager, a Redis
	// namespace); a proxy reference carries it.
	serverID() [16]byte
	// invoke calls method on the object ref through proxy handle with
	// nargs arguments that encodeArg writes, and decodes the result into
	// out (a pointer, or nil to discard it).
	invoke(ctx context.Context, ref wire.ProxyRef, handle uint64, method string, out any, nargs int, encodeArg func(enc *msgpack.Encoder, i int) error) error
	// create makes a new object of typeid (name "") or gets or creates
	// the one named name, passing args to its constructor, and returns a
	// proxy owning a reference to it.
	create(ctx context.Context, name, typeid string, args []any) (*Proxy, error)
	// release gives back the reference a proxy owns. It waits at most
	// until ctx ends; what is not settled then is settled later or when
	// the session ends.
	release(ctx context.Context, ref wire.ProxyRef) error
	// newHandle issues a proxy handle id, unique within the session.
	newHandle() uint64
	// interceptor is the session's interceptors composed (see
	// hooks.go), or nil: invokeEngine calls invoke through it.
	interceptor() CallFunc
	// Err is nil while the session works, then why it ended.
	Err() error
}

// Session is what the constructors of shared objects take: a *Manager, a
// *Client, or a *RedisSession. It is the public face of an engine.
type Session interface {
	engine() engine
}

// decoderOwners maps the decoder of each engine's results to its engine,
// so that the proxy extension decoder can tell which session a proxy
// arrived on (and so that the reference counted for it is this session's).
var decoderOwners sync.Map // *msgpack.Decoder → engine

// engines maps a server id to this process's live engine of it: a proxy
// decoded outside a result (Fork arguments, a user's own msgpack.Unmarshal)
// binds to it.
var engines sync.Map // [16]byte → engine

// registerEngine makes e the engine that proxies of its objects decoded
// outside a result bind to, unless another live engine already is.
func registerEngine(e engine) {
	id := e.serverID()
	for {
		prev, loaded := engines.LoadOrStore(id, e)
		if !loaded || prev.(engine).Err() == nil || engines.CompareAndSwap(id, prev, e) {
			return
		}
	}
}

func unregisterEngine(e engine) { engines.CompareAndDelete(e.serverID(), e) }

// engineFor returns this process's engine of the objects of server, or nil.
func engineFor(server [16]byte) engine {
	e, _ := engines.Load(server)
	eng, _ := e.(engine)
	return eng
}
