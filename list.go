package manager

import (
	"context"
	"fmt"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/goproc/manager/internal/builtin"
)

type listType struct{}

func (listType) typeID() string { return builtin.TypeList }

// A List is a proxy to a shared list in a manager, Python's
// manager.list(), holding elements of type T with Python's list rules:
// negative indexes count from the end, slices clamp to the list, Pop(-1)
// takes the last element.
//
// Elements travel msgpack-encoded and are compared by their encoding
// (Contains, Count, Index, Remove); Sort decodes them and orders numbers
// and strings. Get returns a copy: changing it changes nothing in the
// manager until it is Set back (use Modify to change the list safely).
//
// Every method makes one round trip to the manager (Modify at least two)
// and takes ctx first; none blocks on other callers. A List is safe for
// concurrent use, and can be passed to Fork or stored in another shared
// object.
type List[T any] struct {
	proxyCore[listType]
}

// NewList creates a shared list holding items (Python's
// manager.list(items)) and returns a proxy to it. The list is freed once
// every proxy to it, in every process, is closed (or its process has
// exited). It blocks for one round trip.
func NewList[T any](ctx context.Context, s Session, items ...T) (*List[T], error) {
	args, err := encodeValues(items)
	if err != nil {
		return nil, err
	}
	h, err := newObject[listType](ctx, s, "", false, args)
	if err != nil {
		return nil, err
	}
	return &List[T]{h}, nil
}

// OpenList returns a proxy to the shared list named name, creating it
// with items if there is none (items are ignored otherwise). It lives
// until Client.Delete(name) or the manager's shutdown. A name taken by an
// object of another type gives an error satisfying
// errors.Is(err, ErrWrongType). It blocks for one round trip.
func OpenList[T any](ctx context.Context, s Session, name string, items ...T) (*List[T], error) {
	args, err := encodeValues(items)
	if err != nil {
		return nil, err
	}
	h, err := newObject[listType](ctx, s, name, true, args)
	if err != nil {
		return nil, err
	}
	return &List[T]{h}, nil
}

// Len returns the number of elements (Python's len(a)).
func (l *List[T]) Len(ctx context.Context) (int, error) {
	var n int
	err := l.core().call(ctx, "Len", &n)
	return n, err
}

// Get returns the element at index i (negative counts from the end;
// Python's a[i]). An index out of range gives an error satisfying
// errors.Is(err, ErrIndexOutOfRange).
func (l *List[T]) Get(ctx context.Context, i int) (T, error) {
	var v T
	if err := l.core().call(ctx, "Get", &v, int64(i)); err != nil {
		var zero T
		return zero, err
	}
	return v, nil
}

// Set sets the element at index i (Python's a[i] = v). An index out of
// range gives an error satisfying errors.Is(err, ErrIndexOutOfRange).
func (l *List[T]) Set(ctx context.Context, i int, v T) error {
	arg, err := encodeValue(v)
	if err != nil {
		return err
	}
	return l.core().call(ctx, "Set", nil, int64(i), arg)
}

// Delete deletes the element at index i (Python's del a[i]). An index out
// of range gives an error satisfying errors.Is(err, ErrIndexOutOfRange).
func (l *List[T]) Delete(ctx context.Context, i int) error {
	return l.core().call(ctx, "Delete", nil, int64(i))
}

// Copy returns every element, in order, in one round trip: a consistent
// snapshot (Python's a.copy(), a[:] or list(a)). All walks the list in
// pages instead, for lists too big for one reply.
func (l *List[T]) Copy(ctx context.Context) ([]T, error) {
	var items []T
	err := l.core().call(ctx, "All", &items)
	return items, err
}

// GetSlice returns the elements s selects, in one round trip (Python's
// a[start:stop:step]). A zero step is impossible: see Slice.
func (l *List[T]) GetSlice(ctx context.Context, s Slice) ([]T, error) {
	start, stop, step := s.bounds()
	var items []T
	err := l.core().call(ctx, "GetSlice", &items, start, stop, step)
	return items, err
}

// SetSlice replaces the elements s selects with values (Python's
// a[start:stop:step] = values). With a step of 1 the list may grow or
// shrink; with any other step values must have as many elements as the
// slice, else the call fails with an error satisfying
// errors.Is(err, ErrBadArguments) and changes nothing.
func (l *List[T]) SetSlice(ctx context.Context, s Slice, values []T) error {
	args, err := encodeValues(values)
	if err != nil {
		return err
	}
	start, stop, step := s.bounds()
	return l.core().call(ctx, "SetSlice", nil, start, stop, step, args)
}

// DeleteSlice deletes the elements s selects (Python's
// del a[start:stop:step]).
func (l *List[T]) DeleteSlice(ctx context.Context, s Slice) error {
	start, stop, step := s.bounds()
	return l.core().call(ctx, "DeleteSlice", nil, start, stop, step)
}

// Append adds v at the end (Python's a.append(v)).
func (l *List[T]) Append(ctx context.Context, v T) error {
	arg, err := encodeValue(v)
	if err != nil {
		return err
	}
	return l.core().call(ctx, "Append", nil, arg)
}

// Extend adds values at the end, in order, atomically (Python's
// a.extend(values) and a += values).
func (l *List[T]) Extend(ctx context.Context, values ...T) error {
	return l.core().proxy().invokeArgs(ctx, "Extend", nil, 1, func(enc *msgpack.Encoder, _ int) error {
		if err := enc.EncodeArrayLen(len(values)); err != nil {
			return err
		}
		for _, v := range values {
			if err := encodeArg(enc, v); err != nil {
				return err
			}
		}
		return nil
	})
}

// Insert inserts v before index i (Python's a.insert(i, v)); as in
// Python, i is clamped to the list, and a negative i counts from the end.
func (l *List[T]) Insert(ctx context.Context, i int, v T) error {
	arg, err := encodeValue(v)
	if err != nil {
		return err
	}
	return l.core().call(ctx, "Insert", nil, int64(i), arg)
}

// Pop removes and returns the element at index i; pass -1 for the last
// one (Python's a.pop() and a.pop(i)). An empty list or an index out of
// range gives an error satisfying errors.Is(err, ErrIndexOutOfRange). An
// element that does not decode into T gives an error satisfying
// errors.Is(err, ErrWrongType) and stays in the list.
func (l *List[T]) Pop(ctx context.Context, i int) (T, error) {
	var v T
	var err error
	if ts := shapeFor[T](); ts.any() {
		err = l.core().call(ctx, "Pop", &v, int64(i))
	} else {
		err = l.core().call(ctx, "PopAs", &v, int64(i), ts.arg)
	}
	if err != nil {
		var zero T
		return zero, err
	}
	return v, nil
}

// Remove removes the first element equal to v (Python's a.remove(v)).
// If there is none it returns an error satisfying
// errors.Is(err, ErrNotFound).
func (l *List[T]) Remove(ctx context.Context, v T) error {
	arg, err := encodeValue(v)
	if err != nil {
		return err
	}
	return l.core().call(ctx, "Remove", nil, arg)
}

// Contains reports whether an element equals v (Python's v in a).
func (l *List[T]) Contains(ctx context.Context, v T) (bool, error) {
	arg, err := encodeValue(v)
	if err != nil {
		return false, err
	}
	var ok bool
	err = l.core().call(ctx, "Contains", &ok, arg)
	return ok, err
}

// Count returns the number of elements equal to v (Python's a.count(v)).
func (l *List[T]) Count(ctx context.Context, v T) (int, error) {
	arg, err := encodeValue(v)
	if err != nil {
		return 0, err
	}
	var n int
	err = l.core().call(ctx, "Count", &n, arg)
	return n, err
}

// Index returns the index of the first element equal to v (Python's
// a.index(v)). If there is none it returns an error satisfying
// errors.Is(err, ErrNotFound).
func (l *List[T]) Index(ctx context.Context, v T) (int, error) {
	return l.index(ctx, v, nil, nil)
}

// IndexRange is Index within a[start:stop] (Python's
// a.index(v, start, stop)): negative bounds count from the end, and
// bounds clamp.
func (l *List[T]) IndexRange(ctx context.Context, v T, start, stop int) (int, error) {
	a, b := int64(start), int64(stop)
	return l.index(ctx, v, &a, &b)
}

func (l *List[T]) index(ctx context.Context, v T, start, stop *int64) (int, error) {
	arg, err := encodeValue(v)
	if err != nil {
		return 0, err
	}
	var i int
	err = l.core().call(ctx, "Index", &i, arg, start, stop)
	return i, err
}

// Reverse reverses the list in place (Python's a.reverse()).
func (l *List[T]) Reverse(ctx context.Context) error {
	return l.core().call(ctx, "Reverse", nil)
}

// Sort sorts the list in place, stably, ascending or (reverse true)
// descending (Python's a.sort(reverse=...)). It orders numbers (integers,
// floats, bools) and strings; a list holding other elements, or mixing
// strings and numbers, gives an error satisfying
// errors.Is(err, ErrBadArguments) and is left unchanged.
func (l *List[T]) Sort(ctx context.Context, reverse bool) error {
	return l.core().call(ctx, "Sort", nil, reverse)
}

// Clear deletes every element (Python's a.clear(), or del a[:]).
func (l *List[T]) Clear(ctx context.Context) error {
	return l.core().call(ctx, "Clear", nil)
}

// Modify atomically replaces the whole list with fn(items), where items
// is a fresh copy of the current elements, and returns the new contents.
// If the list changes between the read and the write, Modify reads again
// and calls fn again, so fn may run several times and must have no side
// effects. An error from fn stops Modify, which returns it and changes
// nothing. Modify makes at least two round trips and gives up when ctx
// ends.
func (l *List[T]) Modify(ctx context.Context, fn func(items []T) ([]T, error)) ([]T, error) {
	return modifyList(ctx, l.core(), fn)
}

// versionedList mirrors builtin.VersionedList with typed elements.
type versionedList[T any] struct {
	//lint:ignore U1000 msgpack reads this field's tag (as_array), never its value
	_msgpack struct{} `msgpack:",as_array"`
	Items    []T
	Version  uint64
}

// modifyList is the optimistic read-modify-write of a whole List or
// Array: LoadVersion, fn, StoreIfVersion, until the store succeeds.
func modifyList[K builtinType, T any](ctx context.Context, h *proxyCore[K], fn func([]T) ([]T, error)) ([]T, error) {
	var k K
	if h.proxy() == nil {
		return nil, fmt.Errorf("manager: %s.Modify: %w", k.typeID(), ErrNilProxy)
	}
	if fn == nil {
		return nil, fmt.Errorf("%w: %s.Modify: nil function", ErrBadArguments, k.typeID())
	}
	for {
		var cur versionedList[T]
		if err := h.call(ctx, "LoadVersion", &cur); err != nil {
			return nil, err
		}
		next, err := fn(cur.Items)
		if err != nil {
			return nil, err
		}
		args, err := encodeValues(next)
		if err != nil {
			return nil, err
		}
		var stored bool
		if err := h.call(ctx, "StoreIfVersion", &stored, cur.Version, args); err != nil {
			return nil, err
		}
		if stored {
			return next, nil
		}
	}
}

// A Slice selects elements of a List or Array the way Python's
// a[start:stop:step] does: negative bounds count from the end, bounds
// clamp, and an omitted bound means the whole way. The zero Slice is a[:],
// the whole sequence. Build others with SliceFrom, SliceTo, SliceRange
// and Step:
//
//	SliceRange(1, 4)          // a[1:4]
//	SliceFrom(-2)             // a[-2:]
//	SliceTo(3)                // a[:3]
//	Slice{}.Step(-1)          // a[::-1]
//	SliceRange(0, 10).Step(2) // a[0:10:2]
type Slice struct {
	start, stop       int
	hasStart, hasStop bool
	step              int // 0: omitted (1)
}

// SliceFrom returns a[start:].
func SliceFrom(start int) Slice { return Slice{start: start, hasStart: true} }

// SliceTo returns a[:stop].
func SliceTo(stop int) Slice { return Slice{stop: stop, hasStop: true} }

// SliceRange returns a[start:stop].
func SliceRange(start, stop int) Slice {
	return Slice{start: start, stop: stop, hasStart: true, hasStop: true}
}

// Step returns s with step step (a[start:stop:step]); a negative step
// walks backwards, and 0 means the default, 1.
func (s Slice) Step(step int) Slice {
	s.step = step
	return s
}

// bounds returns the slice as the server takes it: nil for an omitted
// bound.
func (s Slice) bounds() (start, stop, step *int64) {
	ptr := func(v int, ok bool) *int64 {
		if !ok {
			return nil
		}
		p := int64(v)
		return &p
	}
	return ptr(s.start, s.hasStart), ptr(s.stop, s.hasStop), ptr(s.step, s.step != 0)
}

// core returns the proxy's proxyCore, or nil when l is nil (see proxyCore).
func (l *List[T]) core() *proxyCore[listType] {
	if l == nil {
		return nil
	}
	return &l.proxyCore
}

// Proxy returns the untyped proxy underneath, for Call and for passing
// the object around untyped. It is nil for a nil or zero List.
func (l *List[T]) Proxy() *Proxy { return l.core().proxy() }

// Close gives back this proxy's reference to the shared list; an
// unnamed object is freed once no proxy in any process refers to it (a
// named one lives until Client.Delete). Calls through the proxy fail
// afterwards. Close blocks for at most one round trip to the manager, may
// be called more than once, and is safe for concurrent use. On a nil or
// zero List it returns an error satisfying errors.Is(err, ErrNilProxy).
func (l *List[T]) Close() error { return l.core().close() }
