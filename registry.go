package manager

import (
	"context"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"sync"

	"github.com/goproc/manager/internal/errs"
)

// A type registry maps typeids to the Go types a manager can host. It is
// filled in init functions, before main runs, so that the parent, the
// manager process and every worker (the same binary, re-executed) hold the
// same table. Method tables are built once here, with reflection, so that
// a call does no method lookup beyond one map read.

var registry = struct {
	mu    sync.RWMutex // guards types
	types map[string]*typeInfo
}{types: map[string]*typeInfo{}}

var (
	contextType = reflect.TypeFor[context.Context]()
	errorType   = reflect.TypeFor[error]()
)

// typeInfo describes one registered type.
type typeInfo struct {
	id         string
	goType     reflect.Type
	ctor       reflect.Value
	ctorIn     []reflect.Type // parameters after an optional leading ctx
	ctorCtx    bool
	ctorErr    bool
	methods    map[string]*methodInfo // exposed methods only
	all        map[string]bool        // every exported method, to tell "not exposed" from "no such method"
	concurrent bool
}

// methodInfo describes one callable method.
type methodInfo struct {
	name    string
	fn      reflect.Value  // the method as a func whose first parameter is the receiver
	in      []reflect.Type // parameters after the receiver and an optional ctx
	takeCtx bool
	result  bool      // returns a value
	err     bool      // returns an error (last)
	returns string    // typeid: the result becomes a new shared object (Returns)
	raw     rawMethod // a built-in's call without reflection, or nil (see rawcall.go)
}

// RegisterOption adjusts how Register exposes a type.
type RegisterOption interface {
	applyRegister(*registerConfig)
}

type registerConfig struct {
	exposed    []string
	returns    map[string]string
	concurrent bool
}

type registerOptionFunc func(*registerConfig)

func (f registerOptionFunc) applyRegister(c *registerConfig) { f(c) }

// Exposed limits the methods clients may call to the named ones. By
// default every exported method is exposed.
func Exposed(methods ...string) RegisterOption {
	return registerOptionFunc(func(c *registerConfig) { c.exposed = append(c.exposed, methods...) })
}

// Returns makes method's result a new shared object of the registered type
// typeid, handed to the caller as a proxy (Python's method_to_typeid).
// The method's result must be of the Go type registered under typeid.
func Returns(method, typeid string) RegisterOption {
	return registerOptionFunc(func(c *registerConfig) {
		if c.returns == nil {
			c.returns = map[string]string{}
		}
		c.returns[method] = typeid
	})
}

// ConcurrentSafe declares that the type's methods may run concurrently:
// the server then calls them from many goroutines at once. By default the
// server serialises the calls on each object, so a type needs no locking
// of its own; a method that blocks (waits on its ctx) then holds up the
// object's other callers, so blocking types should do their own locking
// and be registered ConcurrentSafe.
func ConcurrentSafe() RegisterOption {
	return registerOptionFunc(func(c *registerConfig) { c.concurrent = true })
}

// Register makes the Go type T available to clients under typeid. Call it
// from an init function, so that every process of the program (they are
// all the same binary) registers the same types before Init runs.
//
// ctor builds a new object; it is a func returning T or (T, error), and
// may take a context.Context first and any msgpack-decodable arguments
// after it (New passes its args to it). T is usually a pointer type.
//
// Every exported method of T is exposed unless Exposed narrows them. A
// method may take a context.Context first (cancelled when the caller gives
// up: a method that waits must watch it) and must return R, (R, error),
// error or nothing; Register panics on any other shape, on a bad ctor and
// on a duplicate typeid, with a message saying what to fix.
//
// Register is safe for concurrent use but is meant for init functions.
func Register[T any](typeid string, ctor any, opts ...RegisterOption) {
	register(typeid, reflect.TypeFor[T](), ctor, opts...)
}

func register(typeid string, t reflect.Type, ctor any, opts ...RegisterOption) {
	var cfg registerConfig
	for _, o := range opts {
		o.applyRegister(&cfg)
	}
	fail := func(format string, args ...any) {
		panic(fmt.Sprintf("manager: Register(%q): ", typeid) + fmt.Sprintf(format, args...))
	}
	if typeid == "" {
		fail("empty typeid: give the type a name")
	}
	info := &typeInfo{id: typeid, goType: t, concurrent: cfg.concurrent, methods: map[string]*methodInfo{}, all: map[string]bool{}}
	info.ctor = reflect.ValueOf(ctor)
	ct := info.ctor.Type()
	if ct.Kind() != reflect.Func {
		fail("ctor is a %s; want a func returning %s or (%s, error)", ct, t, t)
	}
	switch {
	case ct.NumOut() == 1 && ct.Out(0) == t:
	case ct.NumOut() == 2 && ct.Out(0) == t && ct.Out(1) == errorType:
		info.ctorErr = true
	default:
		fail("ctor is a %s; want a func returning %s or (%s, error)", ct, t, t)
	}
	if ct.IsVariadic() {
		fail("variadic ctor %s is not supported: take a slice instead", ct)
	}
	for i := 0; i < ct.NumIn(); i++ {
		if i == 0 && ct.In(0) == contextType {
			info.ctorCtx = true
			continue
		}
		info.ctorIn = append(info.ctorIn, ct.In(i))
	}

	for i := 0; i < t.NumMethod(); i++ {
		m := t.Method(i)
		info.all[m.Name] = true
		mi, err := newMethodInfo(m)
		if err != nil {
			if len(cfg.exposed) == 0 || contains(cfg.exposed, m.Name) {
				fail("%v", err)
			}
			continue
		}
		if len(cfg.exposed) == 0 || contains(cfg.exposed, m.Name) {
			info.methods[m.Name] = mi
		}
	}
	for _, name := range cfg.exposed {
		if !info.all[name] {
			fail("Exposed(%q): %s has no exported method %q (methods: %s)", name, t, name, strings.Join(sortedKeys(info.all), ", "))
		}
	}
	for method, rt := range cfg.returns {
		mi := info.methods[method]
		if mi == nil {
			fail("Returns(%q, %q): no exposed method %q", method, rt, method)
		}
		if !mi.result {
			fail("Returns(%q, %q): method %q returns no value", method, rt, method)
		}
		mi.returns = rt
	}

	registry.mu.Lock()
	defer registry.mu.Unlock()
	if _, dup := registry.types[typeid]; dup {
		fail("typeid already registered: register each type once, from one init function, or pick another typeid")
	}
	registry.types[typeid] = info
}

func newMethodInfo(m reflect.Method) (*methodInfo, error) {
	ft := m.Type // receiver is In(0)
	mi := &methodInfo{name: m.Name, fn: m.Func}
	if ft.IsVariadic() {
		return nil, fmt.Errorf("method %s is variadic: take a slice instead, or leave it out with Exposed", m.Name)
	}
	for i := 1; i < ft.NumIn(); i++ {
		if i == 1 && ft.In(1) == contextType {
			mi.takeCtx = true
			continue
		}
		mi.in = append(mi.in, ft.In(i))
	}
	switch {
	case ft.NumOut() == 0:
	case ft.NumOut() == 1 && ft.Out(0) == errorType:
		mi.err = true
	case ft.NumOut() == 1:
		mi.result = true
	case ft.NumOut() == 2 && ft.Out(1) == errorType:
		mi.result, mi.err = true, true
	default:
		return nil, fmt.Errorf("method %s returns %d values; want R, (R, error), error or nothing (return a struct for several values), or leave it out with Exposed", m.Name, ft.NumOut())
	}
	return mi, nil
}

func lookupType(typeid string) (*typeInfo, bool) {
	registry.mu.RLock()
	defer registry.mu.RUnlock()
	t, ok := registry.types[typeid]
	return t, ok
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// RegisterError lets err cross the wire: when a method of a shared object
// (or a worker, or a Pool task) returns an error wrapping err, the
// caller's *RemoteError satisfies errors.Is(remoteErr, err) in its own
// process, as it does for the library's sentinels. code is err's stable
// name on the wire, such as "inventory.out-of-stock": it must be the same
// in every process, and unique in the program. Errors that are not
// registered still arrive, as text only.
//
// Call it from an init function, as Register, so that every process of
// the program (the same binary, re-executed) registers the same errors.
// It panics on an empty code, a nil err, and a code or an error
// registered already. It is safe for concurrent use.
func RegisterError(code string, err error) {
	if rerr := errs.Register(code, err); rerr != nil {
		panic(fmt.Sprintf("manager: RegisterError(%q): %v", code, rerr))
	}
}
