package manager

import (
	"context"
	"errors"
	"fmt"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/goproc/manager/internal/builtin"
)

type dictType struct{}

func (dictType) typeID() string { return builtin.TypeDict }

// A Dict is a proxy to a shared dictionary in a manager, Python's
// manager.dict(): keys of type K to values of type V, kept in insertion
// order. Its methods follow sync.Map's names (Load, Store, LoadOrStore,
// LoadAndDelete, Delete, Swap, CompareAndSwap, CompareAndDelete, Range,
// Clear), plus Len, Has, Keys, Values, Items, Copy, Update, PopItem, and
// two that Python lacks: Modify (an atomic read-modify-write) and Add
// (an atomic numeric add).
//
// # Copy semantics
//
// Load returns a copy of the stored value, and Store stores a copy: a
// change to a loaded value (a nested map, a slice) changes nothing in the
// manager until it is stored back. Loading, changing and storing from two
// processes at once loses one of the changes — Python's
// d['k']['x'] = 1 trap. Use Modify for such updates: it retries until
// the value it changed is still the one stored, so no update is lost.
//
// Keys and values travel msgpack-encoded and are compared by their
// encoding (equal values of one Go type encode equally; maps are encoded
// with sorted entries for that reason). A float64 or float32 key is
// stored canonically: -0.0 as 0.0, since they are equal, and every NaN
// as one NaN key, which (unlike a Go map's NaN keys) Load and Delete
// find. Floats inside a composite key (a struct, an array) are kept as
// they are, so there -0.0 and 0.0 are two keys.
//
// The type parameters are not checked against the shared object: two
// proxies with different K or V may refer to one dict. A stored key or
// value that does not decode into K or V, or that K or V cannot hold
// without changing it (300 through a Dict[string, uint8]), gives an
// error satisfying errors.Is(err, ErrWrongType) naming both types, and a
// method that would remove or replace it (LoadAndDelete, PopItem, Swap)
// leaves it in place.
//
// Values may be proxies (a Dict[string, *List[int]]): each proxy a
// method returns holds a reference to its object; Close it when done, or
// it is given back when this process's session ends.
//
// Every method makes one round trip to the manager (Modify makes two or
// more) and takes ctx first; none blocks on other callers. A Dict is safe
// for concurrent use, and can be passed to Fork or stored in another
// shared object.
type Dict[K comparable, V any] struct {
	proxyCore[dictType]
}

// A Pair is a key and its value, as Dict.Items returns them.
type Pair[K comparable, V any] struct {
	//lint:ignore U1000 msgpack reads this field's tag (as_array), never its value
	_msgpack struct{} `msgpack:",as_array"`
	Key      K
	Value    V
}

// versionedValue mirrors builtin.VersionedValue with a typed value.
type versionedValue[V any] struct {
	//lint:ignore U1000 msgpack reads this field's tag (as_array), never its value
	_msgpack struct{} `msgpack:",as_array"`
	Value    V
	Version  uint64
	OK       bool
}

// versionedValueFields is versionedValue without its DecodeMsgpack
// method, for msgpack's own decoding.
type versionedValueFields[V any] versionedValue[V]

// DecodeMsgpack implements msgpack.CustomDecoder.
func (r *versionedValue[V]) DecodeMsgpack(dec *msgpack.Decoder) error {
	n, ok, err := builtin.ArrayStructLen(dec, 3)
	if !ok || err != nil {
		if err == nil {
			err = dec.Decode((*versionedValueFields[V])(r))
		}
		return err
	}
	if n <= 0 {
		*r = versionedValue[V]{}
		return nil
	}
	if err := dec.Decode(&r.Value); err != nil {
		return err
	}
	if r.Version, err = dec.DecodeUint64(); err != nil {
		return err
	}
	r.OK, err = dec.DecodeBool()
	return err
}

// DecodesAsStruct makes versionedValue's shape that of its fields (see
// typedshape.go).
func (*versionedValue[V]) DecodesAsStruct() {}

// pairList is []Pair[K, V] decoded without reflection per pair: each
// key and value straight into its field (msgpack's own decoding handles
// the basic types without reflection, and anything else as before).
type pairList[K comparable, V any] []Pair[K, V]

// DecodeMsgpack implements msgpack.CustomDecoder.
func (l *pairList[K, V]) DecodeMsgpack(dec *msgpack.Decoder) error {
	n, err := dec.DecodeArrayLen()
	if err != nil || n < 0 {
		*l = nil
		return err
	}
	// The length is the peer's word: grow as pairs arrive, from a
	// bounded start, as msgpack does for slices.
	out := make(pairList[K, V], 0, min(n, 4096))
	for range n {
		out = append(out, Pair[K, V]{})
		p := &out[len(out)-1] // decoded in place: a local would escape, an allocation per pair
		m, ok, err := builtin.ArrayStructLen(dec, 2)
		switch {
		case err != nil:
			return err
		case !ok:
			err = dec.Decode(p) // not an array: msgpack's struct decoding
		case m > 0:
			if err = dec.Decode(&p.Key); err == nil {
				err = dec.Decode(&p.Value)
			}
		}
		if err != nil {
			return err
		}
	}
	*l = out
	return nil
}

// DecodesAsStruct makes pairList's shape that of []Pair[K, V] (see
// typedshape.go).
func (*pairList[K, V]) DecodesAsStruct() {}

// NewDict creates an empty shared dictionary in the manager of s and
// returns a proxy to it. The dictionary is freed once every proxy to it,
// in every process, is closed (or its process has exited). It blocks for
// one round trip.
func NewDict[K comparable, V any](ctx context.Context, s Session) (*Dict[K, V], error) {
	h, err := newObject[dictType](ctx, s, "", false, nil)
	if err != nil {
		return nil, err
	}
	return &Dict[K, V]{h}, nil
}

// OpenDict returns a proxy to the shared dictionary named name, creating
// an empty one if there is none, so that unrelated processes find the same
// dictionary. It lives until Client.Delete(name) or the manager's
// shutdown. A name taken by an object of another type gives an error
// satisfying errors.Is(err, ErrWrongType). It blocks for one round trip.
func OpenDict[K comparable, V any](ctx context.Context, s Session, name string) (*Dict[K, V], error) {
	h, err := newObject[dictType](ctx, s, name, true, nil)
	if err != nil {
		return nil, err
	}
	return &Dict[K, V]{h}, nil
}

// Load returns the value stored under key and true, or the zero V and
// false when key is absent (Python's d[key] and d.get(key)). The value is
// a copy: see the type's doc.
func (d *Dict[K, V]) Load(ctx context.Context, key K) (value V, ok bool, err error) {
	var r builtin.Loaded[V]
	if err := callKey(ctx, d.core().proxy(), "Load", &r, key); err != nil {
		return value, false, err
	}
	return r.Value, r.OK, nil
}

// LoadMany loads each of keys in one round trip, atomically (one
// snapshot of the dictionary): result i is what Load would give for
// keys[i]. On Redis it is one Lua script. A manager too old to have the
// method gets one Load per key instead, which is not atomic.
func (d *Dict[K, V]) LoadMany(ctx context.Context, keys []K) ([]LoadResult[V], error) {
	p := d.core().proxy()
	out := make([]LoadResult[V], 0, len(keys))
	err := p.invokeArgs(ctx, "LoadMany", &out, 1, func(enc *msgpack.Encoder, _ int) error {
		if err := enc.EncodeArrayLen(len(keys)); err != nil {
			return err
		}
		for _, k := range keys {
			if err := encodeScalar(enc, canonicalKey(k)); err != nil {
				return err
			}
		}
		return nil
	})
	if !errors.Is(err, ErrNoSuchMethod) {
		return out, err
	}
	out = out[:0]
	for _, k := range keys {
		v, ok, err := d.Load(ctx, k)
		if err != nil {
			return nil, err
		}
		out = append(out, LoadResult[V]{Value: v, OK: ok})
	}
	return out, nil
}

// Store sets the value for key (Python's d[key] = value).
func (d *Dict[K, V]) Store(ctx context.Context, key K, value V) error {
	return callKeyValue(ctx, d.core().proxy(), "Store", nil, key, value)
}

// LoadOrStore returns the existing value for key and true if it is
// present; otherwise it stores value and returns it and false (Python's
// d.setdefault(key, value)). It is atomic.
func (d *Dict[K, V]) LoadOrStore(ctx context.Context, key K, value V) (actual V, loaded bool, err error) {
	var r builtin.Loaded[V]
	if err := callKeyValue(ctx, d.core().proxy(), "LoadOrStore", &r, key, value); err != nil {
		return actual, false, err
	}
	if !r.OK {
		return value, false, nil
	}
	return r.Value, true, nil
}

// LoadAndDelete deletes key and returns the value it had and true, or the
// zero V and false when it was absent (Python's d.pop(key)). It is atomic.
// A value that does not decode into V gives an error satisfying
// errors.Is(err, ErrWrongType) and stays in the dictionary.
func (d *Dict[K, V]) LoadAndDelete(ctx context.Context, key K) (value V, loaded bool, err error) {
	var r builtin.Loaded[V]
	if ts := shapeFor[V](); ts.any() {
		err = callKey(ctx, d.core().proxy(), "LoadAndDelete", &r, key)
	} else {
		err = d.callKeyShape(ctx, "LoadAndDeleteAs", &r, key, ts.arg)
	}
	if err != nil {
		return value, false, err
	}
	return r.Value, r.OK, nil
}

// Delete deletes key and reports whether it was present (Python's
// del d[key], which raises KeyError where this returns false).
func (d *Dict[K, V]) Delete(ctx context.Context, key K) (bool, error) {
	var ok bool
	err := callKey(ctx, d.core().proxy(), "Delete", &ok, key)
	return ok, err
}

// Swap stores value under key and returns the previous value and true,
// or the zero V and false when key was absent. It is atomic. A previous
// value that does not decode into V gives an error satisfying
// errors.Is(err, ErrWrongType), and value is not stored.
func (d *Dict[K, V]) Swap(ctx context.Context, key K, value V) (previous V, loaded bool, err error) {
	var r builtin.Loaded[V]
	if ts := shapeFor[V](); ts.any() {
		err = callKeyValue(ctx, d.core().proxy(), "Swap", &r, key, value)
	} else {
		var v any
		if v, err = encodeValue(value); err != nil {
			return previous, false, err
		}
		err = d.callKeyShape(ctx, "SwapAs", &r, key, v, ts.arg)
	}
	if err != nil {
		return previous, false, err
	}
	return r.Value, r.OK, nil
}

// CompareAndSwap stores newValue under key if key is present with a value
// equal to old (compared by encoding), and reports whether it did. It is
// atomic.
func (d *Dict[K, V]) CompareAndSwap(ctx context.Context, key K, old, newValue V) (bool, error) {
	k, o, err := encodePair(canonicalKey(key), old)
	if err != nil {
		return false, err
	}
	n, err := encodeValue(newValue)
	if err != nil {
		return false, err
	}
	var ok bool
	err = d.core().call(ctx, "CompareAndSwap", &ok, k, o, n)
	return ok, err
}

// CompareAndDelete deletes key if it is present with a value equal to old
// (compared by encoding), and reports whether it did. It is atomic.
func (d *Dict[K, V]) CompareAndDelete(ctx context.Context, key K, old V) (bool, error) {
	k, o, err := encodePair(canonicalKey(key), old)
	if err != nil {
		return false, err
	}
	var ok bool
	err = d.core().call(ctx, "CompareAndDelete", &ok, k, o)
	return ok, err
}

// Modify atomically replaces the value under key with fn(old, ok), where
// ok reports whether key was present, and returns the value stored. It is
// the safe way to update a value in place (a nested map, a counter of any
// type), where Load, change and Store could lose a concurrent update.
//
// Modify reads the value with its version, calls fn, and stores the
// result only if the entry has not changed meanwhile; otherwise it reads
// again and calls fn again. So fn may run several times and must have no
// side effects; it may change old (a fresh copy each time) and return it.
// An error from fn stops Modify, which returns it and stores nothing.
// Modify makes at least two round trips and gives up when ctx ends.
func (d *Dict[K, V]) Modify(ctx context.Context, key K, fn func(old V, ok bool) (V, error)) (V, error) {
	var zero V
	if d.Proxy() == nil {
		return zero, fmt.Errorf("manager: Dict.Modify: %w", ErrNilProxy)
	}
	if fn == nil {
		return zero, fmt.Errorf("%w: Dict.Modify: nil function", ErrBadArguments)
	}
	k, err := encodeValue(canonicalKey(key))
	if err != nil {
		return zero, err
	}
	for {
		var cur versionedValue[V]
		if err := d.core().call(ctx, "LoadVersion", &cur, k); err != nil {
			return zero, err
		}
		next, err := fn(cur.Value, cur.OK)
		if err != nil {
			return zero, err
		}
		v, err := encodeValue(next)
		if err != nil {
			return zero, err
		}
		var stored bool
		if err := d.core().call(ctx, "StoreIfVersion", &stored, k, cur.Version, v); err != nil {
			return zero, err
		}
		if stored {
			return next, nil
		}
	}
}

// Add atomically adds delta to the number stored under key (an absent key
// counts as zero) and returns the sum. V must be an integer or float
// type; otherwise, or if the stored value is not a number or the integer
// sum overflows, Add returns an error satisfying
// errors.Is(err, ErrBadArguments) and changes nothing.
func (d *Dict[K, V]) Add(ctx context.Context, key K, delta V) (V, error) {
	var sum, zero V
	if err := callKeyValue(ctx, d.core().proxy(), "Add", &sum, key, delta); err != nil {
		return zero, err
	}
	return sum, nil
}

// Has reports whether key is present (Python's key in d).
func (d *Dict[K, V]) Has(ctx context.Context, key K) (bool, error) {
	var ok bool
	err := callKey(ctx, d.core().proxy(), "Has", &ok, key)
	return ok, err
}

// Len returns the number of entries (Python's len(d)).
func (d *Dict[K, V]) Len(ctx context.Context) (int, error) {
	var n int
	err := d.core().call(ctx, "Len", &n)
	return n, err
}

// Keys returns every key, in insertion order, in one round trip
// (Python's d.keys() and iter(d)).
func (d *Dict[K, V]) Keys(ctx context.Context) ([]K, error) {
	var keys []K
	err := d.core().call(ctx, "Keys", &keys)
	return keys, err
}

// Values returns every value, in the insertion order of their keys, in
// one round trip (Python's d.values()).
func (d *Dict[K, V]) Values(ctx context.Context) ([]V, error) {
	var values []V
	err := d.core().call(ctx, "Values", &values)
	return values, err
}

// Items returns every key and value, in insertion order, in one round
// trip: a consistent snapshot (Python's d.items()).
func (d *Dict[K, V]) Items(ctx context.Context) ([]Pair[K, V], error) {
	var items pairList[K, V]
	err := d.core().call(ctx, "Items", &items)
	return items, err
}

// Copy returns a snapshot of the dictionary as a Go map, in one round
// trip (Python's d.copy(), which returns a plain dict).
func (d *Dict[K, V]) Copy(ctx context.Context) (map[K]V, error) {
	items, err := d.Items(ctx)
	if err != nil {
		return nil, err
	}
	m := make(map[K]V, len(items))
	for _, it := range items {
		m[it.Key] = it.Value
	}
	return m, nil
}

// Range takes a snapshot of the dictionary in one round trip, then calls
// fn for each key and value in insertion order until fn returns false.
// Changes made meanwhile (by fn or anyone) do not affect the iteration.
func (d *Dict[K, V]) Range(ctx context.Context, fn func(key K, value V) bool) error {
	if d.Proxy() == nil {
		return fmt.Errorf("manager: Dict.Range: %w", ErrNilProxy)
	}
	if fn == nil {
		return fmt.Errorf("%w: Dict.Range: nil function", ErrBadArguments)
	}
	items, err := d.Items(ctx)
	if err != nil {
		return err
	}
	for _, it := range items {
		if !fn(it.Key, it.Value) {
			break
		}
	}
	return nil
}

// Update stores every entry of m atomically: no caller sees some stored
// and others not (Python's d.update(m)). New keys are added in m's
// iteration order, which Go leaves unspecified; use UpdatePairs to choose
// it.
func (d *Dict[K, V]) Update(ctx context.Context, m map[K]V) error {
	pairs := make([]Pair[K, V], 0, len(m))
	for k, v := range m {
		pairs = append(pairs, Pair[K, V]{Key: k, Value: v})
	}
	return d.UpdatePairs(ctx, pairs)
}

// UpdatePairs stores every pair, in order, atomically (Python's
// d.update(iterable_of_pairs)); a later duplicate key overwrites an
// earlier one.
func (d *Dict[K, V]) UpdatePairs(ctx context.Context, pairs []Pair[K, V]) error {
	// Written straight into the request: boxing each key and value (an
	// allocation each) was most of a bulk fill's cost.
	return d.core().proxy().invokeArgs(ctx, "Update", nil, 1, func(enc *msgpack.Encoder, _ int) error {
		if err := enc.EncodeArrayLen(len(pairs)); err != nil {
			return err
		}
		for _, p := range pairs {
			if err := enc.EncodeArrayLen(2); err != nil {
				return err
			}
			if err := encodeArg(enc, canonicalKey(p.Key)); err != nil {
				return err
			}
			if err := encodeArg(enc, p.Value); err != nil {
				return err
			}
		}
		return nil
	})
}

// PopItem removes and returns the most recently inserted entry (Python's
// d.popitem(), which is LIFO). On an empty dictionary it returns an error
// satisfying errors.Is(err, ErrEmpty). An entry whose key or value does
// not decode into K or V gives an error satisfying
// errors.Is(err, ErrWrongType) and stays in the dictionary.
func (d *Dict[K, V]) PopItem(ctx context.Context) (K, V, error) {
	var p, zero Pair[K, V]
	var err error
	if ks, vs := shapeFor[K](), shapeFor[V](); ks.any() && vs.any() {
		err = d.core().call(ctx, "PopItem", &p)
	} else {
		err = d.core().call(ctx, "PopItemAs", &p, ks.arg, vs.arg)
	}
	if err != nil {
		return zero.Key, zero.Value, err
	}
	return p.Key, p.Value, nil
}

// Clear deletes every entry (Python's d.clear()).
func (d *Dict[K, V]) Clear(ctx context.Context) error {
	return d.core().call(ctx, "Clear", nil)
}

// encodePair encodes a key and a value as call arguments.
func encodePair[K, V any](key K, value V) (k, v any, err error) {
	if k, err = encodeValue(key); err != nil {
		return nil, nil, err
	}
	if v, err = encodeValue(value); err != nil {
		return nil, nil, err
	}
	return k, v, nil
}

// core returns the proxy's proxyCore, or nil when d is nil (see proxyCore).
func (d *Dict[K, V]) core() *proxyCore[dictType] {
	if d == nil {
		return nil
	}
	return &d.proxyCore
}

// Proxy returns the untyped proxy underneath, for Call and for passing
// the object around untyped. It is nil for a nil or zero Dict.
func (d *Dict[K, V]) Proxy() *Proxy { return d.core().proxy() }

// Close gives back this proxy's reference to the shared dictionary; an
// unnamed object is freed once no proxy in any process refers to it (a
// named one lives until Client.Delete). Calls through the proxy fail
// afterwards. Close blocks for at most one round trip to the manager, may
// be called more than once, and is safe for concurrent use. On a nil or
// zero Dict it returns an error satisfying errors.Is(err, ErrNilProxy).
func (d *Dict[K, V]) Close() error { return d.core().close() }

// callKeyShape calls one of the *As methods with key and then rest (the
// encoded value, if any, and the shape of V).
func (d *Dict[K, V]) callKeyShape(ctx context.Context, method string, out any, key K, rest ...any) error {
	k, err := encodeValue(canonicalKey(key))
	if err != nil {
		return err
	}
	return d.core().call(ctx, method, out, append([]any{k}, rest...)...)
}
