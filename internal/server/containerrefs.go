package server

import (
	"context"
	"sync"

	"github.com/goproc/manager/internal/builtin"
	"github.com/goproc/manager/internal/callctx"
	"github.com/goproc/manager/internal/wire"
)

// This file connects the built-in containers to the object table: the
// callctx.Holder through which a container retains the proxies its
// stored values carry (see objectTable.hold) and releases them, and the
// end of the pins a request to a container takes.

// holdsReferences reports whether t's objects hold references to the
// objects whose proxies they store (callctx.Retain): the built-in
// containers. A request to one needs its pins (serverConn.pin) only until
// it returns: by then the container holds what it stored. Other types
// may keep a proxy they are given without a reference of their own, so
// a request to them keeps its pins for the rest of its session.
func (t *typeInfo) holdsReferences() bool {
	switch t.id {
	case builtin.TypeDict, builtin.TypeList, builtin.TypeNamespace, builtin.TypeValue, builtin.TypeArray, builtin.TypeQueue, builtin.TypeJoinableQueue:
		return true
	}
	return false
}

// callRefs is what a call does to references besides its method's work.
type callRefs struct {
	pins     []uint64 // the objects the request pinned for its session
	endPins  bool     // drop pins after the reply: the callee holds its own
	released []uint64 // references Release dropped, given back after the reply
}

// notePins records the objects the request pinned for its session; pins
// is copied, since the connection reuses it for the next request.
func (c *callContext) notePins(pins []uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.refs == nil {
		c.refs = &callRefs{}
	}
	c.refs.pins = append(c.refs.pins[:0], pins...)
}

// pinsEndWithCall makes the request's pins end with the call when t's
// objects hold their own references (a method of a container, or the
// constructor of one).
func (c *callContext) pinsEndWithCall(t *typeInfo) {
	// c.refs is read unlocked: notePins set it on this goroutine, and
	// the method, which alone might touch it elsewhere, has not started.
	if c.refs == nil || !t.holdsReferences() {
		return // the common case: the request carried no proxy
	}
	c.mu.Lock()
	c.refs.endPins = true
	c.mu.Unlock()
}

// Retain gives the object being called a reference to each of this
// server's objects that raw names; it implements callctx.Holder. Control
// methods (object 0) hold nothing.
func (c *callContext) Retain(raw []byte) {
	if c.object == 0 {
		return
	}
	srv := c.conn.srv
	ps := scanProxies(srv.id, raw)
	if len(ps.ids) > 0 {
		srv.objects.hold(c.object, ps.ids)
	}
	ps.done()
}

// Release notes that the object being called dropped raw; it implements
// callctx.Holder. The references go only once the reply has been sent
// (endRefs): a method that returns what it drops (Pop, Swap, a Queue's
// Get) must not free the object before the reply has given its receiver
// a reference.
func (c *callContext) Release(raw []byte) {
	if c.object == 0 {
		return
	}
	ps := scanProxies(c.conn.srv.id, raw)
	if len(ps.ids) > 0 {
		c.mu.Lock()
		if c.refs == nil {
			c.refs = &callRefs{}
		}
		c.refs.released = append(c.refs.released, ps.ids...)
		c.mu.Unlock()
	}
	ps.done()
}

// endRefs drops the references Release deferred and, for a call to a
// container, the request's pins. The connection calls it after sending
// the call's reply.
func (c *callContext) endRefs() {
	c.mu.Lock()
	refs := c.refs
	c.refs = nil
	c.mu.Unlock()
	if refs == nil {
		return
	}
	objects := c.conn.srv.objects
	if len(refs.released) > 0 {
		objects.unhold(c.object, refs.released)
	}
	if refs.endPins {
		objects.decrefAll(refs.pins, c.conn.session)
	}
}

// ctorContext is the context a constructor runs under: the call's
// context, with a Holder for the object being built (under an id from
// objectTable.reserve), so that a container's initial contents are held
// like anything stored later.
type ctorContext struct {
	context.Context
	srv *Server
	id  uint64
}

// holdingFor returns ctx with a Holder for the reserved object id.
func (s *Server) holdingFor(ctx context.Context, id uint64) context.Context {
	return &ctorContext{Context: ctx, srv: s, id: id}
}

func (c *ctorContext) Value(key any) any {
	if callctx.IsHolderKey(key) {
		return c
	}
	return c.Context.Value(key)
}

// Retain implements callctx.Holder for the object being built.
func (c *ctorContext) Retain(raw []byte) {
	ps := scanProxies(c.srv.id, raw)
	if len(ps.ids) > 0 {
		c.srv.objects.hold(c.id, ps.ids)
	}
	ps.done()
}

// Release implements callctx.Holder for the object being built. Nobody
// can have a proxy to the object yet, so nothing needs deferring.
func (c *ctorContext) Release(raw []byte) {
	ps := scanProxies(c.srv.id, raw)
	if len(ps.ids) > 0 {
		c.srv.objects.unhold(c.id, ps.ids)
	}
	ps.done()
}

// proxyScan collects the ids of the objects of one server that an
// encoded value names. Scanners are pooled, each with its callback made
// once, so that scanning a value without proxies allocates nothing (a
// callback made per scan would escape to the heap).
type proxyScan struct {
	server [16]byte
	ids    []uint64
	note   func(wire.ProxyRef) // p.add
}

var proxyScans = sync.Pool{New: func() any {
	p := new(proxyScan)
	p.note = p.add
	return p
}}

func (p *proxyScan) add(r wire.ProxyRef) {
	if r.Server == p.server {
		p.ids = append(p.ids, r.ID)
	}
}

// scanProxies returns a scanner holding the ids of server's objects raw
// names (one per occurrence); the caller gives it back with done. A
// stored value was checked by wire.Scan when its request was read, so
// it scans without error; a malformed one would give the same ids to
// Retain and to Release, which is all the counts need.
func scanProxies(server [16]byte, raw []byte) *proxyScan {
	p := proxyScans.Get().(*proxyScan)
	p.server, p.ids = server, p.ids[:0]
	_ = wire.Scan(raw, p.note)
	return p
}

// done returns p to the pool; a scanner that grew large is not kept.
func (p *proxyScan) done() {
	if cap(p.ids) > 1024 {
		p.ids = nil
	}
	proxyScans.Put(p)
}
