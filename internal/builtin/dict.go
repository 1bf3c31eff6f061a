package builtin

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/goproc/manager/internal/callctx"
	"github.com/goproc/manager/internal/errs"
	"github.com/goproc/manager/internal/wire"
)

// VersionedValue is a value with its version, as returned by the
// LoadVersion methods. It travels as a three-element array
// [value, version, ok]. A version is never 0 for a value that exists;
// Version is 0 and OK false when there is no value.
type VersionedValue struct {
	//lint:ignore U1000 msgpack reads this field's tag (as_array), never its value
	_msgpack struct{} `msgpack:",as_array"`
	// Value is the encoded value, or nil.
	Value msgpack.RawMessage
	// Version identifies this state of the value; pass it to
	// StoreIfVersion.
	Version uint64
	// OK reports whether the value exists.
	OK bool
}

// Pair is a key and its value. It travels as a two-element array
// [key, value], both in their encoded form.
type Pair struct {
	//lint:ignore U1000 msgpack reads this field's tag (as_array), never its value
	_msgpack struct{} `msgpack:",as_array"`
	// Key is the encoded key.
	Key msgpack.RawMessage
	// Value is the encoded value.
	Value msgpack.RawMessage
}

// Dict is the server side of a shared dictionary: encoded keys to encoded
// values, in insertion order like a Python dict (overwriting a key keeps
// its place; deleting and re-adding moves it to the end).
//
// Keys and values are compared as bytes (see the package doc). Every
// entry carries a version, unique across the dict and changed by every
// write to the entry, for optimistic read-modify-write with LoadVersion
// and StoreIfVersion.
//
// Keys and values that carry proxies keep their objects alive while they
// are in the dict (see callctx.Retain).
//
// A Dict is safe for concurrent use. No method blocks.
type Dict struct {
	core dictCore
}

// NewDict returns a dict holding items, stored in order as by Update (a
// later duplicate key overwrites an earlier one). items may be nil.
func NewDict(ctx context.Context, items []Pair) (*Dict, error) {
	d := &Dict{core: dictCore{holdKeys: true}}
	d.core.init()
	for _, it := range items {
		d.core.store(ctx, string(it.Key), it.Value)
	}
	return d, nil
}

// Load returns the value stored under key; OK reports whether it was
// present.
func (d *Dict) Load(key msgpack.RawMessage) LoadResult {
	d.core.mu.Lock()
	defer d.core.mu.Unlock()
	if e, ok := d.core.m[string(key)]; ok {
		return LoadResult{Value: e.value, OK: true}
	}
	return LoadResult{}
}

// LoadMany loads each of keys under one lock: result i is what Load
// would give for keys[i]. A reply is bounded by the frame size as any
// other; the caller splits very long key lists.
func (d *Dict) LoadMany(keys []msgpack.RawMessage) []LoadResult {
	out := make([]LoadResult, len(keys))
	d.core.mu.Lock()
	defer d.core.mu.Unlock()
	for i, k := range keys {
		if e, ok := d.core.m[string(k)]; ok {
			out[i] = LoadResult{Value: e.value, OK: true}
		}
	}
	return out
}

// Store sets the value for key.
func (d *Dict) Store(ctx context.Context, key, value msgpack.RawMessage) {
	d.core.mu.Lock()
	defer d.core.mu.Unlock()
	d.core.store(ctx, string(key), value)
}

// LoadOrStore returns the existing value for key if present (OK true,
// "loaded"); otherwise it stores value and returns it with OK false.
func (d *Dict) LoadOrStore(ctx context.Context, key, value msgpack.RawMessage) LoadResult {
	d.core.mu.Lock()
	defer d.core.mu.Unlock()
	if e, ok := d.core.m[string(key)]; ok {
		return LoadResult{Value: e.value, OK: true}
	}
	d.core.store(ctx, string(key), value)
	return LoadResult{Value: value}
}

// SetDefault is Python's dict.setdefault: the same as LoadOrStore. It
// returns the value now stored under key; OK reports whether it was
// already there.
func (d *Dict) SetDefault(ctx context.Context, key, value msgpack.RawMessage) LoadResult {
	return d.LoadOrStore(ctx, key, value)
}

// LoadAndDelete deletes key and returns the value it had; OK reports
// whether it was present.
func (d *Dict) LoadAndDelete(ctx context.Context, key msgpack.RawMessage) LoadResult {
	d.core.mu.Lock()
	defer d.core.mu.Unlock()
	if e, ok := d.core.remove(ctx, string(key)); ok {
		return LoadResult{Value: e.value, OK: true}
	}
	return LoadResult{}
}

// LoadAndDeleteAs is LoadAndDelete for a caller that decodes only values
// of shape (see shape.go): a value that does not fit gives an error
// wrapping errs.WrongType and stays in the dict.
func (d *Dict) LoadAndDeleteAs(ctx context.Context, key, shape msgpack.RawMessage) (LoadResult, error) {
	s, err := parseShape(shape)
	if err != nil {
		return LoadResult{}, err
	}
	d.core.mu.Lock()
	defer d.core.mu.Unlock()
	if e, ok := d.core.m[string(key)]; ok {
		if err := fits(s, e.value, "it stays in the dict"); err != nil {
			return LoadResult{}, err
		}
	}
	if e, ok := d.core.remove(ctx, string(key)); ok {
		return LoadResult{Value: e.value, OK: true}, nil
	}
	return LoadResult{}, nil
}

// Pop is Python's dict.pop without a default: the same as LoadAndDelete.
// OK false means the key was absent (Python would raise KeyError).
func (d *Dict) Pop(ctx context.Context, key msgpack.RawMessage) LoadResult {
	return d.LoadAndDelete(ctx, key)
}

// GiveBack restores what a LoadAndDelete, Pop or PopItem (or their
// shape-checked forms, LoadAndDeleteAs and PopItemAs) removed for a
// caller that had given up before the reply reached it (see
// callctx.GiveBacker): the pair is stored again, unless the key has been
// stored since (the newer value wins, as if the removal had not
// happened and that store came after). A restored key goes to the end
// of the insertion order. It does not block.
func (d *Dict) GiveBack(ctx context.Context, method, code string, args, result []byte) {
	if code != "" {
		return
	}
	var key, value msgpack.RawMessage
	switch strings.TrimSuffix(method, "As") {
	case "LoadAndDelete", "Pop":
		var a []msgpack.RawMessage // the key, then the shape for LoadAndDeleteAs
		var r LoadResult
		if msgpack.Unmarshal(args, &a) != nil || len(a) < 1 || msgpack.Unmarshal(result, &r) != nil || !r.OK {
			return
		}
		key, value = a[0], r.Value
	case "PopItem":
		var p Pair
		if msgpack.Unmarshal(result, &p) != nil {
			return
		}
		key, value = p.Key, p.Value
	default:
		return
	}
	d.core.mu.Lock()
	defer d.core.mu.Unlock()
	if _, ok := d.core.m[string(key)]; ok {
		return
	}
	d.core.store(ctx, string(key), bytes.Clone(value))
}

// Delete deletes key and reports whether it was present.
func (d *Dict) Delete(ctx context.Context, key msgpack.RawMessage) bool {
	d.core.mu.Lock()
	defer d.core.mu.Unlock()
	_, ok := d.core.remove(ctx, string(key))
	return ok
}

// Swap stores value under key and returns the previous value; OK reports
// whether there was one.
func (d *Dict) Swap(ctx context.Context, key, value msgpack.RawMessage) LoadResult {
	d.core.mu.Lock()
	defer d.core.mu.Unlock()
	prev, ok := d.core.store(ctx, string(key), value)
	return LoadResult{Value: prev, OK: ok}
}

// SwapAs is Swap for a caller that decodes only values of shape (see
// shape.go): a previous value that does not fit gives an error wrapping
// errs.WrongType, and value is not stored.
func (d *Dict) SwapAs(ctx context.Context, key, value, shape msgpack.RawMessage) (LoadResult, error) {
	s, err := parseShape(shape)
	if err != nil {
		return LoadResult{}, err
	}
	d.core.mu.Lock()
	defer d.core.mu.Unlock()
	if e, ok := d.core.m[string(key)]; ok {
		if err := fits(s, e.value, "it was not replaced"); err != nil {
			return LoadResult{}, err
		}
	}
	prev, ok := d.core.store(ctx, string(key), value)
	return LoadResult{Value: prev, OK: ok}, nil
}

// CompareAndSwap stores newValue under key if key is present and its value
// is byte-equal to old, and reports whether it did. An absent key is
// never swapped.
func (d *Dict) CompareAndSwap(ctx context.Context, key, old, newValue msgpack.RawMessage) bool {
	d.core.mu.Lock()
	defer d.core.mu.Unlock()
	e, ok := d.core.m[string(key)]
	if !ok || string(e.value) != string(old) {
		return false
	}
	d.core.store(ctx, string(key), newValue)
	return true
}

// CompareAndDelete deletes key if it is present and its value is
// byte-equal to old, and reports whether it did.
func (d *Dict) CompareAndDelete(ctx context.Context, key, old msgpack.RawMessage) bool {
	d.core.mu.Lock()
	defer d.core.mu.Unlock()
	e, ok := d.core.m[string(key)]
	if !ok || string(e.value) != string(old) {
		return false
	}
	d.core.remove(ctx, string(key))
	return true
}

// Clear deletes every entry.
func (d *Dict) Clear(ctx context.Context) {
	d.core.mu.Lock()
	defer d.core.mu.Unlock()
	d.core.clear(ctx)
}

// Len returns the number of entries.
func (d *Dict) Len() int {
	d.core.mu.Lock()
	defer d.core.mu.Unlock()
	return len(d.core.m)
}

// Has reports whether key is present (Python's "key in d").
func (d *Dict) Has(key msgpack.RawMessage) bool {
	d.core.mu.Lock()
	defer d.core.mu.Unlock()
	_, ok := d.core.m[string(key)]
	return ok
}

// Keys returns every key, in insertion order, in one call.
func (d *Dict) Keys() []msgpack.RawMessage {
	d.core.mu.Lock()
	defer d.core.mu.Unlock()
	out := make([]msgpack.RawMessage, 0, len(d.core.m))
	for _, e := range d.core.order {
		if e != nil {
			out = append(out, msgpack.RawMessage(e.key))
		}
	}
	return out
}

// Values returns every value, in the insertion order of their keys, in one
// call.
func (d *Dict) Values() []msgpack.RawMessage {
	d.core.mu.Lock()
	defer d.core.mu.Unlock()
	out := make([]msgpack.RawMessage, 0, len(d.core.m))
	for _, e := range d.core.order {
		if e != nil {
			out = append(out, e.value)
		}
	}
	return out
}

// Items returns every [key, value] pair, in insertion order, in one call:
// a consistent snapshot.
func (d *Dict) Items() []Pair {
	d.core.mu.Lock()
	defer d.core.mu.Unlock()
	out := make([]Pair, 0, len(d.core.m))
	for _, e := range d.core.order {
		if e != nil {
			out = append(out, Pair{Key: msgpack.RawMessage(e.key), Value: e.value})
		}
	}
	return out
}

// Copy is Python's dict.copy: the same snapshot as Items, which the client
// turns into a new local or shared dict.
func (d *Dict) Copy() []Pair {
	return d.Items()
}

// Update stores every pair, in order, atomically: no other call sees some
// of them stored and others not. A later duplicate key overwrites an
// earlier one, as in Python.
func (d *Dict) Update(ctx context.Context, items []Pair) {
	d.core.mu.Lock()
	defer d.core.mu.Unlock()
	for _, it := range items {
		d.core.store(ctx, string(it.Key), it.Value)
	}
}

// PopItem removes and returns the most recently inserted pair (Python's
// popitem is LIFO). On an empty dict it returns an error wrapping
// errs.Empty.
func (d *Dict) PopItem(ctx context.Context) (Pair, error) {
	return d.popItem(ctx, nil, nil)
}

// PopItemAs is PopItem for a caller that decodes only keys of keyShape
// and values of valueShape (see shape.go): an entry that does not fit
// gives an error wrapping errs.WrongType and stays in the dict.
func (d *Dict) PopItemAs(ctx context.Context, keyShape, valueShape msgpack.RawMessage) (Pair, error) {
	ks, err := parseShape(keyShape)
	if err != nil {
		return Pair{}, err
	}
	vs, err := parseShape(valueShape)
	if err != nil {
		return Pair{}, err
	}
	return d.popItem(ctx, ks, vs)
}

func (d *Dict) popItem(ctx context.Context, ks, vs *wire.Shape) (Pair, error) {
	d.core.mu.Lock()
	defer d.core.mu.Unlock()
	e := d.core.last()
	if e == nil {
		return Pair{}, fmt.Errorf("%w: popitem(): dictionary is empty", errs.Empty)
	}
	if err := fits(ks, keyBytes(e.key), "the entry stays in the dict"); err != nil {
		return Pair{}, fmt.Errorf("key: %w", err)
	}
	if err := fits(vs, e.value, "the entry stays in the dict"); err != nil {
		return Pair{}, err
	}
	d.core.remove(ctx, e.key)
	return Pair{Key: msgpack.RawMessage(e.key), Value: e.value}, nil
}

// LoadVersion returns the value stored under key with its version. For an
// absent key it returns OK false and Version 0.
func (d *Dict) LoadVersion(key msgpack.RawMessage) VersionedValue {
	d.core.mu.Lock()
	defer d.core.mu.Unlock()
	return d.core.loadVersion(string(key))
}

// StoreIfVersion stores value under key only if the entry is still at
// version — it has not been written since LoadVersion returned version —
// and reports whether it stored. Version 0 means "only if absent". A
// client builds an atomic Modify on this: load with version, compute,
// store if version, retry on false.
func (d *Dict) StoreIfVersion(ctx context.Context, key msgpack.RawMessage, version uint64, value msgpack.RawMessage) bool {
	d.core.mu.Lock()
	defer d.core.mu.Unlock()
	return d.core.storeIfVersion(ctx, string(key), version, value)
}

// Add atomically adds delta, an encoded integer or float, to the number
// stored under key and returns the new value, encoded. An absent key
// counts as zero of delta's kind. The sum keeps the stored value's kind
// (see the numeric rules on Value.Add); a stored value that is not a
// number, a float delta added to an integer, or an integer overflow
// returns an error wrapping errs.BadArguments and changes nothing.
func (d *Dict) Add(ctx context.Context, key, delta msgpack.RawMessage) (msgpack.RawMessage, error) {
	d.core.mu.Lock()
	defer d.core.mu.Unlock()
	sum, created, err := d.core.add(string(key), delta)
	if created {
		callctx.Retain(ctx, key)
	}
	return sum, err
}

// dictEntry is one entry of a dictCore.
type dictEntry struct {
	key     string             // the encoded key (or a Namespace name)
	value   msgpack.RawMessage // the encoded value
	version uint64             // changes on every write; never 0
	pos     int                // index in dictCore.order
	// ins numbers the entry's insertion, uniquely and increasing along
	// dictCore.order, and never changes: the cursor of ItemsFrom.
	ins uint64
}

// dictCore is an insertion-ordered map with per-entry versions, shared by
// Dict and Namespace. Its methods assume the caller holds mu, except init.
//
// Order is kept the way CPython does it: entries are appended to order, a
// deleted entry leaves a nil hole, and holes are squeezed out when they
// outnumber live entries, so every operation is amortised O(1).
type dictCore struct {
	// holdKeys is set for a Dict, whose keys are encoded values that may
	// carry proxies; a Namespace's are plain names. Set before use.
	holdKeys bool

	mu sync.Mutex // guards every field below, and the entries they point to

	m     map[string]*dictEntry
	order []*dictEntry // insertion order, with nil holes
	holes int          // number of nil holes in order
	seq   uint64       // last version handed out
}

func (c *dictCore) init() {
	c.m = make(map[string]*dictEntry)
}

// store sets key to value, as set does, holding value (and a new key)
// and releasing the value it replaces (see hold.go). It returns the
// replaced value and whether there was one.
func (c *dictCore) store(ctx context.Context, key string, value msgpack.RawMessage) (msgpack.RawMessage, bool) {
	callctx.Retain(ctx, value)
	prev, ok := c.set(key, value)
	if ok {
		callctx.Release(ctx, prev)
	} else if c.holdKeys {
		callctx.Retain(ctx, keyBytes(key))
	}
	return prev, ok
}

// set sets key to value, keeping key's place if present, and gives the
// entry a new version. It returns the replaced value and whether there
// was one. It neither holds nor releases: store does, for values that may
// carry proxies.
func (c *dictCore) set(key string, value msgpack.RawMessage) (msgpack.RawMessage, bool) {
	c.seq++
	if e, ok := c.m[key]; ok {
		prev := e.value
		e.value, e.version = value, c.seq
		return prev, true
	}
	e := &dictEntry{key: key, value: value, version: c.seq, pos: len(c.order), ins: c.seq}
	c.m[key] = e
	c.order = append(c.order, e)
	return nil, false
}

// remove deletes key, as delete does, and releases its value (and key).
func (c *dictCore) remove(ctx context.Context, key string) (*dictEntry, bool) {
	e, ok := c.delete(key)
	if ok {
		c.release(ctx, e)
	}
	return e, ok
}

// release releases what entry e held.
func (c *dictCore) release(ctx context.Context, e *dictEntry) {
	callctx.Release(ctx, e.value)
	if c.holdKeys {
		callctx.Release(ctx, keyBytes(e.key))
	}
}

// delete removes key and returns its entry.
func (c *dictCore) delete(key string) (*dictEntry, bool) {
	e, ok := c.m[key]
	if !ok {
		return nil, false
	}
	delete(c.m, key)
	c.order[e.pos] = nil
	c.holes++
	// Trailing holes are dropped at once, so last stays O(1) for PopItem.
	for len(c.order) > 0 && c.order[len(c.order)-1] == nil {
		c.order = c.order[:len(c.order)-1]
		c.holes--
	}
	if c.holes > len(c.m) {
		c.compact()
	}
	return e, true
}

// compact squeezes the holes out of order.
func (c *dictCore) compact() {
	live := make([]*dictEntry, 0, len(c.m))
	for _, e := range c.order {
		if e != nil {
			e.pos = len(live)
			live = append(live, e)
		}
	}
	c.order, c.holes = live, 0
}

// last returns the most recently inserted entry, or nil.
func (c *dictCore) last() *dictEntry {
	if len(c.order) == 0 {
		return nil
	}
	return c.order[len(c.order)-1] // never a hole: delete trims them
}

// clear deletes every entry, releasing their values. Versions keep
// counting up, so a version loaded before Clear never matches an entry
// stored after it.
func (c *dictCore) clear(ctx context.Context) {
	for _, e := range c.order {
		if e != nil {
			c.release(ctx, e)
		}
	}
	clear(c.m)
	c.order, c.holes = nil, 0
}

func (c *dictCore) loadVersion(key string) VersionedValue {
	if e, ok := c.m[key]; ok {
		return VersionedValue{Value: e.value, Version: e.version, OK: true}
	}
	return VersionedValue{}
}

func (c *dictCore) storeIfVersion(ctx context.Context, key string, version uint64, value msgpack.RawMessage) bool {
	e, ok := c.m[key]
	if version == 0 {
		if ok {
			return false // "only if absent", and it is present
		}
	} else if !ok || e.version != version {
		return false
	}
	c.store(ctx, key, value)
	return true
}

// add adds delta to the number under key (see Dict.Add) and returns the
// sum and whether it created the entry; the caller holds a new key.
func (c *dictCore) add(key string, delta msgpack.RawMessage) (msgpack.RawMessage, bool, error) {
	var cur msgpack.RawMessage
	if e, ok := c.m[key]; ok {
		cur = e.value
	} else {
		zero, err := numericZeroLike(delta)
		if err != nil {
			return nil, false, errs.Errorf("add delta: %w", err)
		}
		cur = zero
	}
	sum, err := numericAddTo(cur, delta)
	if err != nil {
		return nil, false, err
	}
	// A number replaces a number: no proxy is held or released.
	_, replaced := c.set(key, sum)
	return sum, !replaced, nil
}
