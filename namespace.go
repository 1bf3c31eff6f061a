package manager

import (
	"context"
	"fmt"

	"github.com/goproc/manager/internal/builtin"
)

type namespaceKind struct{}

func (namespaceKind) typeID() string { return builtin.TypeNamespace }

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
	handle[namespaceKind]
}

// NewNamespace creates an empty shared namespace and returns a proxy to
// it. The namespace is freed once every proxy to it, in every process,
// is closed (or its process has exited). It blocks for one round trip.
func NewNamespace(ctx context.Context, s Session) (*Namespace, error) {
	h, err := newObject[namespaceKind](ctx, s, "", false, nil)
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
	h, err := newObject[namespaceKind](ctx, s, name, true, nil)
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
	return n.call(ctx, "Set", nil, name, arg)
}

// Get decodes attribute name into ptr, a non-nil pointer, and reports
// whether the attribute is set (Python's ns.name, which raises
// AttributeError where this returns false and leaves *ptr unchanged).
func (n *Namespace) Get(ctx context.Context, name string, ptr any) (bool, error) {
	if ptr == nil {
		return false, &opError{"Namespace.Get", fmt.Errorf("%w: attribute %q: nil pointer", ErrBadArguments, name)}
	}
	r := struct {
		//lint:ignore U1000 msgpack reads this field's tag (as_array), never its value
		_msgpack struct{} `msgpack:",as_array"`
		Value    *decodeInto
		OK       bool
	}{Value: &decodeInto{ptr}}
	err := n.call(ctx, "Get", &r, name)
	return r.OK, err
}

// Has reports whether attribute name is set (Python's hasattr(ns, name)).
func (n *Namespace) Has(ctx context.Context, name string) (bool, error) {
	var ok bool
	err := n.call(ctx, "Has", &ok, name)
	return ok, err
}

// Delete deletes attribute name and reports whether it was set (Python's
// del ns.name, which raises AttributeError where this returns false).
func (n *Namespace) Delete(ctx context.Context, name string) (bool, error) {
	var ok bool
	err := n.call(ctx, "Delete", &ok, name)
	return ok, err
}

// Names returns the names of all attributes, in the order they were
// first set, in one round trip.
func (n *Namespace) Names(ctx context.Context) ([]string, error) {
	var names []string
	err := n.call(ctx, "Names", &names)
	return names, err
}

// Vars decodes every attribute, in one round trip, into ptr: a pointer to
// a map (map[string]any, or map[string]T when all have one type) or to a
// struct, whose fields are matched to attribute names as msgpack matches
// map keys (Python's vars(ns)). Attributes without a field are skipped.
func (n *Namespace) Vars(ctx context.Context, ptr any) error {
	if ptr == nil {
		return &opError{"Namespace.Vars", fmt.Errorf("%w: nil pointer", ErrBadArguments)}
	}
	return n.call(ctx, "Items", ptr)
}
