package manager

import (
	"context"
	"errors"
	"iter"
)

// The iterators of Dict and List (All) read the container a page at a
// time through the built-in types' ItemsFrom method, so that a big
// container never travels as one frame the size of the whole (which may
// exceed the frame limit, 64 MiB by default). Every engine has ItemsFrom
// (on Redis, one Lua script per page); a manager too old to have it
// answers ErrNoSuchMethod, and the iterators fall back to the bulk
// methods (Dict.Items; List.GetSlice in pages of walkPageItems).
//
// Why iter.Seq2[X, error] rather than an iterator value with an Err
// method to call after the loop (bufio.Scanner's way): with the error as
// the loop's second variable, the compiler makes the caller write
// something for it (an unused err does not compile, and "_" is a visible
// choice), whereas a forgotten Err call compiles and silently turns a
// lost manager into a short iteration.

const (
	// walkPageItems is the most entries a page holds: enough that a walk
	// of small entries costs a round trip per thousand.
	walkPageItems = 1024
	// walkPageBytes bounds the encoded keys and values of a page, well
	// under the default frame limit (1/64 of it), so that a page never
	// fails on size and a walk holds little memory at a time. A single
	// entry bigger than it travels alone (it was stored in one frame, so
	// it fits in one).
	walkPageBytes = 1 << 20
)

// walkPageBytesFor returns the byte bound of a page on p's engine:
// walkPageBytes, or a quarter of a smaller frame limit, leaving room for
// the reply's envelope.
func walkPageBytesFor(p *Proxy) int {
	if p != nil {
		if c, ok := p.eng.(*Client); ok && c.maxFrame > 0 {
			return max(1, min(walkPageBytes, c.maxFrame/4))
		}
	}
	return walkPageBytes
}

// noItemsFrom reports whether err says that the object has no ItemsFrom
// method, so a walk must use the bulk methods.
func noItemsFrom(err error) bool {
	return errors.Is(err, ErrNoSuchMethod) || errors.Is(err, ErrNotSupported)
}

// dictPage mirrors builtin.DictPage with typed entries.
type dictPage[K comparable, V any] struct {
	//lint:ignore U1000 msgpack reads this field's tag (as_array), never its value
	_msgpack struct{} `msgpack:",as_array"`
	Items    []Pair[K, V]
	Next     uint64
	Done     bool
}

// listPage mirrors builtin.ListPage with typed elements.
type listPage[T any] struct {
	//lint:ignore U1000 msgpack reads this field's tag (as_array), never its value
	_msgpack struct{} `msgpack:",as_array"`
	Items    []T
	Next     int64
	Done     bool
}

// All returns an iterator over the dictionary's entries in insertion
// order, read a page at a time (so a dictionary of any size is walked
// without one reply the size of the whole):
//
//	for p, err := range d.All(ctx) {
//		if err != nil {
//			return err
//		}
//		fmt.Println(p.Key, p.Value)
//	}
//
// An error (ctx ended, the manager gone, an entry that does not decode
// into K and V) is yielded once, with a zero Pair, as the last pair; the
// error is the loop's variable rather than something to ask for after
// the loop so that it cannot be forgotten (an unused err does not
// compile).
//
// The walk is not a snapshot (Items is): each page is read when the loop
// reaches it. Every key that is in the dictionary for the whole walk is
// seen exactly once, with the value it has when its page is read; a key
// stored for the first time during the walk is seen unless the walk has
// ended; a key deleted during it may or may not be seen, and one deleted
// and stored again may be seen twice (it moved to the end of the order).
// The same holds on every engine.
//
// Each page is one round trip; breaking out of the loop reads no more.
// The iterator may be used more than once, and each use walks anew.
func (d *Dict[K, V]) All(ctx context.Context) iter.Seq2[Pair[K, V], error] {
	return func(yield func(Pair[K, V], error) bool) {
		var zero Pair[K, V]
		pageBytes := walkPageBytesFor(d.Proxy())
		var cursor uint64
		for first := true; ; first = false {
			var page dictPage[K, V]
			err := d.core().call(ctx, "ItemsFrom", &page, cursor, walkPageItems, pageBytes)
			if first && noItemsFrom(err) {
				items, err := d.Items(ctx)
				if err != nil {
					yield(zero, err)
					return
				}
				for _, p := range items {
					if !yield(p, nil) {
						return
					}
				}
				return
			}
			if err != nil {
				yield(zero, err)
				return
			}
			for _, p := range page.Items {
				if !yield(p, nil) {
					return
				}
			}
			if page.Done {
				return
			}
			cursor = page.Next
		}
	}
}

// All returns an iterator over the list's elements in order, read a page
// at a time (so a list of any size is walked without one reply the size
// of the whole):
//
//	for v, err := range l.All(ctx) {
//		if err != nil {
//			return err
//		}
//		fmt.Println(v)
//	}
//
// An error (ctx ended, the manager gone, an element that does not decode
// into T) is yielded once, with the zero T, as the last pair; the error
// is the loop's variable rather than something to ask for after the loop
// so that it cannot be forgotten (an unused err does not compile). Count
// in the loop for an index.
//
// The walk is not a snapshot (Copy is): it goes by index, a page at a
// time, like Python's iteration over a list proxy. An element appended
// during the walk is seen; an insertion or deletion before the walk's
// position shifts the elements after it, so that one is seen twice or
// not at all.
//
// Each page is one round trip; breaking out of the loop reads no more.
// The iterator may be used more than once, and each use walks anew.
func (l *List[T]) All(ctx context.Context) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		var zero T
		pageBytes := walkPageBytesFor(l.Proxy())
		var start int64
		for first := true; ; first = false {
			var page listPage[T]
			err := l.core().call(ctx, "ItemsFrom", &page, start, walkPageItems, pageBytes)
			if first && noItemsFrom(err) {
				l.walkSlices(ctx, yield)
				return
			}
			if err != nil {
				yield(zero, err)
				return
			}
			for _, v := range page.Items {
				if !yield(v, nil) {
					return
				}
			}
			if page.Done {
				return
			}
			start = page.Next
		}
	}
}

// walkSlices is All on an engine without ItemsFrom: GetSlice pages of
// walkPageItems, by index, until a short page.
func (l *List[T]) walkSlices(ctx context.Context, yield func(T, error) bool) {
	walkSlices(ctx, l.GetSlice, yield)
}

// walkSlices yields the elements getSlice returns in pages of
// walkPageItems, by index, until a short page or an error (yielded last).
func walkSlices[T any](ctx context.Context, getSlice func(context.Context, Slice) ([]T, error), yield func(T, error) bool) {
	var zero T
	for start := 0; ; start += walkPageItems {
		items, err := getSlice(ctx, SliceRange(start, start+walkPageItems))
		if err != nil {
			yield(zero, err)
			return
		}
		for _, v := range items {
			if !yield(v, nil) {
				return
			}
		}
		if len(items) < walkPageItems {
			return
		}
	}
}
