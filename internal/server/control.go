package server

import (
	"fmt"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/goproc/manager/internal/errs"
)

// The control operations are the server's own methods, called on object
// 0: one function each, found by name in controlOps.

// controlArgs are a control operation's arguments: dec reads them, and
// n of them are left.
type controlArgs struct {
	op  string
	dec *msgpack.Decoder
	n   int
}

// str decodes the next argument as a string.
func (a *controlArgs) str() (string, error) {
	if a.n == 0 {
		return "", fmt.Errorf("%w: %s: missing argument", errs.BadArguments, a.op)
	}
	a.n--
	v, err := a.dec.DecodeString()
	if err != nil {
		return "", fmt.Errorf("%w: %s: %v", errs.BadArguments, a.op, err)
	}
	return v, nil
}

// A controlOp executes one control operation for the call cc on the
// connection c.
type controlOp func(s *Server, cc *callContext, c *serverConn, a *controlArgs) (*result, error)

// controlOps are the control operations by name. The client's calls are
// in client.go, proxy.go and reconcile.go of the root package.
var controlOps = map[string]controlOp{
	"ping":     opPing,
	"pin":      opPing, // the references were taken when the request was read
	"count":    opCount,
	"new":      opNew,
	"open":     opOpen,
	"decref":   opDecref,
	"giveback": opGiveBack, // see giveback.go
	"delete":   opDelete,
	"hello":    opHello, // see stats.go
	"stats":    opStats,
	"objects":  opObjects,
	"inspect":  opInspect,
	// and the monitor's, added by monitor.go
}

// control executes the control operation op with the encoded arguments
// args.
func (s *Server) control(cc *callContext, c *serverConn, op string, args []byte) (*result, error) {
	fn := controlOps[op]
	if fn == nil {
		return nil, fmt.Errorf("%w: server method %q", errs.NoSuchMethod, op)
	}
	k := controlCounters[op]
	k.calls.Add(1)
	c.argBuf.Reset(args)
	c.dec.Reset(&c.argBuf)
	n, err := c.dec.DecodeArrayLen()
	if err == nil {
		var res *result
		if res, err = fn(s, cc, c, &controlArgs{op: op, dec: c.dec, n: n}); err == nil {
			return res, nil
		}
	} else {
		err = fmt.Errorf("%w: %v", errs.BadArguments, err)
	}
	k.errors.Add(1)
	return nil, err
}

// opPing ["ping"] answers nothing: a liveness check, and "pin", whose
// work (taking references to the proxies the request carries) is done
// when the request is read.
func opPing(*Server, *callContext, *serverConn, *controlArgs) (*result, error) { return nil, nil }

// opCount ["count"] returns the number of live objects.
func opCount(s *Server, _ *callContext, _ *serverConn, _ *controlArgs) (*result, error) {
	return &result{plain: s.objects.len()}, nil
}

// opNew ["new", typeid, ctor args...] builds a new object and returns a
// proxy to it.
func opNew(s *Server, cc *callContext, _ *serverConn, a *controlArgs) (*result, error) {
	return s.create(cc, a, "")
}

// opOpen ["open", name, typeid, ctor args...] returns a proxy to the
// object named name, building it first when there is none.
func opOpen(s *Server, cc *callContext, _ *serverConn, a *controlArgs) (*result, error) {
	name, err := a.str()
	if err != nil {
		return nil, err
	}
	return s.create(cc, a, name)
}

// create is new and open: the typeid and the constructor's arguments are
// still to read from a; an empty name makes an unnamed object.
func (s *Server) create(cc *callContext, a *controlArgs, name string) (*result, error) {
	typeid, err := a.str()
	if err != nil {
		return nil, err
	}
	t, ok := lookupType(typeid)
	if !ok {
		return nil, fmt.Errorf("%w: type %q in the manager process (register it in an init function of the program that starts the manager)", errs.NotRegistered, typeid)
	}
	cc.pinsEndWithCall(t)
	if name != "" {
		if o := s.objects.named(name); o != nil {
			return s.openExisting(o, typeid)
		}
	}
	// The id is reserved first so that what the constructor stores is
	// held by the new object (callctx.Retain).
	id := s.objects.reserve()
	v, err := s.construct(s.holdingFor(cc, id), t, a.dec, a.n)
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
}

// openExisting returns a proxy to the named object o, which must be of
// type typeid.
func (s *Server) openExisting(o *object, typeid string) (*result, error) {
	if o.typ.id != typeid {
		return nil, fmt.Errorf("%w: %q is a %s, not a %s", errs.WrongType, o.name, o.typ.id, typeid)
	}
	return &result{plain: s.proxyFor(o)}, nil
}

// opDecref ["decref", id] gives back one of the session's references to
// object id (a proxy's Close).
func opDecref(s *Server, _ *callContext, c *serverConn, a *controlArgs) (*result, error) {
	if a.n != 1 {
		return nil, fmt.Errorf("%w: decref takes 1 argument", errs.BadArguments)
	}
	id, err := a.dec.DecodeUint64()
	if err != nil {
		return nil, fmt.Errorf("%w: decref: %v", errs.BadArguments, err)
	}
	s.objects.decref(id, c.session)
	return nil, nil
}

// opDelete ["delete", name] removes a name and reports whether it
// existed.
func opDelete(s *Server, _ *callContext, _ *serverConn, a *controlArgs) (*result, error) {
	name, err := a.str()
	if err != nil {
		return nil, err
	}
	return &result{plain: s.objects.deleteName(name)}, nil
}
