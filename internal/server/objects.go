package server

import (
	"fmt"
	"reflect"
	"sync"

	"github.com/goproc/manager/internal/callctx"
	"github.com/goproc/manager/internal/errs"
)

// object is one shared object in a server's table.
type object struct {
	id   uint64
	typ  *typeInfo
	recv reflect.Value // the value methods are called on
	val  any           // recv.Interface(), for optional interfaces

	// mu serialises method calls unless typ.concurrent.
	mu sync.Mutex

	// Guarded by objectTable.mu:
	name string        // non-empty for named objects (Open)
	refs map[owner]int // references held, per owner
}

// owner is who holds a reference to an object: a client session, or a
// shared container whose stored values carry a proxy to the object.
// Keeping the two apart in one comparable key means no session id, not
// even a hostile peer's, can pass for a container.
type owner struct {
	session callctx.SessionID // the session, when object is 0
	object  uint64            // the container's object id; 0 for a session
}

func sessionOwner(s callctx.SessionID) owner { return owner{session: s} }

func containerOwner(id uint64) owner { return owner{object: id} }

// objectTable holds a server's objects, their names and their references.
//
// An object lives while it has a name or any owner holds a reference to
// it. A session gets references when a reply carries a proxy to it (every
// proxy a client decodes owns one reference, given back by Proxy.Close)
// and when a request carries a proxy from it (the sender pins the object
// so it cannot be freed in transit, CPython gh-119937: until the call
// returns when the callee is a built-in container, which then holds its
// own, else until the session ends); all of a session's references go
// when the session ends. A container gets
// references when it starts holding a value that carries proxies (see
// callctx.Retain) and gives them back when it drops the value or is
// freed itself, which may free what it held in turn. A container that
// holds a proxy to itself, directly or through others, is a cycle that
// no count reaches zero in: it lives until the server goes, as in any
// reference-counting scheme without a cycle collector.
type objectTable struct {
	mu     sync.RWMutex // guards every field below and object.name/refs
	byID   map[uint64]*object
	byName map[string]*object
	nextID uint64
	// held indexes the references containers own, so that freeing a
	// container releases what it held without a walk of every object:
	// container id → held object id → references.
	held map[uint64]map[uint64]int
	// building holds the ids reserved for objects whose constructor is
	// running: their initial contents are held before they are added.
	building map[uint64]struct{}
}

func newObjectTable() *objectTable {
	return &objectTable{
		byID:     map[uint64]*object{},
		byName:   map[string]*object{},
		held:     map[uint64]map[uint64]int{},
		building: map[uint64]struct{}{},
	}
}

func (t *objectTable) get(id uint64) (*object, error) {
	t.mu.RLock()
	o := t.byID[id]
	t.mu.RUnlock()
	if o == nil {
		return nil, fmt.Errorf("%w: object %d", errs.NoSuchObject, id)
	}
	return o, nil
}

// add stores a new unnamed object.
func (t *objectTable) add(typ *typeInfo, recv reflect.Value) *object {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.nextID++
	return t.insertLocked(t.nextID, typ, recv, "")
}

// reserve returns the id of an object about to be constructed: what its
// constructor retains is held under that id until addReserved or
// addNamed adds the object, or abandon gives up on it.
func (t *objectTable) reserve() uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.nextID++
	t.building[t.nextID] = struct{}{}
	return t.nextID
}

// addReserved stores a new unnamed object under an id from reserve.
func (t *objectTable) addReserved(id uint64, typ *typeInfo, recv reflect.Value) *object {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.building, id)
	return t.insertLocked(id, typ, recv, "")
}

// addNamed stores a new object, under an id from reserve, with name,
// unless an object has that name already: then it abandons id and
// returns that one and true.
func (t *objectTable) addNamed(id uint64, typ *typeInfo, recv reflect.Value, name string) (*object, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.building, id)
	if o := t.byName[name]; o != nil {
		t.releaseHeldLocked(id)
		return o, true
	}
	return t.insertLocked(id, typ, recv, name), false
}

// abandon gives up on a reserved id whose constructor failed, releasing
// what the constructor retained.
func (t *objectTable) abandon(id uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.building, id)
	t.releaseHeldLocked(id)
}

func (t *objectTable) insertLocked(id uint64, typ *typeInfo, recv reflect.Value, name string) *object {
	o := &object{id: id, typ: typ, recv: recv, val: recv.Interface(), name: name, refs: map[owner]int{}}
	t.byID[o.id] = o
	if name != "" {
		t.byName[name] = o
	}
	return o
}

// named returns the object with the given name, or nil.
func (t *objectTable) named(name string) *object {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.byName[name]
}

// incref adds a reference for session s to object id; an id that does not
// exist (a proxy to an object already freed) is ignored: the holder will
// get ErrNoSuchObject when it uses it.
func (t *objectTable) incref(id uint64, s callctx.SessionID) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if o := t.byID[id]; o != nil {
		o.refs[sessionOwner(s)]++
	}
}

// decref drops one of session s's references to object id, freeing the
// object when no reference and no name is left.
func (t *objectTable) decref(id uint64, s callctx.SessionID) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if o := t.byID[id]; o != nil {
		t.decrefLocked(o, sessionOwner(s))
	}
}

// decrefAll drops one of session s's references to each object in ids,
// as decref does.
func (t *objectTable) decrefAll(ids []uint64, s callctx.SessionID) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, id := range ids {
		if o := t.byID[id]; o != nil {
			t.decrefLocked(o, sessionOwner(s))
		}
	}
}

// hold gives container a reference to each object in ids (one per
// occurrence). A container that is neither live nor being built (freed
// while one of its calls ran) gets none: nothing would release them.
// Ids of objects already freed are ignored, as by incref.
func (t *objectTable) hold(container uint64, ids []uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.byID[container] == nil {
		if _, ok := t.building[container]; !ok {
			return
		}
	}
	held := t.held[container]
	for _, id := range ids {
		o := t.byID[id]
		if o == nil {
			continue
		}
		if held == nil {
			held = map[uint64]int{}
			t.held[container] = held
		}
		o.refs[containerOwner(container)]++
		held[id]++
	}
}

// unhold drops one of container's references to each object in ids,
// freeing those left unreferenced (and, in turn, what they held).
// References container does not hold — it was freed meanwhile, or the
// object was already gone when hold ran — are ignored.
func (t *objectTable) unhold(container uint64, ids []uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	held := t.held[container]
	for _, id := range ids {
		if held[id] == 0 {
			continue
		}
		if held[id]--; held[id] == 0 {
			delete(held, id)
		}
		if o := t.byID[id]; o != nil {
			t.decrefLocked(o, containerOwner(container))
		}
	}
	if held != nil && len(held) == 0 {
		delete(t.held, container)
	}
}

// decrefLocked drops one of w's references to o, freeing o when nothing
// is left.
func (t *objectTable) decrefLocked(o *object, w owner) {
	if o.refs[w] == 0 {
		return
	}
	if o.refs[w]--; o.refs[w] == 0 {
		delete(o.refs, w)
	}
	t.freeIfUnusedLocked(o)
}

// deleteName removes a name; the object is freed if nothing references it.
func (t *objectTable) deleteName(name string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	o := t.byName[name]
	if o == nil {
		return false
	}
	delete(t.byName, name)
	o.name = ""
	t.freeIfUnusedLocked(o)
	return true
}

// freeIfUnusedLocked frees o if it has no name and no reference, and
// then releases what o held as a container.
func (t *objectTable) freeIfUnusedLocked(o *object) {
	if o.name == "" && len(o.refs) == 0 {
		delete(t.byID, o.id)
		t.releaseHeldLocked(o.id)
	}
}

// releaseHeldLocked drops every reference container holds. Objects left
// unreferenced are freed and what they held is released in turn, from a
// worklist rather than by recursion: a long chain of nested containers
// must not grow the stack while the table is locked.
func (t *objectTable) releaseHeldLocked(container uint64) {
	if t.held[container] == nil {
		return // the common case: o held no proxies
	}
	work := []uint64{container}
	for len(work) > 0 {
		c := work[len(work)-1]
		work = work[:len(work)-1]
		for id := range t.held[c] {
			o := t.byID[id]
			if o == nil {
				continue
			}
			delete(o.refs, containerOwner(c))
			if o.name == "" && len(o.refs) == 0 {
				delete(t.byID, o.id)
				if t.held[o.id] != nil {
					work = append(work, o.id)
				}
			}
		}
		delete(t.held, c)
	}
}

// endSession drops every reference session s held and returns the live
// objects that want to hear about it (SessionReleaser).
func (t *objectTable) endSession(s callctx.SessionID) []callctx.SessionReleaser {
	t.mu.Lock()
	defer t.mu.Unlock()
	w := sessionOwner(s)
	var releasers []callctx.SessionReleaser
	for _, o := range t.byID {
		if _, ok := o.refs[w]; ok {
			delete(o.refs, w)
			t.freeIfUnusedLocked(o)
		}
		if r, ok := o.val.(callctx.SessionReleaser); ok {
			releasers = append(releasers, r)
		}
	}
	return releasers
}

// len is the number of live objects.
func (t *objectTable) len() int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return len(t.byID)
}

// resolve returns the Go value of object id, for objects built on others
// (a Condition on a Lock).
func (t *objectTable) resolve(id uint64) (any, bool) {
	o, err := t.get(id)
	if err != nil {
		return nil, false
	}
	return o.val, true
}
