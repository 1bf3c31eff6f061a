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
// Entries are kept in a compact table (see compact.go) that gives the
// garbage collector nothing to scan per entry, so a dict of millions of
// entries costs about its bytes plus 50 per entry. The values a method
// returns are copies (or, for a big entry, the very bytes stored, which
// are never modified).
//
// A Dict is safe for concurrent use. No method blocks.
type Dict struct {
	core dictCore
}

// NewDict returns a dict holding items, stored in order as by Update (a
// later duplicate key overwrites an earlier one). items may be nil.
func NewDict(ctx context.Context, items []Pair) (*Dict, error) {
	d := &Dict{core: dictCore{holdKeys: true}}
	d.core.t = newTable(d)
	for _, it := range items {
		d.core.store(ctx, it.Key, it.Value, false)
	}
	return d, nil
}

// Load returns the value stored under key; OK reports whether it was
// present.
func (d *Dict) Load(key msgpack.RawMessage) LoadResult {
	d.core.mu.Lock()
	defer d.core.mu.Unlock()
	return d.core.load(key)
}

// LoadMany loads each of keys under one lock: result i is what Load
// would give for keys[i]. A reply is bounded by the frame size as any
// other; the caller splits very long key lists.
func (d *Dict) LoadMany(keys []msgpack.RawMessage) []LoadResult {
	out := make([]LoadResult, len(keys))
	d.core.mu.Lock()
	defer d.core.mu.Unlock()
	for i, k := range keys {
		out[i] = d.core.load(k)
	}
	return out
}

// Store sets the value for key.
func (d *Dict) Store(ctx context.Context, key, value msgpack.RawMessage) {
	d.core.mu.Lock()
	defer d.core.mu.Unlock()
	d.core.store(ctx, key, value, false)
}

// LoadOrStore returns the existing value for key if present (OK true,
// "loaded"); otherwise it stores value and returns it with OK false.
func (d *Dict) LoadOrStore(ctx context.Context, key, value msgpack.RawMessage) LoadResult {
	d.core.mu.Lock()
	defer d.core.mu.Unlock()
	p := d.core.t.find(key)
	if p.found() {
		return d.core.result(p.idx)
	}
	d.core.storeAt(ctx, p, key, value, false)
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
	r, _ := d.LoadAndDeleteAs(ctx, key, nil)
	return r
}

// LoadAndDeleteAs is LoadAndDelete for a caller that decodes only values
// of shape (see shape.go): a value that does not fit gives an error
// wrapping errs.WrongType and stays in the dict.
func (d *Dict) LoadAndDeleteAs(ctx context.Context, key, shape msgpack.RawMessage) (LoadResult, error) {
	return d.withFitting(key, shape, "it stays in the dict", func(p probe) LoadResult {
		if !p.found() {
			return LoadResult{}
		}
		r := d.core.result(p.idx)
		d.core.removeAt(ctx, p)
		return r
	})
}

// withFitting calls f, under the lock, with the probe of key, after
// checking that key's value (if present) fits shape (see shape.go): one
// that does not gives an error wrapping errs.WrongType that says what
// becomes of it (keep), and f is not called.
func (d *Dict) withFitting(key, shape msgpack.RawMessage, keep string, f func(p probe) LoadResult) (LoadResult, error) {
	s, err := parseShape(shape)
	if err != nil {
		return LoadResult{}, err
	}
	d.core.mu.Lock()
	defer d.core.mu.Unlock()
	p := d.core.t.find(key)
	if p.found() {
		if err := fits(s, d.core.t.value(p.idx), keep); err != nil {
			return LoadResult{}, err
		}
	}
	return f(p), nil
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
	p := d.core.t.find(key)
	if p.found() {
		return
	}
	d.core.storeAt(ctx, p, bytes.Clone(key), bytes.Clone(value), false)
}

// Delete deletes key and reports whether it was present.
func (d *Dict) Delete(ctx context.Context, key msgpack.RawMessage) bool {
	d.core.mu.Lock()
	defer d.core.mu.Unlock()
	return d.core.remove(ctx, key)
}

// Swap stores value under key and returns the previous value; OK reports
// whether there was one.
func (d *Dict) Swap(ctx context.Context, key, value msgpack.RawMessage) LoadResult {
	r, _ := d.SwapAs(ctx, key, value, nil)
	return r
}

// SwapAs is Swap for a caller that decodes only values of shape (see
// shape.go): a previous value that does not fit gives an error wrapping
// errs.WrongType, and value is not stored.
func (d *Dict) SwapAs(ctx context.Context, key, value, shape msgpack.RawMessage) (LoadResult, error) {
	return d.withFitting(key, shape, "it was not replaced", func(p probe) LoadResult {
		prev, ok := d.core.storeAt(ctx, p, key, value, true)
		return LoadResult{Value: prev, OK: ok}
	})
}

// CompareAndSwap stores newValue under key if key is present and its value
// is byte-equal to old, and reports whether it did. An absent key is
// never swapped.
func (d *Dict) CompareAndSwap(ctx context.Context, key, old, newValue msgpack.RawMessage) bool {
	d.core.mu.Lock()
	defer d.core.mu.Unlock()
	p, ok := d.core.findEqual(key, old)
	if ok {
		d.core.storeAt(ctx, p, key, newValue, false)
	}
	return ok
}

// CompareAndDelete deletes key if it is present and its value is
// byte-equal to old, and reports whether it did.
func (d *Dict) CompareAndDelete(ctx context.Context, key, old msgpack.RawMessage) bool {
	d.core.mu.Lock()
	defer d.core.mu.Unlock()
	p, ok := d.core.findEqual(key, old)
	if ok {
		d.core.removeAt(ctx, p)
	}
	return ok
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
	return d.core.t.live
}

// Has reports whether key is present (Python's "key in d").
func (d *Dict) Has(key msgpack.RawMessage) bool {
	return d.core.has(key)
}

// Keys returns every key, in insertion order, in one call.
func (d *Dict) Keys() []msgpack.RawMessage {
	return collect(&d.core, func(k, _ []byte) msgpack.RawMessage { return k }, true, false)
}

// Values returns every value, in the insertion order of their keys, in one
// call.
func (d *Dict) Values() []msgpack.RawMessage {
	return collect(&d.core, func(_, v []byte) msgpack.RawMessage { return v }, false, true)
}

// Items returns every [key, value] pair, in insertion order, in one call:
// a consistent snapshot.
func (d *Dict) Items() []Pair {
	return collect(&d.core, func(k, v []byte) Pair { return Pair{Key: k, Value: v} }, true, true)
}

// Copy is Python's dict.copy: the same snapshot as Items, which the client
// turns into a new local or shared dict.
func (d *Dict) Copy() []Pair {
	return d.Items()
}

// Update stores every pair, in order, atomically: no other call sees some
// of them stored and others not. A later duplicate key overwrites an
// earlier one, as in Python.
func (d *Dict) Update(ctx context.Context, items Pairs) {
	d.core.mu.Lock()
	defer d.core.mu.Unlock()
	for _, it := range items {
		k, v := it.Key, it.Value
		if len(k)+len(v) > arenaMaxEntry {
			// Kept as given (see compact.go): not as a part of the
			// whole list, which it would keep alive.
			k, v = bytes.Clone(k), bytes.Clone(v)
		}
		d.core.store(ctx, k, v, false)
	}
}

// Pairs is a list of pairs as an argument (Update's), encoded as an array
// of [key, value] arrays. It decodes in one piece: every key and value
// is a part of one copy of the encoded list, where decoding into []Pair
// would make two allocations per pair.
type Pairs []Pair

// DecodeMsgpack implements msgpack.CustomDecoder. Anything but an array
// (or nil) of two-element arrays is an error.
func (ps *Pairs) DecodeMsgpack(dec *msgpack.Decoder) error {
	raw, err := dec.DecodeRaw()
	if err != nil {
		return err
	}
	r := bytes.NewReader(raw)
	d := msgpack.GetDecoder()
	defer msgpack.PutDecoder(d)
	d.Reset(r) // a bytes.Reader is read without buffering: r.Len() is exact
	n, err := d.DecodeArrayLen()
	if err != nil {
		return err
	}
	if n < 0 {
		*ps = nil
		return nil
	}
	if n > len(raw)/3 { // a pair takes 3 bytes at least
		return fmt.Errorf("msgpack: %d pairs in %d bytes", n, len(raw))
	}
	out := make(Pairs, n)
	at := func() int { return len(raw) - r.Len() }
	for i := range out {
		if m, err := d.DecodeArrayLen(); err != nil || m != 2 {
			return fmt.Errorf("msgpack: pair %d is not a [key, value] array", i)
		}
		start := at()
		if err := d.Skip(); err != nil {
			return err
		}
		mid := at()
		if err := d.Skip(); err != nil {
			return err
		}
		end := at()
		out[i] = Pair{Key: raw[start:mid:mid], Value: raw[mid:end:end]}
	}
	*ps = out
	return nil
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
	t := d.core.t
	i := t.end() - 1 // never a hole: remove trims them
	if i < 0 {
		return Pair{}, fmt.Errorf("%w: popitem(): dictionary is empty", errs.Empty)
	}
	k, v := t.key(i), t.value(i)
	if err := fits(ks, k, "the entry stays in the dict"); err != nil {
		return Pair{}, fmt.Errorf("key: %w", err)
	}
	if err := fits(vs, v, "the entry stays in the dict"); err != nil {
		return Pair{}, err
	}
	out := Pair{Key: t.out(i, k), Value: t.out(i, v)}
	d.core.removeAt(ctx, t.find(k))
	return out, nil
}

// LoadVersion returns the value stored under key with its version. For an
// absent key it returns OK false and Version 0.
func (d *Dict) LoadVersion(key msgpack.RawMessage) VersionedValue {
	return d.core.loadVersion(key)
}

// StoreIfVersion stores value under key only if the entry is still at
// version — it has not been written since LoadVersion returned version —
// and reports whether it stored. Version 0 means "only if absent". A
// client builds an atomic Modify on this: load with version, compute,
// store if version, retry on false.
func (d *Dict) StoreIfVersion(ctx context.Context, key msgpack.RawMessage, version uint64, value msgpack.RawMessage) bool {
	return d.core.storeIfVersion(ctx, key, version, value)
}

// Add atomically adds delta, an encoded integer or float, to the number
// stored under key and returns the new value, encoded. An absent key
// counts as zero of delta's kind. The sum keeps the stored value's kind
// (see the numeric rules on Value.Add); a stored value that is not a
// number, a float delta added to an integer, or an integer overflow
// returns an error wrapping errs.BadArguments and changes nothing.
func (d *Dict) Add(ctx context.Context, key, delta msgpack.RawMessage) (msgpack.RawMessage, error) {
	return d.core.add(ctx, key, delta)
}

// dictCore is an insertion-ordered map with per-entry versions, shared by
// Dict and Namespace, over a compact table. The methods that take no lock
// assume the caller holds mu.
type dictCore struct {
	// holdKeys is set for a Dict, whose keys are encoded values that may
	// carry proxies; a Namespace's are plain names. Set before use.
	holdKeys bool

	mu  sync.Mutex // guards t and seq
	t   *table     // set by the owner's constructor
	seq uint64     // last version handed out
}

// result is entry i's value as a LoadResult that may outlive the lock.
func (c *dictCore) result(i int) LoadResult {
	return LoadResult{Value: c.t.out(i, c.t.value(i)), OK: true}
}

// load returns the value under key.
func (c *dictCore) load(key []byte) LoadResult {
	if p := c.t.find(key); p.found() {
		return c.result(p.idx)
	}
	return LoadResult{}
}

// has reports whether key is present. It locks mu.
func (c *dictCore) has(key []byte) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t.find(key).found()
}

// findEqual finds key and reports whether its value is byte-equal to
// value.
func (c *dictCore) findEqual(key, value []byte) (probe, bool) {
	p := c.t.find(key)
	return p, p.found() && bytes.Equal(c.t.value(p.idx), value)
}

// store sets key to value, as storeAt does.
func (c *dictCore) store(ctx context.Context, key, value []byte, keepPrev bool) ([]byte, bool) {
	return c.storeAt(ctx, c.t.find(key), key, value, keepPrev)
}

// storeAt sets key, probed as p, to value, keeping key's place if present,
// and gives the entry a new version. It holds value (and a new key) and
// releases the value it replaces (see hold.go). It reports whether there
// was a value, and returns it if keepPrev.
func (c *dictCore) storeAt(ctx context.Context, p probe, key, value []byte, keepPrev bool) (prev []byte, ok bool) {
	callctx.Retain(ctx, value)
	c.seq++
	if !p.found() {
		if c.holdKeys {
			callctx.Retain(ctx, key)
		}
		c.t.insert(p, key, value, c.seq)
		return nil, false
	}
	old := c.t.value(p.idx)
	callctx.Release(ctx, old)
	if keepPrev {
		prev = c.t.out(p.idx, old)
	}
	c.t.replace(p.idx, value, c.seq)
	return prev, true
}

// remove deletes key, as removeAt does, and reports whether it was
// present.
func (c *dictCore) remove(ctx context.Context, key []byte) bool {
	p := c.t.find(key)
	if p.found() {
		c.removeAt(ctx, p)
	}
	return p.found()
}

// removeAt deletes the entry p found and releases its value (and key).
func (c *dictCore) removeAt(ctx context.Context, p probe) {
	c.release(ctx, p.idx)
	c.t.remove(p)
}

// release releases what entry i holds.
func (c *dictCore) release(ctx context.Context, i int) {
	callctx.Release(ctx, c.t.value(i))
	if c.holdKeys {
		callctx.Release(ctx, c.t.key(i))
	}
}

// clear deletes every entry, releasing their values. Versions keep
// counting up, so a version loaded before Clear never matches an entry
// stored after it.
func (c *dictCore) clear(ctx context.Context) {
	for i := range c.t.end() {
		if c.t.at(i).version != 0 {
			c.release(ctx, i)
		}
	}
	c.t.reset()
}

// collect returns f(key, value) of every entry in order, under the lock,
// with the keys (if withKeys) and values (if withValues) copied into one
// buffer that outlives it; the others are nil.
func collect[T any](c *dictCore, f func(k, v []byte) T, withKeys, withValues bool) []T {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.t
	size := 0
	for i := range t.end() {
		if e := t.at(i); e.version != 0 && e.pos&bigFlag == 0 {
			size += int(e.klen + e.vlen)
		}
	}
	buf := make([]byte, 0, size)
	part := func(i int, b []byte, want bool) []byte {
		if !want {
			return nil
		}
		if t.at(i).pos&bigFlag != 0 {
			return b
		}
		buf = append(buf, b...)
		return buf[len(buf)-len(b) : len(buf) : len(buf)]
	}
	out := make([]T, 0, t.live)
	for i := range t.end() {
		if t.at(i).version != 0 {
			out = append(out, f(part(i, t.key(i), withKeys), part(i, t.value(i), withValues)))
		}
	}
	return out
}

// loadVersion returns key's value and version. It locks mu.
func (c *dictCore) loadVersion(key []byte) VersionedValue {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.t.find(key)
	if !p.found() {
		return VersionedValue{}
	}
	r := c.result(p.idx)
	return VersionedValue{Value: r.Value, Version: c.t.at(p.idx).version, OK: true}
}

// storeIfVersion is StoreIfVersion. It locks mu.
func (c *dictCore) storeIfVersion(ctx context.Context, key []byte, version uint64, value msgpack.RawMessage) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.t.find(key)
	if version == 0 {
		if p.found() {
			return false // "only if absent", and it is present
		}
	} else if !p.found() || c.t.at(p.idx).version != version {
		return false
	}
	c.storeAt(ctx, p, key, value, false)
	return true
}

// add adds delta to the number under key (see Dict.Add) and returns the
// sum. A number replaces a number, so no value is held or released; a
// key it creates is held. It locks mu.
func (c *dictCore) add(ctx context.Context, key, delta []byte) (msgpack.RawMessage, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.t.find(key)
	var cur msgpack.RawMessage
	if p.found() {
		cur = c.t.value(p.idx)
	} else {
		zero, err := numericZeroLike(delta)
		if err != nil {
			return nil, errs.Errorf("add delta: %w", err)
		}
		cur = zero
	}
	sum, err := numericAddTo(cur, delta)
	if err != nil {
		return nil, err
	}
	// storeAt without holding: sum carries no proxy.
	c.seq++
	if p.found() {
		c.t.replace(p.idx, sum, c.seq)
	} else {
		if c.holdKeys {
			callctx.Retain(ctx, key)
		}
		c.t.insert(p, key, sum, c.seq)
	}
	return sum, nil
}
