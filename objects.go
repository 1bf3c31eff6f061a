package manager

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
	name string                    // non-empty for named objects (Open)
	refs map[callctx.SessionID]int // references held per session
}

// objectTable holds a server's objects, their names and their references.
//
// An object lives while any session holds a reference to it or while it
// has a name. References are added when a reply carries a proxy to the
// session (every proxy a client decodes owns one reference, given back by
// Proxy.Close) and when a request carries a proxy from the session (the
// sender pins the object so it cannot be freed in transit, CPython
// gh-119937); all of a session's references go when the session ends.
type objectTable struct {
	mu     sync.RWMutex // guards every field below and object.name/refs
	byID   map[uint64]*object
	byName map[string]*object
	nextID uint64
}

func newObjectTable() *objectTable {
	return &objectTable{byID: map[uint64]*object{}, byName: map[string]*object{}}
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
	return t.insertLocked(typ, recv, "")
}

// addNamed stores a new object under name, unless one is there already:
// then it returns that one and true.
func (t *objectTable) addNamed(typ *typeInfo, recv reflect.Value, name string) (*object, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if o := t.byName[name]; o != nil {
		return o, true
	}
	return t.insertLocked(typ, recv, name), false
}

func (t *objectTable) insertLocked(typ *typeInfo, recv reflect.Value, name string) *object {
	t.nextID++
	o := &object{id: t.nextID, typ: typ, recv: recv, val: recv.Interface(), name: name, refs: map[callctx.SessionID]int{}}
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
		o.refs[s]++
	}
}

// decref drops one of session s's references to object id, freeing the
// object when no reference and no name is left.
func (t *objectTable) decref(id uint64, s callctx.SessionID) {
	t.mu.Lock()
	defer t.mu.Unlock()
	o := t.byID[id]
	if o == nil || o.refs[s] == 0 {
		return
	}
	if o.refs[s]--; o.refs[s] == 0 {
		delete(o.refs, s)
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

func (t *objectTable) freeIfUnusedLocked(o *object) {
	if o.name == "" && len(o.refs) == 0 {
		delete(t.byID, o.id)
	}
}

// endSession drops every reference session s held and returns the live
// objects that want to hear about it (SessionReleaser).
func (t *objectTable) endSession(s callctx.SessionID) []callctx.SessionReleaser {
	t.mu.Lock()
	defer t.mu.Unlock()
	var releasers []callctx.SessionReleaser
	for _, o := range t.byID {
		if _, ok := o.refs[s]; ok {
			delete(o.refs, s)
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
