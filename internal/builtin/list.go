package builtin

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"math"
	"math/big"
	"slices"
	"sync"

	"github.com/vmihailenco/msgpack/v5"
	"github.com/vmihailenco/msgpack/v5/msgpcode"

	"github.com/goproc/manager/internal/callctx"
	"github.com/goproc/manager/internal/errs"
	"github.com/goproc/manager/internal/wire"
)

// VersionedList is the whole contents of a List or Array with its
// version, as returned by LoadVersion. It travels as a two-element array
// [items, version].
type VersionedList struct {
	//lint:ignore U1000 msgpack reads this field's tag (as_array), never its value
	_msgpack struct{} `msgpack:",as_array"`
	// Items is every element, encoded, in order.
	Items []msgpack.RawMessage
	// Version identifies this state of the whole list; pass it to
	// StoreIfVersion. It is never 0.
	Version uint64
}

// List is the server side of a shared list with Python's list semantics:
// negative indexes count from the end, slices clamp, Pop defaults (by the
// client passing -1) to the last element.
//
// Slice methods take their bounds as *int64: nil is an omitted bound
// (Python's a[:n] or a[::2]), so nil, nil, nil is the whole list. A step
// of 0 is an error wrapping errs.BadArguments. Elements are compared as
// bytes (Contains, Count, Index, Remove), except by Sort.
//
// The whole list has a version that changes on every write, for an
// optimistic read-modify-write of the whole list (LoadVersion,
// StoreIfVersion).
//
// Elements that carry proxies keep their objects alive while they are in
// the list (see callctx.Retain).
//
// A List is safe for concurrent use. No method blocks.
type List struct {
	mu      sync.Mutex           // guards items and version
	items   []msgpack.RawMessage // the encoded elements; never shared with a caller
	version uint64               // changes on every write; never 0
}

// NewList returns a list holding items (Python's manager.list(seq));
// items may be nil.
func NewList(ctx context.Context, items []msgpack.RawMessage) (*List, error) {
	retainAll(ctx, items)
	return &List{items: slices.Clone(items), version: 1}, nil
}

// Len returns the number of elements.
func (l *List) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.items)
}

// All returns every element, in order, in one call: a consistent
// snapshot.
func (l *List) All() []msgpack.RawMessage {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.items)
}

// Append adds value at the end.
func (l *List) Append(ctx context.Context, value msgpack.RawMessage) {
	l.mu.Lock()
	defer l.mu.Unlock()
	callctx.Retain(ctx, value)
	l.items = append(l.items, value)
	l.version++
}

// Extend adds values at the end, in order, atomically.
func (l *List) Extend(ctx context.Context, values []msgpack.RawMessage) {
	l.mu.Lock()
	defer l.mu.Unlock()
	retainAll(ctx, values)
	l.items = append(l.items, values...)
	l.version++
}

// Insert inserts value before index i. As in Python, i is clamped: a
// negative i counts from the end, below the start inserts first, past
// the end appends.
func (l *List) Insert(ctx context.Context, i int64, value msgpack.RawMessage) {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := int64(len(l.items))
	if i < 0 {
		i = max(i+n, 0)
	}
	i = min(i, n)
	callctx.Retain(ctx, value)
	l.items = slices.Insert(l.items, int(i), value)
	l.version++
}

// Pop removes and returns the element at index i; pass -1 for the last
// element (Python's default). An empty list or an index out of range
// returns an error wrapping errs.IndexOutOfRange.
func (l *List) Pop(ctx context.Context, i int64) (msgpack.RawMessage, error) {
	return l.pop(ctx, i, nil)
}

// PopAs is Pop for a caller that decodes only values of shape (see
// shape.go): an element that does not fit gives an error wrapping
// errs.WrongType and stays in the list.
func (l *List) PopAs(ctx context.Context, i int64, shape msgpack.RawMessage) (msgpack.RawMessage, error) {
	s, err := parseShape(shape)
	if err != nil {
		return nil, err
	}
	return l.pop(ctx, i, s)
}

func (l *List) pop(ctx context.Context, i int64, s *wire.Shape) (msgpack.RawMessage, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.items) == 0 {
		return nil, fmt.Errorf("%w: pop from empty list", errs.IndexOutOfRange)
	}
	k, err := listIndex(len(l.items), i, "pop index")
	if err != nil {
		return nil, err
	}
	v := l.items[k]
	if err := fits(s, v, "it stays in the list"); err != nil {
		return nil, err
	}
	callctx.Release(ctx, v)
	l.items = slices.Delete(l.items, k, k+1)
	l.version++
	return v, nil
}

// GiveBack puts back the element a Pop (or PopAs) removed for a caller that had
// given up before the reply reached it (see callctx.GiveBacker), at the
// index it was popped from (clamped, so the end for Pop(-1), when the
// list has changed since). It does not block.
func (l *List) GiveBack(ctx context.Context, method, code string, args, result []byte) {
	if code != "" || (method != "Pop" && method != "PopAs") {
		return
	}
	var a []msgpack.RawMessage // the index, then the shape for PopAs
	var i int64
	if msgpack.Unmarshal(args, &a) != nil || len(a) < 1 || msgpack.Unmarshal(a[0], &i) != nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if i < 0 {
		// It was at n+i of n elements; n-1 are left.
		i += int64(len(l.items)) + 1
	}
	i = max(0, min(i, int64(len(l.items))))
	v := msgpack.RawMessage(bytes.Clone(result))
	callctx.Retain(ctx, v)
	l.items = slices.Insert(l.items, int(i), v)
	l.version++
}

// Remove removes the first element byte-equal to value. If there is none
// it returns an error wrapping errs.NotFound.
func (l *List) Remove(ctx context.Context, value msgpack.RawMessage) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	k := slices.IndexFunc(l.items, func(e msgpack.RawMessage) bool { return string(e) == string(value) })
	if k < 0 {
		return fmt.Errorf("%w: list.remove(x): x not in list", errs.NotFound)
	}
	callctx.Release(ctx, l.items[k])
	l.items = slices.Delete(l.items, k, k+1)
	l.version++
	return nil
}

// Index returns the index of the first element byte-equal to value within
// [start, stop), Python's list.index(x, start, stop): nil bounds mean the
// whole list, negative bounds count from the end, and bounds clamp. If
// there is none it returns an error wrapping errs.NotFound.
func (l *List) Index(value msgpack.RawMessage, start, stop *int64) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := int64(len(l.items))
	lo, hi := int64(0), n
	if start != nil {
		lo = listClampIndex(*start, n)
	}
	if stop != nil {
		hi = listClampIndex(*stop, n)
	}
	for k := lo; k < hi; k++ {
		if string(l.items[k]) == string(value) {
			return int(k), nil
		}
	}
	return 0, fmt.Errorf("%w: list.index(x): x not in list", errs.NotFound)
}

// Count returns the number of elements byte-equal to value.
func (l *List) Count(value msgpack.RawMessage) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	c := 0
	for _, e := range l.items {
		if string(e) == string(value) {
			c++
		}
	}
	return c
}

// Contains reports whether an element is byte-equal to value (Python's
// "x in a").
func (l *List) Contains(value msgpack.RawMessage) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.ContainsFunc(l.items, func(e msgpack.RawMessage) bool { return string(e) == string(value) })
}

// Reverse reverses the list in place.
func (l *List) Reverse() {
	l.mu.Lock()
	defer l.mu.Unlock()
	slices.Reverse(l.items)
	l.version++
}

// Sort sorts the list in place, stably, ascending or (reverse true)
// descending; as in Python, reverse keeps equal elements in their
// original order.
//
// Sort decodes the elements to compare them. Integers (signed and
// unsigned), floats and bools compare numerically with each other, exactly
// (true is 1, as in Python); a NaN sorts before every other number.
// Strings compare with strings, by code point. Any other element, or a mix
// of strings and numbers, returns an error wrapping errs.BadArguments and
// leaves the list unchanged. As in Python, a list of fewer than two
// elements is never compared, so it sorts without error.
func (l *List) Sort(reverse bool) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.items) < 2 {
		l.version++
		return nil
	}
	keyed, err := listSortKeys(l.items)
	if err != nil {
		return err
	}
	slices.SortStableFunc(keyed, func(a, b listKeyed) int {
		if reverse {
			return listCompare(b.key, a.key)
		}
		return listCompare(a.key, b.key)
	})
	for k, e := range keyed {
		l.items[k] = e.value
	}
	l.version++
	return nil
}

// Get returns the element at index i (negative counts from the end). An
// index out of range returns an error wrapping errs.IndexOutOfRange.
func (l *List) Get(i int64) (msgpack.RawMessage, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	k, err := listIndex(len(l.items), i, "list index")
	if err != nil {
		return nil, err
	}
	return l.items[k], nil
}

// Set sets the element at index i (negative counts from the end). An
// index out of range returns an error wrapping errs.IndexOutOfRange.
func (l *List) Set(ctx context.Context, i int64, value msgpack.RawMessage) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	k, err := listIndex(len(l.items), i, "list assignment index")
	if err != nil {
		return err
	}
	callctx.Retain(ctx, value)
	callctx.Release(ctx, l.items[k])
	l.items[k] = value
	l.version++
	return nil
}

// Delete deletes the element at index i (negative counts from the end).
// An index out of range returns an error wrapping errs.IndexOutOfRange.
func (l *List) Delete(ctx context.Context, i int64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	k, err := listIndex(len(l.items), i, "list assignment index")
	if err != nil {
		return err
	}
	callctx.Release(ctx, l.items[k])
	l.items = slices.Delete(l.items, k, k+1)
	l.version++
	return nil
}

// GetSlice returns a[start:stop:step] with Python's slice rules; nil is
// an omitted bound. A zero step returns an error wrapping
// errs.BadArguments.
func (l *List) GetSlice(start, stop, step *int64) ([]msgpack.RawMessage, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	s, err := listResolveSlice(len(l.items), start, stop, step)
	if err != nil {
		return nil, err
	}
	return s.get(l.items), nil
}

// SetSlice assigns values to a[start:stop:step] with Python's rules; nil
// is an omitted bound. With a step of 1 (or nil) the slice is replaced and
// the list may grow or shrink. With any other step the slice must have as
// many elements as values, else the call returns an error wrapping
// errs.BadArguments and changes nothing; so does a zero step.
func (l *List) SetSlice(ctx context.Context, start, stop, step *int64, values []msgpack.RawMessage) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	s, err := listResolveSlice(len(l.items), start, stop, step)
	if err != nil {
		return err
	}
	if s.step == 1 {
		hi := max(s.start, s.stop)
		retainAll(ctx, values)
		releaseAll(ctx, l.items[s.start:hi])
		l.items = slices.Replace(l.items, s.start, hi, values...)
		l.version++
		return nil
	}
	if len(values) != s.n {
		return fmt.Errorf("%w: attempt to assign sequence of size %d to extended slice of size %d", errs.BadArguments, len(values), s.n)
	}
	s.replace(ctx, l.items, values)
	l.version++
	return nil
}

// DeleteSlice deletes a[start:stop:step] with Python's rules; nil is an
// omitted bound. A zero step returns an error wrapping errs.BadArguments.
func (l *List) DeleteSlice(ctx context.Context, start, stop, step *int64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	s, err := listResolveSlice(len(l.items), start, stop, step)
	if err != nil {
		return err
	}
	if s.n == 0 {
		return nil
	}
	drop := make([]bool, len(l.items))
	for k := range s.n {
		drop[s.index(k)] = true
	}
	kept := l.items[:0]
	for k, e := range l.items {
		if drop[k] {
			callctx.Release(ctx, e)
		} else {
			kept = append(kept, e)
		}
	}
	clear(l.items[len(kept):]) // let the dropped values be collected
	l.items = kept
	l.version++
	return nil
}

// Clear deletes every element.
func (l *List) Clear(ctx context.Context) {
	l.mu.Lock()
	defer l.mu.Unlock()
	releaseAll(ctx, l.items)
	l.items = nil
	l.version++
}

// LoadVersion returns every element with the version of the whole list,
// in one call.
func (l *List) LoadVersion() VersionedList {
	l.mu.Lock()
	defer l.mu.Unlock()
	return VersionedList{Items: slices.Clone(l.items), Version: l.version}
}

// StoreIfVersion replaces the whole contents with items only if the list
// is still at version — it has not been written since LoadVersion
// returned version — and reports whether it did.
func (l *List) StoreIfVersion(ctx context.Context, version uint64, items []msgpack.RawMessage) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.version != version {
		return false
	}
	retainAll(ctx, items)
	releaseAll(ctx, l.items)
	l.items = slices.Clone(items)
	l.version++
	return true
}

// listIndex resolves a Python index i (negative counts from the end)
// against length, or returns an error wrapping errs.IndexOutOfRange that
// starts with what ("list index").
func listIndex(length int, i int64, what string) (int, error) {
	n := int64(length)
	k := i
	if k < 0 {
		k += n
	}
	if k < 0 || k >= n {
		return 0, fmt.Errorf("%w: %s %d out of range for length %d", errs.IndexOutOfRange, what, i, length)
	}
	return int(k), nil
}

// listClampIndex resolves a bound of list.index: negative counts from the
// end, and the result is clamped to [0, n].
func listClampIndex(i, n int64) int64 {
	if i < 0 {
		i = max(i+n, 0)
	}
	return min(i, n)
}

// listSlice is a slice a[start:stop:step] resolved against a length by
// Python's rules (PySlice_Unpack and PySlice_AdjustIndices): it selects
// the n indexes start, start+step, ..., start+(n-1)*step.
type listSlice struct {
	start, stop, step, n int
}

// listResolveSlice resolves the bounds of a slice (nil = omitted) against
// length. A zero step returns an error wrapping errs.BadArguments.
func listResolveSlice(length int, start, stop, step *int64) (listSlice, error) {
	st := int64(1)
	if step != nil {
		st = *step
	}
	if st == 0 {
		return listSlice{}, fmt.Errorf("%w: slice step cannot be zero", errs.BadArguments)
	}
	// As CPython does, so that -step cannot overflow.
	st = max(st, -math.MaxInt64)

	n := int64(length)
	var lo, hi int64
	if start == nil {
		lo = 0
		if st < 0 {
			lo = math.MaxInt64
		}
	} else {
		lo = *start
	}
	if stop == nil {
		hi = math.MaxInt64
		if st < 0 {
			hi = math.MinInt64
		}
	} else {
		hi = *stop
	}
	lo, hi = listAdjustBound(lo, n, st), listAdjustBound(hi, n, st)

	var count int64
	switch {
	case st < 0 && hi < lo:
		count = (lo-hi-1)/(-st) + 1
	case st > 0 && lo < hi:
		count = (hi-lo-1)/st + 1
	}
	return listSlice{start: int(lo), stop: int(hi), step: int(st), n: int(count)}, nil
}

// listAdjustBound clamps one slice bound as PySlice_AdjustIndices does.
func listAdjustBound(b, n, step int64) int64 {
	switch {
	case b < 0:
		b += n
		if b < 0 {
			if step < 0 {
				return -1
			}
			return 0
		}
	case b >= n:
		if step < 0 {
			return n - 1
		}
		return n
	}
	return b
}

// index returns the list index of the k-th element of the slice.
func (s listSlice) index(k int) int { return s.start + k*s.step }

// get returns a new slice holding the selected elements of items.
func (s listSlice) get(items []msgpack.RawMessage) []msgpack.RawMessage {
	out := make([]msgpack.RawMessage, s.n)
	for k := range out {
		out[k] = items[s.index(k)]
	}
	return out
}

// replace stores values[k] at the k-th selected index of items, holding
// the new values and releasing those they replace; the caller has
// checked len(values) == s.n.
func (s listSlice) replace(ctx context.Context, items, values []msgpack.RawMessage) {
	for k, v := range values {
		i := s.index(k)
		callctx.Retain(ctx, v)
		callctx.Release(ctx, items[i])
		items[i] = v
	}
}

// listKeyed is an element with its decoded sort key.
type listKeyed struct {
	key   listSortKey
	value msgpack.RawMessage
}

// listSortKey is an element of a List decoded for Sort: a string, or a
// number held exactly as an integer (int64, or uint64 above MaxInt64) or a
// float64.
type listSortKey struct {
	isStr   bool
	s       string
	isFloat bool
	f       float64
	isBig   bool   // an integer above MaxInt64, held in u
	i       int64  // an integer that fits int64
	u       uint64 // an integer above MaxInt64
}

// listSortKeys decodes every element of items, or returns an error
// wrapping errs.BadArguments if one is not sortable or strings and
// numbers are mixed.
func listSortKeys(items []msgpack.RawMessage) ([]listKeyed, error) {
	keyed := make([]listKeyed, len(items))
	for k, raw := range items {
		key, err := listDecodeSortKey(raw)
		if err != nil {
			return nil, errs.Errorf("sort element %d: %w", k, err)
		}
		if k > 0 && key.isStr != keyed[0].key.isStr {
			return nil, fmt.Errorf("%w: sort: cannot compare strings with numbers (elements 0 and %d)", errs.BadArguments, k)
		}
		keyed[k] = listKeyed{key: key, value: raw}
	}
	return keyed, nil
}

// listDecodeSortKey decodes one element for Sort.
func listDecodeSortKey(raw msgpack.RawMessage) (listSortKey, error) {
	if len(raw) == 0 {
		return listSortKey{}, fmt.Errorf("%w: sort: empty element", errs.BadArguments)
	}
	switch c := raw[0]; {
	case c == msgpcode.False:
		return listSortKey{}, nil
	case c == msgpcode.True:
		return listSortKey{i: 1}, nil
	case msgpcode.IsString(c):
		var s string
		if err := msgpack.Unmarshal(raw, &s); err != nil {
			return listSortKey{}, fmt.Errorf("%w: sort: malformed string: %v", errs.BadArguments, err)
		}
		return listSortKey{isStr: true, s: s}, nil
	}
	v, err := numericDecode(raw)
	if err != nil {
		return listSortKey{}, fmt.Errorf("%w: sort supports numbers, bools and strings (msgpack code 0x%02x)", errs.BadArguments, raw[0])
	}
	switch {
	case v.kind == numericFloat:
		return listSortKey{isFloat: true, f: v.f}, nil
	case v.i.IsInt64():
		return listSortKey{i: v.i.Int64()}, nil
	default:
		return listSortKey{isBig: true, u: v.i.Uint64()}, nil
	}
}

// listCompare orders two keys of the same class (both strings or both
// numbers). Numbers compare exactly across integers and floats; a NaN is
// below every other number and equal to another NaN, which keeps the
// order a strict weak order.
func listCompare(a, b listSortKey) int {
	switch {
	case a.isStr:
		return cmp.Compare(a.s, b.s)
	case a.isFloat && b.isFloat:
		return cmp.Compare(a.f, b.f)
	case a.isFloat:
		return -listCompareIntFloat(b, a.f)
	case b.isFloat:
		return listCompareIntFloat(a, b.f)
	case a.isBig && b.isBig:
		return cmp.Compare(a.u, b.u)
	case a.isBig:
		return 1
	case b.isBig:
		return -1
	}
	return cmp.Compare(a.i, b.i)
}

// listCompareIntFloat compares the integer key a with f exactly.
func listCompareIntFloat(a listSortKey, f float64) int {
	if math.IsNaN(f) {
		return 1
	}
	bf := new(big.Float)
	if a.isBig {
		bf.SetUint64(a.u)
	} else {
		bf.SetInt64(a.i)
	}
	return bf.Cmp(big.NewFloat(f))
}
