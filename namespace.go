package manager

import (
	"context"
	"fmt"
	"reflect"

	"github.com/goproc/manager/internal/builtin"
	"github.com/goproc/manager/internal/wire"
)

type namespaceType struct{}

func (namespaceType) typeID() string { return builtin.TypeNamespace }

// A Namespace is a proxy to a shared namespace in a manager, Python's
// manager.Namespace(): named attributes, each holding any
// msgpack-encodable value. Python's ns.x = v is Set(ctx, "x", v), ns.x is
// Get(ctx, "x", &v), del ns.x is Delete, hasattr is Has and vars(ns) is
// Vars.
//
// Get returns a copy: ns.x.append(1) in Python, like Get, change and Set
// here, is not atomic and can lose a concurrent update. For values that
// several processes update, use a Value or a Dict, whose Modify and Add
// are atomic.
//
// Every method makes one round trip to the manager and takes ctx first;
// none blocks on other callers. A Namespace is safe for concurrent use,
// and can be passed to Fork or stored in another shared object.
type Namespace struct {
	proxyCore[namespaceType]
}

// NewNamespace creates an empty shared namespace and returns a proxy to
// it. The namespace is freed once every proxy to it, in every process,
// is closed (or its process has exited). It blocks for one round trip.
func NewNamespace(ctx context.Context, s Session) (*Namespace, error) {
	h, err := newObject[namespaceType](ctx, s, "", false, nil)
	if err != nil {
		return nil, err
	}
	return &Namespace{h}, nil
}

// OpenNamespace returns a proxy to the shared namespace named name,
// creating an empty one if there is none. It lives until
// Client.Delete(name) or the manager's shutdown. A name taken by an
// object of another type gives an error satisfying
// errors.Is(err, ErrWrongType). It blocks for one round trip.
func OpenNamespace(ctx context.Context, s Session, name string) (*Namespace, error) {
	h, err := newObject[namespaceType](ctx, s, name, true, nil)
	if err != nil {
		return nil, err
	}
	return &Namespace{h}, nil
}

// Set sets attribute name to value (Python's ns.name = value).
func (n *Namespace) Set(ctx context.Context, name string, value any) error {
	arg, err := encodeValue(value)
	if err != nil {
		return err
	}
	return n.core().call(ctx, "Set", nil, name, arg)
}

// Get decodes attribute name into ptr, a non-nil pointer, and reports
// whether the attribute is set (Python's ns.name, which raises
// AttributeError where this returns false and leaves *ptr unchanged).
func (n *Namespace) Get(ctx context.Context, name string, ptr any) (bool, error) {
	if n.Proxy() == nil {
		return false, fmt.Errorf("manager: Namespace.Get: %w", ErrNilProxy)
	}
	if ptr == nil {
		return false, &opError{"Namespace.Get", fmt.Errorf("%w: attribute %q: nil pointer", ErrBadArguments, name)}
	}
	r := nsGetResult{Value: &decodeInto{ptr}}
	err := n.core().call(ctx, "Get", &r, name)
	return r.OK, err
}

// nsGetResult is the result of Namespace.Get: the Load result layout
// with its value decoded into a pointer the caller chose (by msgpack's
// struct decoding: a defined type has none of Loaded's methods).
type nsGetResult builtin.Loaded[*decodeInto]

// resultShape is that of a LoadResult whose value decodes into the
// caller's pointer (see typedshape.go).
func (r *nsGetResult) resultShape() *wire.Shape {
	t := reflect.TypeOf(r.Value.ptr)
	if t.Kind() != reflect.Pointer {
		return wire.AnyShape // msgpack refuses to decode into it
	}
	return &wire.Shape{Kind: wire.KindStruct, Fields: []wire.Field{
		{Shape: shapeOfType(t.Elem()).shape},
		{Shape: wire.ScalarShape(wire.KindBool)},
	}}
}

// Has reports whether attribute name is set (Python's hasattr(ns, name)).
func (n *Namespace) Has(ctx context.Context, name string) (bool, error) {
	var ok bool
	err := n.core().call(ctx, "Has", &ok, name)
	return ok, err
}

// Delete deletes attribute name and reports whether it was set (Python's
// del ns.name, which raises AttributeError where this returns false).
func (n *Namespace) Delete(ctx context.Context, name string) (bool, error) {
	var ok bool
	err := n.core().call(ctx, "Delete", &ok, name)
	return ok, err
}

// Names returns the names of all attributes, in the order they were
// first set, in one round trip.
func (n *Namespace) Names(ctx context.Context) ([]string, error) {
	var names []string
	err := n.core().call(ctx, "Names", &names)
	return names, err
}

// Vars decodes every attribute, in one round trip, into ptr: a pointer to
// a map (map[string]any, or map[string]T when all have one type) or to a
// struct, whose fields are matched to attribute names as msgpack matches
// map keys (Python's vars(ns)). Attributes without a field are skipped.
func (n *Namespace) Vars(ctx context.Context, ptr any) error {
	if n.Proxy() == nil {
		return fmt.Errorf("manager: Namespace.Vars: %w", ErrNilProxy)
	}
	if ptr == nil {
		return &opError{"Namespace.Vars", fmt.Errorf("%w: nil pointer", ErrBadArguments)}
	}
	return n.core().call(ctx, "Items", ptr)
}

// core returns the proxy's proxyCore, or nil when n is nil (see proxyCore).
func (n *Namespace) core() *proxyCore[namespaceType] {
	if n == nil {
		return nil
	}
	return &n.proxyCore
}

// Proxy returns the untyped proxy underneath, for Call and for passing
// the object around untyped. It is nil for a nil or zero Namespace.
func (n *Namespace) Proxy() *Proxy { return n.core().proxy() }

// Close gives back this proxy's reference to the shared namespace; an
// unnamed object is freed once no proxy in any process refers to it (a
// named one lives until Client.Delete). Calls through the proxy fail
// afterwards. Close blocks for at most one round trip to the manager, may
// be called more than once, and is safe for concurrent use. On a nil or
// zero Namespace it returns an error satisfying errors.Is(err, ErrNilProxy).
func (n *Namespace) Close() error { return n.core().close() }
