package server

import (
	"context"
	"fmt"
	"runtime/debug"

	"github.com/goproc/manager/internal/callctx"
	"github.com/goproc/manager/internal/errs"
	"github.com/goproc/manager/internal/wire"
)

// opGiveBack is the control operation "giveback" [object, handle, method,
// code, args, result]: a client's reconciler (reconcile.go) reports that
// the call method(args) on object, made through handle, was answered with
// result (or the failure code) after its caller had given up. The object
// undoes what the call took, if it implements callctx.GiveBacker, and the
// references the reply counted for the session (its proxies) are dropped,
// as the proxies' Close would have. It returns nothing.
func opGiveBack(s *Server, cc *callContext, c *serverConn, a *controlArgs) (*result, error) {
	if a.n != 6 {
		return nil, fmt.Errorf("%w: giveback takes 6 arguments, got %d", errs.BadArguments, a.n)
	}
	dec := a.dec
	object, err1 := dec.DecodeUint64()
	handle, err2 := dec.DecodeUint64()
	method, err3 := dec.DecodeString()
	code, err4 := dec.DecodeString()
	args, err5 := dec.DecodeRaw()
	res, err6 := dec.DecodeRaw()
	for _, err := range []error{err1, err2, err3, err4, err5, err6} {
		if err != nil {
			return nil, fmt.Errorf("%w: giveback: %v", errs.BadArguments, err)
		}
	}
	if object != 0 {
		if o, err := s.objects.get(object); err == nil {
			if g, ok := o.recv.Interface().(callctx.GiveBacker); ok {
				gctx := &callContext{conn: c, caller: callctx.Caller{Session: c.session, Handle: handle}, object: object}
				if !o.typ.concurrent {
					o.mu.Lock()
				}
				s.giveBackSafely(gctx, g, o.typ.id, method, code, args, res)
				if !o.typ.concurrent {
					o.mu.Unlock()
				}
				gctx.endRefs()
			}
		}
	}
	// The request's own pins (the proxies in result) kept their objects
	// alive while the object took them back; they end with this call.
	if cc.refs != nil {
		cc.mu.Lock()
		cc.refs.endPins = true
		cc.mu.Unlock()
	}
	if code == "" {
		wire.Scan(res, func(r wire.ProxyRef) {
			if r.Server == s.id {
				s.objects.decref(r.ID, c.session)
			}
		})
	}
	return nil, nil
}

// giveBackSafely calls g.GiveBack, turning a panic into a log line: a
// custom type may implement it too.
func (s *Server) giveBackSafely(ctx context.Context, g callctx.GiveBacker, typeid, method, code string, args, res []byte) {
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("manager: GiveBack panicked", "type", typeid, "method", method, "panic", p, "stack", string(debug.Stack()))
		}
	}()
	g.GiveBack(ctx, method, code, args, res)
}
