package server

import (
	"context"
	"fmt"
	"reflect"
	"runtime/debug"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/goproc/manager/internal/builtin"
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
		// A LoadResult (the Load fast path's reply) encodes itself,
		// without msgpack's reflection: its type caches are sync.Maps,
		// looked up on every reply.
		if lr, ok := r.plain.(builtin.LoadResult); ok {
			return lr.EncodeMsgpack(enc)
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
	mi.counter.calls.Add(1)
	res, fail := s.invokeMethod(ctx, c, o, mi, req)
	if fail != nil {
		mi.counter.errors.Add(1)
	}
	return res, fail
}

// invokeMethod is invoke's call of the method mi of object o.
func (s *Server) invokeMethod(ctx *callContext, c *serverConn, o *object, mi *methodInfo, req *wire.Request) (*result, *wire.Failure) {
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
		// An interceptor may have set another (see hooks.go).
		if ctx.asContext == nil {
			ctx.asContext = ctx
		}
		in = append(in, reflect.ValueOf(&ctx.asContext).Elem())
	}
	in, err := c.decodeArgs(req.Args, mi.in, in, true)
	if err != nil {
		return nil, failureOf(fmt.Errorf("%w: %v", errs.BadArguments, err), false)
	}
	if !o.typ.concurrent {
		o.mu.Lock()
		defer o.mu.Unlock()
	}
	out, _, err := s.callSafely(&methodCall{fn: mi.fn, in: in}, o.typ.id, "."+mi.name)
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

// A methodCall is one call that callSafely makes: a method by
// reflection (fn with in), a built-in's method without it (raw with ctx,
// recv and args; see rawcall.go), or a constructor (as fn). It lives on
// its caller's stack.
type methodCall struct {
	fn reflect.Value
	in []reflect.Value
	// raw, when set, is called instead of fn.
	raw  rawMethod
	ctx  context.Context
	recv any
	args []msgpack.RawMessage
}

// callSafely makes the call m, turning a panic into an error: fn's
// results come back in out, raw's in v. what+suffix names the function
// for the log; the two are joined only after a panic, so that a call
// allocates no name.
func (s *Server) callSafely(m *methodCall, what, suffix string) (out []reflect.Value, v any, err error) {
	defer func() {
		if p := recover(); p != nil {
			what := what + suffix
			s.log.Error("manager: method panicked", "method", what, "panic", p, "stack", string(debug.Stack()))
			out, v, err = nil, nil, &panicError{msg: fmt.Sprint(p)}
		}
	}()
	if m.raw != nil {
		v, err = m.raw(m.ctx, m.recv, m.args)
		return nil, v, err
	}
	return m.fn.Call(m.in), nil, nil
}

// panicError is a panic in a method, reported to its caller.
type panicError struct{ msg string }

func (e *panicError) Error() string { return "panic: " + e.msg }

var rawMessageType = reflect.TypeFor[msgpack.RawMessage]()

// decodeArgs decodes a msgpack array of arguments of the given types.
// The encoded ones (msgpack.RawMessage) go to the connection's scratch
// space c.rawArgs (the first len(c.rawArgs) of them), where the raw path
// (see rawcall.go) reads them; with reflective set, every argument is
// also appended to in, for a call by reflection, and in is returned.
func (c *serverConn) decodeArgs(args []byte, types []reflect.Type, in []reflect.Value, reflective bool) ([]reflect.Value, error) {
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
			switch {
			case i < len(c.rawArgs):
				c.rawArgs[i] = raw
				if reflective {
					// Addressed in place: boxing the slice would allocate.
					in = append(in, reflect.ValueOf(&c.rawArgs[i]).Elem())
				}
			case reflective:
				in = append(in, reflect.ValueOf(msgpack.RawMessage(raw)))
			}
			continue
		}
		v := reflect.New(t).Elem()
		if err := decodeValue(c.dec, v); err != nil {
			// msgpack's text speaks of its codes: say what was sent.
			return nil, fmt.Errorf("argument %d is %s, which does not decode into %s", i+1, wire.Describe(wire.ArrayElem(args, i)), t)
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

// wrapResult stores a method's result as a new shared object of typeid
// (Returns) and returns a proxy to send in its place.
func (s *Server) wrapResult(v reflect.Value, typeid string) (wire.ProxyRef, error) {
	t, ok := lookupType(typeid)
	if !ok {
		return wire.ProxyRef{}, fmt.Errorf("%w: type %q (Returns names it)", errs.NotRegistered, typeid)
	}
	if v.Type() != t.goType {
		return wire.ProxyRef{}, fmt.Errorf("%w: result is a %s, but %q is registered for %s", errs.WrongType, v.Type(), typeid, t.goType)
	}
	o := s.objects.add(t, v)
	return s.proxyFor(o), nil
}

// proxyFor returns the reference naming o, which a client decodes into
// a proxy (see wire.ProxyRef.EncodeMsgpack).
func (s *Server) proxyFor(o *object) wire.ProxyRef {
	return wire.ProxyRef{Server: s.id, ID: o.id, TypeID: o.typ.id}
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
			return reflect.Value{}, fmt.Errorf("%w: %s: argument %d is %s, which does not decode into %s", errs.BadArguments, t.id, i+1, wire.Describe([]byte{code}), pt)
		}
		in = append(in, v)
	}
	out, _, err := s.callSafely(&methodCall{fn: t.ctor, in: in}, t.id, " constructor")
	if err == nil && t.ctorErr && !out[1].IsNil() {
		err = out[1].Interface().(error)
	}
	if err != nil {
		return reflect.Value{}, errs.Errorf("%s constructor: %w", t.id, err)
	}
	return out[0], nil
}

// argDecodingOf says how an argument of type t is decoded, for admit.
func argDecodingOf(t reflect.Type) wire.ArgDecoding {
	switch {
	case t == rawMessageType:
		return wire.ArgRaw
	case (t.Kind() == reflect.Slice || t.Kind() == reflect.Map) && t.Elem() == rawMessageType:
		return wire.ArgRawElems
	}
	return wire.ArgDecoded
}
