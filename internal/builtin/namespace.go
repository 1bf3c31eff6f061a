package builtin

import (
	"context"
	"maps"
	"slices"

	"github.com/vmihailenco/msgpack/v5"
)

// Namespace is the server side of a shared namespace, Python's
// manager.Namespace(): named attributes, each holding an encoded value.
// Attributes keep the order in which they were first set, and each
// carries a version like a Dict entry, for optimistic read-modify-write.
// Values that carry proxies keep their objects alive while set (see
// callctx.Retain).
//
// A Namespace is safe for concurrent use. No method blocks.
type Namespace struct {
	core dictCore // keyed by the attribute name itself (not encoded)
}

// NewNamespace returns a namespace with the given attributes (Python's
// Namespace(**kwargs)); attrs may be nil. Since a Go map has no order, the
// initial attributes are ordered by name.
func NewNamespace(ctx context.Context, attrs map[string]msgpack.RawMessage) (*Namespace, error) {
	n := &Namespace{}
	n.core.t = newTable(n)
	for _, name := range slices.Sorted(maps.Keys(attrs)) {
		n.core.store(ctx, keyBytes(name), attrs[name], false)
	}
	return n, nil
}

// Get returns the value of attribute name; OK reports whether it is set
// (Python would raise AttributeError).
func (n *Namespace) Get(name string) LoadResult {
	n.core.mu.Lock()
	defer n.core.mu.Unlock()
	return n.core.load(keyBytes(name))
}

// Set sets attribute name to value.
func (n *Namespace) Set(ctx context.Context, name string, value msgpack.RawMessage) {
	n.core.mu.Lock()
	defer n.core.mu.Unlock()
	n.core.store(ctx, keyBytes(name), value, false)
}

// Delete deletes attribute name and reports whether it was set.
func (n *Namespace) Delete(ctx context.Context, name string) bool {
	n.core.mu.Lock()
	defer n.core.mu.Unlock()
	return n.core.remove(ctx, keyBytes(name))
}

// Has reports whether attribute name is set (Python's hasattr).
func (n *Namespace) Has(name string) bool {
	return n.core.has(keyBytes(name))
}

// Names returns the names of all attributes, in the order they were first
// set, in one call.
func (n *Namespace) Names() []string {
	return collect(&n.core, func(k, _ []byte) string { return string(k) }, true, false)
}

// Items returns every attribute and its value in one call, as a
// consistent snapshot (Python's vars(ns)). The map has no order; Names
// gives the order.
func (n *Namespace) Items() map[string]msgpack.RawMessage {
	items := collect(&n.core, func(k, v []byte) Pair { return Pair{Key: k, Value: v} }, true, true)
	out := make(map[string]msgpack.RawMessage, len(items))
	for _, it := range items {
		out[string(it.Key)] = it.Value
	}
	return out
}

// Add atomically adds delta, an encoded integer or float, to the number in
// attribute name and returns the new value, encoded. An unset attribute
// counts as zero of delta's kind. The rules and errors are those of
// Dict.Add.
func (n *Namespace) Add(name string, delta msgpack.RawMessage) (msgpack.RawMessage, error) {
	// A Namespace holds no name, so add needs no call context.
	return n.core.add(context.Background(), keyBytes(name), delta)
}

// LoadVersion returns the value of attribute name with its version; for
// an unset attribute, OK false and Version 0.
func (n *Namespace) LoadVersion(name string) VersionedValue {
	return n.core.loadVersion(keyBytes(name))
}

// StoreIfVersion sets attribute name to value only if it is still at
// version (0: only if unset), and reports whether it did. See
// Dict.StoreIfVersion.
func (n *Namespace) StoreIfVersion(ctx context.Context, name string, version uint64, value msgpack.RawMessage) bool {
	return n.core.storeIfVersion(ctx, keyBytes(name), version, value)
}
