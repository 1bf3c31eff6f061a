package server

import (
	"context"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"sync"

	"github.com/goproc/manager/internal/builtin"
)

// A type registry maps typeids to the Go types a manager can host. It is
// filled in init functions, before main runs, so that the parent, the
// manager process and every worker (the same binary, re-executed) hold the
// same table; the built-in types join it on the first lookup. Method tables are built once here, with reflection, so that
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
	result  bool         // returns a value
	err     bool         // returns an error (last)
	returns string       // typeid: the result becomes a new shared object (Returns)
	raw     rawMethod    // a built-in's call without reflection, or nil (see rawcall.go)
	counter *callCounter // see stats.go
}

// RegisterConfig says how Register exposes a type; the root package's
// RegisterOptions fill it.
type RegisterConfig struct {
	Exposed    []string          // the methods clients may call; empty: every exported one
	Returns    map[string]string // method → typeid its result is hosted as (a proxy is returned)
	Concurrent bool              // the methods may run concurrently on one object
}

// Register makes the Go type t available to clients under typeid, with
// the constructor ctor (see the root package's Register for what both
// may be). It panics, with a message saying what to fix, on a bad ctor,
// a method of an unsupported shape that is exposed, and a duplicate
// typeid (a built-in type's included).
func Register(typeid string, t reflect.Type, ctor any, cfg RegisterConfig) {
	if builtin.IsType(typeid) {
		panic(fmt.Sprintf("manager: Register(%q): typeid already registered: it is a built-in type's; pick another typeid", typeid))
	}
	register(typeid, t, ctor, cfg)
}

// register is Register for any typeid, the built-in types' too.
func register(typeid string, t reflect.Type, ctor any, cfg RegisterConfig) {
	fail := func(format string, args ...any) {
		panic(fmt.Sprintf("manager: Register(%q): ", typeid) + fmt.Sprintf(format, args...))
	}
	if typeid == "" {
		fail("empty typeid: give the type a name")
	}
	info := &typeInfo{id: typeid, goType: t, concurrent: cfg.Concurrent, methods: map[string]*methodInfo{}, all: map[string]bool{}}
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
			if len(cfg.Exposed) == 0 || contains(cfg.Exposed, m.Name) {
				fail("%v", err)
			}
			continue
		}
		if len(cfg.Exposed) == 0 || contains(cfg.Exposed, m.Name) {
			info.methods[m.Name] = mi
		}
	}
	for _, name := range cfg.Exposed {
		if !info.all[name] {
			fail("Exposed(%q): %s has no exported method %q (methods: %s)", name, t, name, strings.Join(sortedKeys(info.all), ", "))
		}
	}
	for method, rt := range cfg.Returns {
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
	mi := &methodInfo{name: m.Name, fn: m.Func, counter: new(callCounter)}
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

// lookupType returns the type registered as typeid. The built-in types
// are registered by the first lookup (see registerBuiltins).
func lookupType(typeid string) (*typeInfo, bool) {
	builtinsOnce.Do(registerBuiltins)
	return registeredType(typeid)
}

// registeredType is lookupType without registering the built-in types.
func registeredType(typeid string) (*typeInfo, bool) {
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
