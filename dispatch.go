package manager

import (
	"context"
	"fmt"
	"reflect"
	"runtime/debug"
	"sync"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/goproc/manager/internal/errs"
	"github.com/goproc/manager/internal/wire"
)

// result is what a successful call sends back: a reflect.Value from a
// method, or a plain Go value from a control method.
type result struct {
	value reflect.Value
	plain any
}

func (r *result) encode(enc *msgpack.Encoder) error {
	switch {
	case r == nil:
		return enc.EncodeNil()
	case r.value.IsValid():
		return enc.EncodeValue(r.value)
	default:
		if rr, ok := r.plain.(rawReply); ok {
			return rr.encodeReply(enc)
		}
		return enc.Encode(r.plain)
	}
}

// invoke executes a request: a control method on object 0, or a method of
// a shared object. Errors of the call machinery come back non-remote;
// errors the method returned (or a panic in it) come back remote.
func (s *Server) invoke(ctx *callContext, c *serverConn, req *wire.Request) (*result, *wire.Failure) {
	if req.Object == 0 {
		if err := c.admit("manager", req.Method, req.Args, nil); err != nil {
			return nil, failureOf(err, false)
		}
		res, err := s.control(ctx, c, string(req.Method), req.Args)
		if err != nil {
			return nil, failureOf(err, false)
		}
		return res, nil
	}
	o, err := s.objects.get(req.Object)
	if err != nil {
		return nil, failureOf(err, false)
	}
	ctx.pinsEndWithCall(o.typ)
	mi := o.typ.methods[string(req.Method)]
	if mi == nil {
		err := errs.NoSuchMethod
		if o.typ.all[string(req.Method)] {
			err = errs.NotExposed
		}
		return nil, failureOf(err, false) // the client names the type and method
	}
	if err := c.admit(o.typ.id, req.Method, req.Args, mi.in); err != nil {
		return nil, failureOf(err, false)
	}
	if mi.raw != nil {
		return s.invokeRaw(ctx, c, o, mi, req.Args)
	}
	// Most methods take a receiver, maybe a ctx and two arguments: their
	// argument list stays on the stack.
	var inBuf [4]reflect.Value
	in := inBuf[:1]
	if n := 2 + len(mi.in); n > len(inBuf) {
		in = make([]reflect.Value, 1, n)
	}
	in[0] = o.recv
	if mi.takeCtx {
		// Passed as an addressable context.Context: a *callContext
		// would be converted to the interface, one allocation per call.
		ctx.asContext = ctx
		in = append(in, reflect.ValueOf(&ctx.asContext).Elem())
	}
	in, err = c.decodeArgs(req.Args, mi.in, in)
	if err != nil {
		return nil, failureOf(fmt.Errorf("%w: %v", errs.BadArguments, err), false)
	}
	if !o.typ.concurrent {
		o.mu.Lock()
		defer o.mu.Unlock()
	}
	out, err := s.callSafely(mi.fn, in, o.typ.id, "."+mi.name)
	if err != nil {
		return nil, failureOf(err, true)
	}
	var res *result
	if mi.result {
		res = &result{value: out[0]}
		if mi.returns != "" {
			p, err := s.wrapResult(out[0], mi.returns)
			if err != nil {
				return nil, failureOf(err, false)
			}
			res = &result{plain: p}
		}
	}
	if mi.err {
		if errv := out[len(out)-1]; !errv.IsNil() {
			return nil, failureOf(errv.Interface().(error), true)
		}
	}
	return res, nil
}

// callSafely calls fn, turning a panic into an error. what+suffix names
// the function for the log; the two are joined only after a panic, so
// that a call allocates no name.
func (s *Server) callSafely(fn reflect.Value, in []reflect.Value, what, suffix string) (out []reflect.Value, err error) {
	defer func() {
		if p := recover(); p != nil {
			what := what + suffix
			s.log.Error("manager: method panicked", "method", what, "panic", p, "stack", string(debug.Stack()))
			err = &panicError{msg: fmt.Sprint(p)}
		}
	}()
	return fn.Call(in), nil
}

// panicError is a panic in a method, reported to its caller.
type panicError struct{ msg string }

func (e *panicError) Error() string { return "panic: " + e.msg }

var rawMessageType = reflect.TypeFor[msgpack.RawMessage]()

// decodeArgs decodes a msgpack array of arguments into values of the
// given types, appending them to in.
func (c *serverConn) decodeArgs(args []byte, types []reflect.Type, in []reflect.Value) ([]reflect.Value, error) {
	c.argBuf.Reset(args)
	c.dec.Reset(&c.argBuf)
	n, err := c.dec.DecodeArrayLen()
	if err != nil {
		return nil, err
	}
	if n != len(types) {
		return nil, fmt.Errorf("got %d arguments, want %d", n, len(types))
	}
	for i, t := range types {
		if t == rawMessageType {
			// The built-in types take their keys and values encoded:
			// copy them out of the frame without going through reflection.
			raw, err := c.dec.DecodeRaw()
			if err != nil {
				return nil, fmt.Errorf("argument %d (%s): %v", i+1, t, err)
			}
			if i < len(c.rawArgs) {
				// Addressed in place: boxing the slice would allocate.
				c.rawArgs[i] = raw
				in = append(in, reflect.ValueOf(&c.rawArgs[i]).Elem())
			} else {
				in = append(in, reflect.ValueOf(msgpack.RawMessage(raw)))
			}
			continue
		}
		v := reflect.New(t).Elem()
		if err := decodeValue(c.dec, v); err != nil {
			// msgpack's text speaks of its codes: say what was sent.
			return nil, fmt.Errorf("argument %d is %s, which does not decode into %s", i+1, encodedKind(arrayElem(args, i)), t)
		}
		in = append(in, v)
	}
	return in, nil
}

// decodeValue decodes the next value into v. msgpack/v5 panics on some
// well-formed payloads (a map whose key is a list, decoded into a
// map[any]any: "hash of unhashable type"), and a peer's bytes must never
// crash the server: the panic becomes an error.
func decodeValue(dec *msgpack.Decoder, v reflect.Value) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("undecodable value: %v", p)
		}
	}()
	return dec.DecodeValue(v)
}

// decodeResult is decodeValue for a pointer, keeping msgpack's fast paths
// for common types: a client decodes results another client stored. raw
// is the encoded result dec reads: when ptr holds interfaces or maps,
// whose shape the value, not the reader, decides, decoding it must not
// cost more than limit (WithMaxRequestSize), or a reader of a hostile
// stored value would allocate without bound (an 8 MiB value of empty
// arrays decodes to 328 MiB of []any).
func decodeResult(dec *msgpack.Decoder, ptr any, raw []byte, limit int64) (err error) {
	if int64(len(raw))*wire.MaxCostPerByte > limit && shapedByValue(reflect.TypeOf(ptr)) {
		cost, _, err := wire.Cost(raw)
		if err != nil {
			return fmt.Errorf("%w: %v", errs.Protocol, err)
		}
		if cost > limit {
			return fmt.Errorf("%w: decoding the result would cost %d bytes, over the limit of %d", errs.TooLarge, cost, limit)
		}
	}
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("undecodable value: %v", p)
		}
	}()
	return dec.Decode(ptr)
}

// wrapResult stores a method's result as a new shared object of typeid
// (Returns) and returns a proxy to send in its place.
func (s *Server) wrapResult(v reflect.Value, typeid string) (*Proxy, error) {
	t, ok := lookupType(typeid)
	if !ok {
		return nil, fmt.Errorf("%w: type %q (Returns names it)", errs.NotRegistered, typeid)
	}
	if v.Type() != t.goType {
		return nil, fmt.Errorf("%w: result is a %s, but %q is registered for %s", errs.WrongType, v.Type(), typeid, t.goType)
	}
	o := s.objects.add(t, v)
	return s.proxyFor(o), nil
}

// proxyFor returns an unbound proxy naming o, to send to a client.
func (s *Server) proxyFor(o *object) *Proxy {
	return &Proxy{ref: wire.ProxyRef{Server: s.id, ID: o.id, TypeID: o.typ.id}}
}

// construct builds a new object of type t from encoded ctor arguments.
func (s *Server) construct(ctx context.Context, t *typeInfo, dec *msgpack.Decoder, nargs int) (reflect.Value, error) {
	if nargs != len(t.ctorIn) {
		return reflect.Value{}, fmt.Errorf("%w: %s: got %d arguments, want %d", errs.BadArguments, t.id, nargs, len(t.ctorIn))
	}
	in := make([]reflect.Value, 0, 1+nargs)
	if t.ctorCtx {
		in = append(in, reflect.ValueOf(ctx))
	}
	for i, pt := range t.ctorIn {
		v := reflect.New(pt).Elem()
		code, _ := dec.PeekCode()
		if err := decodeValue(dec, v); err != nil {
			return reflect.Value{}, fmt.Errorf("%w: %s: argument %d is %s, which does not decode into %s", errs.BadArguments, t.id, i+1, encodedKind([]byte{code}), pt)
		}
		in = append(in, v)
	}
	out, err := s.callSafely(t.ctor, in, t.id, " constructor")
	if err == nil && t.ctorErr && !out[1].IsNil() {
		err = out[1].Interface().(error)
	}
	if err != nil {
		return reflect.Value{}, errs.Errorf("%s constructor: %w", t.id, err)
	}
	return out[0], nil
}

// control executes the server's own methods (object 0).
func (s *Server) control(ctx context.Context, c *serverConn, method string, args []byte) (*result, error) {
	c.argBuf.Reset(args)
	dec := c.dec
	dec.Reset(&c.argBuf)
	n, err := dec.DecodeArrayLen()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errs.BadArguments, err)
	}
	str := func() (string, error) {
		if n == 0 {
			return "", fmt.Errorf("%w: %s: missing argument", errs.BadArguments, method)
		}
		n--
		v, err := dec.DecodeString()
		if err != nil {
			return "", fmt.Errorf("%w: %s: %v", errs.BadArguments, method, err)
		}
		return v, nil
	}
	switch method {
	case "ping", "pin":
		// pin: the references were taken when the request was read.
		return nil, nil
	case "count":
		return &result{plain: s.objects.len()}, nil
	case "new", "open":
		var name string
		if method == "open" {
			if name, err = str(); err != nil {
				return nil, err
			}
		}
		typeid, err := str()
		if err != nil {
			return nil, err
		}
		t, ok := lookupType(typeid)
		if !ok {
			return nil, fmt.Errorf("%w: type %q in the manager process (register it in an init function of the program that starts the manager)", errs.NotRegistered, typeid)
		}
		if cc, ok := ctx.(*callContext); ok {
			cc.pinsEndWithCall(t)
		}
		if name != "" {
			if o := s.objects.named(name); o != nil {
				return s.openExisting(o, typeid)
			}
		}
		// The id is reserved first so that what the constructor
		// stores is held by the new object (callctx.Retain).
		id := s.objects.reserve()
		v, err := s.construct(s.holdingFor(ctx, id), t, dec, n)
		if err != nil {
			s.objects.abandon(id)
			return nil, err
		}
		if name == "" {
			return &result{plain: s.proxyFor(s.objects.addReserved(id, t, v))}, nil
		}
		o, existed := s.objects.addNamed(id, t, v, name)
		if existed {
			return s.openExisting(o, typeid)
		}
		return &result{plain: s.proxyFor(o)}, nil
	case "decref":
		if n != 1 {
			return nil, fmt.Errorf("%w: decref takes 1 argument", errs.BadArguments)
		}
		id, err := dec.DecodeUint64()
		if err != nil {
			return nil, fmt.Errorf("%w: decref: %v", errs.BadArguments, err)
		}
		s.objects.decref(id, c.session)
		return nil, nil
	case "giveback": // see giveback.go
		return s.giveBack(ctx, c, dec, n)
	case "delete":
		name, err := str()
		if err != nil {
			return nil, err
		}
		return &result{plain: s.objects.deleteName(name)}, nil
	}
	return nil, fmt.Errorf("%w: server method %q", errs.NoSuchMethod, method)
}

func (s *Server) openExisting(o *object, typeid string) (*result, error) {
	if o.typ.id != typeid {
		return nil, fmt.Errorf("%w: %q is a %s, not a %s", errs.WrongType, o.name, o.typ.id, typeid)
	}
	return &result{plain: s.proxyFor(o)}, nil
}

// shapedCache caches shapedByValue by type.
var shapedCache sync.Map // reflect.Type → bool

// shapedByValue reports whether t holds an interface or a map anywhere,
// so that what decoding into it allocates per encoded byte is up to the
// value: a []any or map[string]any takes any shape a writer chose. Other
// types cost at most a small multiple of the bytes (a []int64 of 1-byte
// integers, 8 bytes each), which the reader chose.
func shapedByValue(t reflect.Type) bool {
	if t == nil {
		return true
	}
	if v, ok := shapedCache.Load(t); ok {
		return v.(bool)
	}
	shaped := shapedWalk(t, map[reflect.Type]bool{})
	shapedCache.Store(t, shaped)
	return shaped
}

func shapedWalk(t reflect.Type, seen map[reflect.Type]bool) bool {
	if seen[t] {
		return false // a recursive type: judged where it started
	}
	seen[t] = true
	switch t.Kind() {
	case reflect.Interface, reflect.Map:
		return true
	case reflect.Pointer, reflect.Slice, reflect.Array:
		return shapedWalk(t.Elem(), seen)
	case reflect.Struct:
		for i := range t.NumField() {
			if shapedWalk(t.Field(i).Type, seen) {
				return true
			}
		}
	}
	return false
}

// argKindOf says how an argument of type t is decoded, for admit.
func argKindOf(t reflect.Type) wire.ArgKind {
	switch {
	case t == rawMessageType:
		return wire.ArgRaw
	case (t.Kind() == reflect.Slice || t.Kind() == reflect.Map) && t.Elem() == rawMessageType:
		return wire.ArgRawElems
	}
	return wire.ArgDecoded
}
