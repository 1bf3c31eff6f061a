package manager

import (
	"fmt"
	"reflect"

	"github.com/goproc/manager/internal/errs"
	"github.com/goproc/manager/internal/server"
)

// A type registry maps typeids to the Go types a manager can host; it is
// internal/server's. It is filled in init functions, before main runs, so
// that the parent, the manager process and every worker (the same
// binary, re-executed) hold the same table.

// RegisterOption adjusts how Register exposes a type.
type RegisterOption interface {
	applyRegister(*server.RegisterConfig)
}

type registerOptionFunc func(*server.RegisterConfig)

func (f registerOptionFunc) applyRegister(c *server.RegisterConfig) { f(c) }

// Exposed limits the methods clients may call to the named ones. By
// default every exported method is exposed.
func Exposed(methods ...string) RegisterOption {
	return registerOptionFunc(func(c *server.RegisterConfig) { c.Exposed = append(c.Exposed, methods...) })
}

// Returns makes method's result a new shared object of the registered type
// typeid, handed to the caller as a proxy (Python's method_to_typeid).
// The method's result must be of the Go type registered under typeid.
func Returns(method, typeid string) RegisterOption {
	return registerOptionFunc(func(c *server.RegisterConfig) {
		if c.Returns == nil {
			c.Returns = map[string]string{}
		}
		c.Returns[method] = typeid
	})
}

// ConcurrentSafe declares that the type's methods may run concurrently:
// the server then calls them from many goroutines at once. By default the
// server serialises the calls on each object, so a type needs no locking
// of its own; a method that blocks (waits on its ctx) then holds up the
// object's other callers, so blocking types should do their own locking
// and be registered ConcurrentSafe.
func ConcurrentSafe() RegisterOption {
	return registerOptionFunc(func(c *server.RegisterConfig) { c.Concurrent = true })
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
	var cfg server.RegisterConfig
	for _, o := range opts {
		o.applyRegister(&cfg)
	}
	server.Register(typeid, reflect.TypeFor[T](), ctor, cfg)
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
