package manager

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync/atomic"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/goproc/manager/internal/errs"
	"github.com/goproc/manager/internal/wire"
)

// closeTimeout bounds how long Proxy.Close waits for the manager. It only
// bounds the wait: a decref not answered by then is still settled in the
// background (the client's reconciler awaits its reply), and whatever a
// session still holds is released when it ends, so waiting longer gains
// nothing. It is long enough that on a loaded machine Close still returns
// after the object is freed, so that a count right after it is exact.
const closeTimeout = 500 * time.Millisecond

// A Proxy stands for a shared object in a manager: its type, its id
// and the client session it is used through. Every method call on it is
// one request to the manager. The typed proxies (Dict, Queue, …) wrap one.
//
// A Proxy can be passed to Fork, to Call and to methods of other shared
// objects, and stored inside them: it travels as a msgpack extension and
// arrives usable in the other process. The object stays alive while a
// proxy to it is open in any process (see Close), while it is stored in
// a live built-in container (a Dict, List, Queue, …), or while it has a
// name; see "Sessions, ownership and lifetime" in the package doc.
//
// A Proxy is safe for concurrent use.
type Proxy struct {
	eng    engine // nil: decoded where this process has no session with its objects
	ref    wire.ProxyRef
	handle uint64
	closed atomic.Bool
	// ownsRef is true when the server counted a reference for this proxy
	// (it arrived in a reply to this session), which Close gives back. A
	// proxy decoded elsewhere (Fork arguments) is kept alive by the
	// sender's pin instead, and its Close must not drop a reference that
	// belongs to another proxy of the same session.
	ownsRef bool
}

// TypeID returns the typeid the object was registered under.
func (p *Proxy) TypeID() string { return p.ref.TypeID }

// ID returns the object's id in its manager.
func (p *Proxy) ID() uint64 { return p.ref.ID }

// Client returns the manager session the proxy makes its calls through,
// or nil for a proxy decoded in a process with no session to its manager
// or a proxy of another engine (a RedisSession).
func (p *Proxy) Client() *Client {
	c, _ := p.eng.(*Client)
	return c
}

// String describes the proxy, for logs.
func (p *Proxy) String() string { return fmt.Sprintf("%s#%d", p.ref.TypeID, p.ref.ID) }

// Close gives back this proxy's reference to the object; the object is
// freed once no process holds one (named objects live until deleted).
// Calls through the proxy fail afterwards. Close blocks for one round
// trip, and at most half a second even when the manager does not answer
// (it is stopped, or overloaded): the reference is then given back when
// the manager answers, or when the session ends. It may be called more
// than once.
func (p *Proxy) Close() error {
	if p == nil || p.eng == nil || p.closed.Swap(true) || !p.ownsRef {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
	defer cancel()
	err := p.eng.release(ctx, p.ref)
	if p.eng.Err() != nil {
		return nil // the session is over: the server released everything
	}
	if errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil {
		return nil // sent, and settled in the background (see closeTimeout)
	}
	return err
}

// invoke calls method with args and decodes its result into out (a
// pointer, or nil).
func (p *Proxy) invoke(ctx context.Context, method string, out any, args ...any) error {
	if err := p.usable(method); err != nil {
		return err
	}
	return p.invokeArgs(ctx, method, out, len(args), func(enc *msgpack.Encoder, i int) error {
		return enc.Encode(args[i])
	})
}

// invokeArgs is invoke with nargs arguments that encodeArg writes (see
// Client.callArgs).
func (p *Proxy) invokeArgs(ctx context.Context, method string, out any, nargs int, encodeArg func(enc *msgpack.Encoder, i int) error) error {
	if err := p.usable(method); err != nil {
		return err
	}
	return invokeEngine(ctx, p.eng, p.ref, p.handle, method, out, nargs, encodeArg) // see hooks.go
}

// usable says why calls through p cannot be made, or returns nil.
func (p *Proxy) usable(method string) error {
	if p == nil {
		return fmt.Errorf("manager: %s: %w", method, ErrNilProxy)
	}
	if p.eng == nil {
		return &opError{p.ref.TypeID + "." + method, fmt.Errorf("proxy %s belongs to a manager this process is not connected to (Connect to it first)", p)}
	}
	if p.closed.Load() {
		return &opError{p.ref.TypeID + "." + method, ErrClosed}
	}
	return nil
}

// Call calls the exported method named method of p's object with args and
// returns its result, decoded as R. Use any for R to decode into generic
// Go values, or struct{} to ignore the result. A method that returned an
// error gives a *RemoteError.
//
// Call blocks until the method returns or ctx ends; a method that waits
// (on its own ctx) is then withdrawn on the server.
func Call[R any](ctx context.Context, p *Proxy, method string, args ...any) (R, error) {
	var r R
	if err := checkArgsDepth(method, args); err != nil {
		return r, err
	}
	err := p.invoke(ctx, method, &r, args...)
	return r, err
}

// New creates a new shared object of the type registered as typeid,
// passing args to its constructor, and returns a proxy to it. The object
// is freed once every proxy to it is closed.
func New(ctx context.Context, s Session, typeid string, args ...any) (*Proxy, error) {
	e, err := sessionEngine(s, "New")
	if err != nil {
		return nil, err
	}
	if err := checkArgsDepth("New", args); err != nil {
		return nil, err
	}
	return e.create(ctx, "", typeid, args)
}

// Open returns a proxy to the object named name, creating it (as New
// would, with args) if there is none. Unrelated processes find the same
// object by name. A named object lives until Client.Delete or the
// manager's shutdown. An existing object of another type gives
// ErrWrongType.
func Open(ctx context.Context, s Session, name, typeid string, args ...any) (*Proxy, error) {
	if name == "" {
		return nil, fmt.Errorf("manager: Open: empty name")
	}
	e, err := sessionEngine(s, "Open")
	if err != nil {
		return nil, err
	}
	if err := checkArgsDepth("Open", args); err != nil {
		return nil, err
	}
	return e.create(ctx, name, typeid, args)
}

// Proxies travel as a msgpack extension. Decoding binds a proxy to the
// client whose connection received it (so its reference belongs to the
// right session); a proxy decoded elsewhere (Fork arguments, a user's own
// msgpack.Unmarshal) binds to this process's client of the same manager.
func init() {
	msgpack.RegisterExtEncoder(wire.ProxyExtID, (*Proxy)(nil), func(_ *msgpack.Encoder, v reflect.Value) ([]byte, error) {
		p := v.Interface().(*Proxy)
		if p == nil {
			return nil, fmt.Errorf("manager: cannot encode a nil *Proxy")
		}
		return wire.AppendProxy(nil, p.ref), nil
	})
	msgpack.RegisterExtDecoder(wire.ProxyExtID, (*Proxy)(nil), func(d *msgpack.Decoder, v reflect.Value, n int) error {
		if n > 1024 {
			return fmt.Errorf("%w: proxy of %d bytes", errs.Protocol, n)
		}
		buf := make([]byte, n)
		if err := d.ReadFull(buf); err != nil {
			return err
		}
		ref, err := wire.ParseProxy(buf)
		if err != nil {
			return fmt.Errorf("%w: %v", errs.Protocol, err)
		}
		o, _ := decoderOwners.Load(d)
		owner, _ := o.(engine)
		inReply := owner != nil && owner.serverID() == ref.Server
		if !inReply {
			owner = engineFor(ref.Server)
		}
		p := v.Interface().(*Proxy)
		p.eng, p.ref, p.handle, p.ownsRef = owner, ref, 0, inReply
		if owner != nil {
			p.handle = owner.newHandle()
		}
		return nil
	})
}
