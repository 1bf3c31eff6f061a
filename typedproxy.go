package manager

import (
	"bytes"
	"context"
	"encoding"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/goproc/manager/internal/builtin"
	"github.com/goproc/manager/internal/errs"
	"github.com/goproc/manager/internal/wire"
)

// This file is the plumbing every typed proxy (Dict, Queue, Lock, …)
// shares: the proxyCore that wraps a *Proxy (Close, Proxy, msgpack encoding,
// the typeid check on decoding), construction, and the encoding of user
// values as call arguments.

// A builtinType names the typeid a typed proxy stands for. Each typed
// proxy embeds a proxyCore parameterised by its own zero-size
// builtinType, so that a decoded proxy knows which typeid to insist on.
// (In this module a "handle" is only a proxy's handle id, which a call
// carries, and a "kind" only the kind of a value.)
type builtinType interface {
	typeID() string
}

// subtypes lists, for a typeid, the other typeids whose objects a proxy of
// it may also refer to: the server-side type has every method of the
// other (a JoinableQueue is a Queue, a BoundedSemaphore a Semaphore).
var subtypes = map[string][]string{
	builtin.TypeQueue:     {builtin.TypeJoinableQueue},
	builtin.TypeSemaphore: {builtin.TypeBoundedSemaphore},
}

// proxyCore is the part of a typed proxy that wraps its *Proxy. The methods
// below are promoted to every typed proxy.
type proxyCore[K builtinType] struct {
	p *Proxy
}

// A typed proxy's methods reach its proxyCore through core(), which each typed
// proxy defines so that it is nil for a nil pointer: every method of
// proxyCore accepts a nil receiver, and a nil *Proxy makes every call fail
// with ErrNilProxy. So a method called on a nil *Dict (or a zero Dict)
// returns an error instead of panicking.

// proxy returns the untyped proxy underneath, or nil.
func (h *proxyCore[K]) proxy() *Proxy {
	if h == nil {
		return nil
	}
	return h.p
}

// close is the Close of every typed proxy.
func (h *proxyCore[K]) close() error {
	p := h.proxy()
	if p == nil {
		var k K
		return fmt.Errorf("manager: %s.Close: %w", k.typeID(), ErrNilProxy)
	}
	return p.Close()
}

// EncodeMsgpack encodes the proxy as a proxy reference (a msgpack
// extension), so that it can be passed to Fork or stored in another
// shared object; it implements msgpack.CustomEncoder.
func (h *proxyCore[K]) EncodeMsgpack(enc *msgpack.Encoder) error {
	p := h.proxy()
	if p == nil {
		var k K
		return errs.Errorf("cannot encode a %s proxy that was never created (use New%s or Open%s): %w", k.typeID(), k.typeID(), k.typeID(), ErrNilProxy)
	}
	return enc.Encode(p)
}

// DecodeMsgpack decodes a proxy reference encoded by EncodeMsgpack, bound
// to this process's session with the same manager. A reference to an
// object of another type gives an error satisfying
// errors.Is(err, ErrWrongType). It implements msgpack.CustomDecoder.
func (h *proxyCore[K]) DecodeMsgpack(dec *msgpack.Decoder) error {
	var k K
	return h.decodeAs(dec, k.typeID())
}

// decodeAs decodes a proxy reference and checks that its object is a
// typeid (or one of its subtypes). A proxy of the wrong type that arrived
// in a call's result is closed, giving back the reference the manager
// took for it; one decoded elsewhere (Fork arguments, msgpack.Unmarshal)
// holds no reference of its own, so closing it would drop someone else's.
func (h *proxyCore[K]) decodeAs(dec *msgpack.Decoder, typeid string) error {
	var p *Proxy
	if err := dec.Decode(&p); err != nil {
		return err
	}
	if p == nil {
		h.p = nil
		return nil
	}
	if got := p.TypeID(); got != typeid && !slices.Contains(subtypes[typeid], got) {
		if _, fromReply := decoderOwners.Load(dec); fromReply {
			p.Close()
		}
		return fmt.Errorf("%w: the proxy refers to a %s object (#%d), not a %s", ErrWrongType, got, p.ID(), typeid)
	}
	h.p = p
	return nil
}

// isTypedProxy marks the typed proxies, for needsCanonical.
func (h *proxyCore[K]) isTypedProxy() {}

// tryAcquire calls a lock's or semaphore's TryAcquire. Only a lock or
// permit actually taken is ever reported abandoned, and the manager's
// reply then carries the error rather than the result: so ErrAbandoned
// means the caller holds it.
func (h *proxyCore[K]) tryAcquire(ctx context.Context) (bool, error) {
	var ok bool
	err := h.call(ctx, "TryAcquire", &ok)
	if errors.Is(err, ErrAbandoned) {
		ok = true
	}
	return ok, err
}

// call invokes method on the object, decoding its result into out (a
// pointer, or nil).
func (h *proxyCore[K]) call(ctx context.Context, method string, out any, args ...any) error {
	return h.proxy().invoke(ctx, method, out, args...)
}

// sessionEngine returns the engine of s, or an error satisfying
// errors.Is(err, ErrNilProxy) when s is nil (a nil interface, or a nil
// *Manager, *Client or *RedisSession in it).
func sessionEngine(s Session, op string) (engine, error) {
	var e engine
	if s != nil {
		e = s.engine()
	}
	if e == nil {
		return nil, fmt.Errorf("manager: %s: %w", op, ErrNilProxy)
	}
	return e, nil
}

// sessionClient returns the manager session of s, for what only a
// manager does (Pool, a Condition on an existing lock's manager): an
// error satisfying errors.Is(err, ErrNilProxy) when s is nil, or
// errors.Is(err, ErrNotSupported) for another engine.
func sessionClient(s Session, op string) (*Client, error) {
	e, err := sessionEngine(s, op)
	if err != nil {
		return nil, err
	}
	c, ok := e.(*Client)
	if !ok {
		return nil, fmt.Errorf("manager: %s: %w: it needs a manager (Start or Connect), not %T", op, ErrNotSupported, s)
	}
	return c, nil
}

// newObject creates a shared object of typeid (New), or gets or creates
// the one named name (Open) when name is given, and returns its proxyCore.
func newObject[K builtinType](ctx context.Context, s Session, name string, open bool, args ...any) (proxyCore[K], error) {
	var k K
	var p *Proxy
	var err error
	if open {
		p, err = Open(ctx, s, name, k.typeID(), args...)
	} else {
		p, err = New(ctx, s, k.typeID(), args...)
	}
	return proxyCore[K]{p: p}, err
}

// encodeValue returns a user value ready to be passed as a call argument,
// or an error satisfying errors.Is(err, ErrBadArguments) for a value
// nested too deep to send (a cyclic one: see checkDepth).
//
// The server compares values by their encoded bytes (map keys, Contains,
// CompareAndSwap…), so equal values must encode to equal bytes. msgpack
// encodes a Go map in its random iteration order; a value whose type may
// hold a map is therefore encoded here, with the entries of every map
// sorted by their encoded keys. Any other value is passed as is and
// encoded by the connection, with no extra copy.
func encodeValue[T any](v T) (any, error) {
	if err := checkDepth(v); err != nil {
		return nil, err
	}
	if !needsCanonical(reflect.TypeFor[T]()) {
		return v, nil
	}
	return canonicalEncoding(v)
}

// encodeValues is encodeValue for each element of vs.
func encodeValues[T any](vs []T) ([]any, error) {
	out := make([]any, len(vs))
	for i, v := range vs {
		var err error
		if out[i], err = encodeValue(v); err != nil {
			return nil, err
		}
	}
	return out, nil
}

var encodeBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// canonicalEncoding encodes v with every map's entries sorted by their
// encoded key bytes.
func canonicalEncoding(v any) (msgpack.RawMessage, error) {
	buf := encodeBuffers.Get().(*bytes.Buffer)
	defer encodeBuffers.Put(buf)
	buf.Reset()
	enc := msgpack.GetEncoder()
	defer msgpack.PutEncoder(enc)
	enc.Reset(buf)
	if err := enc.Encode(v); err != nil {
		return nil, errorf("manager: encode %T: %w", v, err)
	}
	out, rest, err := wire.AppendCanonical(make([]byte, 0, buf.Len()), buf.Bytes())
	if err == nil && len(rest) != 0 {
		err = errors.New("trailing bytes")
	}
	if err != nil {
		return nil, errorf("manager: canonical encoding of %T: %w", v, err)
	}
	return out, nil
}

var (
	canonicalTypes   sync.Map // reflect.Type → bool: the cache of needsCanonical
	customEncoder    = reflect.TypeFor[msgpack.CustomEncoder]()
	msgpackMarshaler = reflect.TypeFor[msgpack.Marshaler]()
	binaryMarshaler  = reflect.TypeFor[encoding.BinaryMarshaler]()
	textMarshaler    = reflect.TypeFor[encoding.TextMarshaler]()
	proxyType        = reflect.TypeFor[*Proxy]()
)

// needsCanonical reports whether values of type t may encode a map (and
// so need canonicalEncoding). Interfaces and types that encode themselves
// may; proxies never do.
func needsCanonical(t reflect.Type) bool {
	if t == nil {
		return true // an interface type parameter holding nothing
	}
	if v, ok := canonicalTypes.Load(t); ok {
		return v.(bool)
	}
	v := mayHoldMap(t, map[reflect.Type]bool{})
	canonicalTypes.Store(t, v)
	return v
}

func mayHoldMap(t reflect.Type, seen map[reflect.Type]bool) bool {
	if seen[t] {
		return false // a recursive type: the first visit decides
	}
	seen[t] = true
	if t == proxyType {
		return false
	}
	if _, ok := reflect.New(t).Elem().Interface().(interface{ isTypedProxy() }); ok {
		return false
	}
	if t.Kind() == reflect.Pointer {
		if _, ok := reflect.New(t.Elem()).Interface().(interface{ isTypedProxy() }); ok {
			return false
		}
	}
	for _, i := range []reflect.Type{customEncoder, msgpackMarshaler, binaryMarshaler, textMarshaler} {
		if t.Implements(i) || reflect.PointerTo(t).Implements(i) {
			return true // it encodes itself: it could be anything
		}
	}
	switch t.Kind() {
	case reflect.Map, reflect.Interface:
		return true
	case reflect.Pointer, reflect.Slice, reflect.Array:
		return mayHoldMap(t.Elem(), seen)
	case reflect.Struct:
		for i := 0; i < t.NumField(); i++ {
			if mayHoldMap(t.Field(i).Type, seen) {
				return true
			}
		}
	}
	return false
}

// decodeInto decodes a value in a call result into ptr with the
// connection's own decoder (so proxies in it bind to the right session).
// A nil value leaves *ptr unchanged: msgpack sets a nil *decodeInto field
// to nil without calling DecodeMsgpack.
type decodeInto struct{ ptr any }

func (d *decodeInto) DecodeMsgpack(dec *msgpack.Decoder) error { return dec.Decode(d.ptr) }
