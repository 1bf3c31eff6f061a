package server

import (
	"context"
	"fmt"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/goproc/manager/internal/builtin"
	"github.com/goproc/manager/internal/errs"
	"github.com/goproc/manager/internal/wire"
)

// A built-in type's hottest methods are called without reflection:
// reflect.Value.Call (its frame layout, its result slice, a heap copy of
// the result) was a third of the server's CPU for a Dict.Load. Such a
// method takes only encoded arguments (msgpack.RawMessage), so a plain
// function can call it; invoke uses one when the method has it and takes
// the reflective path otherwise, custom types included. Everything else
// (argument checks, errors, panics, the reply) is what the reflective
// path does.

// A rawMethod calls one method of recv (a built-in type) with its encoded
// arguments, after an optional ctx (nil when the method takes none). args
// is the connection's scratch space, which the next request overwrites:
// a rawMethod reads its elements when it calls the method and keeps no
// reference to the slice.
type rawMethod func(ctx context.Context, recv any, args []msgpack.RawMessage) (result any, err error)

// dictRawMethods are the Dict's methods on the rawMethod path: those of
// W1 (Load and Store) and their kin.
var dictRawMethods = map[string]rawMethod{
	"Load": func(_ context.Context, recv any, a []msgpack.RawMessage) (any, error) {
		return recv.(*builtin.Dict).Load(a[0]), nil
	},
	"Store": func(ctx context.Context, recv any, a []msgpack.RawMessage) (any, error) {
		recv.(*builtin.Dict).Store(ctx, a[0], a[1])
		return nil, nil
	},
	"Has": func(_ context.Context, recv any, a []msgpack.RawMessage) (any, error) {
		return recv.(*builtin.Dict).Has(a[0]), nil
	},
	"Delete": func(ctx context.Context, recv any, a []msgpack.RawMessage) (any, error) {
		return recv.(*builtin.Dict).Delete(ctx, a[0]), nil
	},
	"LoadOrStore": func(ctx context.Context, recv any, a []msgpack.RawMessage) (any, error) {
		return recv.(*builtin.Dict).LoadOrStore(ctx, a[0], a[1]), nil
	},
	"LoadAndDelete": func(ctx context.Context, recv any, a []msgpack.RawMessage) (any, error) {
		return recv.(*builtin.Dict).LoadAndDelete(ctx, a[0]), nil
	},
	"Swap": func(ctx context.Context, recv any, a []msgpack.RawMessage) (any, error) {
		return recv.(*builtin.Dict).Swap(ctx, a[0], a[1]), nil
	},
}

// setRawMethods attaches rawMethods to methods of the registered type
// typeid. It panics (on the first lookup of a type, see
// registerBuiltins, so any test run catches it) when a method is missing
// or does not take only encoded arguments.
func setRawMethods(typeid string, fns map[string]rawMethod) {
	t, ok := registeredType(typeid)
	if !ok {
		panic(fmt.Sprintf("manager: setRawMethods: type %q is not registered", typeid))
	}
	for name, fn := range fns {
		mi := t.methods[name]
		if mi == nil || mi.returns != "" || len(mi.in) > len(serverConn{}.rawArgs) {
			panic(fmt.Sprintf("manager: setRawMethods: %s.%s cannot take the raw path", typeid, name))
		}
		for _, in := range mi.in {
			if in != rawMessageType {
				panic(fmt.Sprintf("manager: setRawMethods: %s.%s takes a %s", typeid, name, in))
			}
		}
		mi.raw = fn
	}
}

// invokeRaw is invoke's second half for a method with a rawMethod.
func (s *Server) invokeRaw(ctx *callContext, c *serverConn, o *object, mi *methodInfo, args []byte) (*result, *wire.Failure) {
	if _, err := c.decodeArgs(args, mi.in, nil, false); err != nil {
		return nil, failureOf(fmt.Errorf("%w: %v", errs.BadArguments, err), false)
	}
	m := methodCall{raw: mi.raw, recv: o.val, args: c.rawArgs[:len(mi.in)]}
	if mi.takeCtx {
		m.ctx = ctx.methodContext()
	}
	if !o.typ.concurrent {
		o.mu.Lock()
		defer o.mu.Unlock()
	}
	_, v, err := s.callSafely(&m, o.typ.id, "."+mi.name)
	if err != nil {
		return nil, failureOf(err, true) // the method's error, or its panic
	}
	if !mi.result {
		return nil, nil
	}
	return &result{plain: v}, nil
}
