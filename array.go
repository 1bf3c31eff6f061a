package manager

import (
	"context"
	"iter"

	"github.com/goproc/manager/internal/builtin"
)

type arrayType struct{}

func (arrayType) typeID() string { return builtin.TypeArray }

// An Array is a proxy to a shared fixed-length array of T in a manager,
// Python's manager.Array(typecode, sequence) (the Go type takes the
// typecode's place). Its length is set when it is created and never
// changes. Indexes and slices follow Python's rules, as on List.
//
// Every method makes one round trip to the manager (Modify at least two)
// and takes ctx first; none blocks on other callers. An Array is safe for
// concurrent use, and can be passed to Fork or stored in another shared
// object.
type Array[T any] struct {
	proxyCore[arrayType]
}

// NewArray creates a shared array holding items, of length len(items)
// for good (pass make([]T, n) for n zero elements), and returns a proxy
// to it. The array is freed once every proxy to it, in every process, is
// closed (or its process has exited). It blocks for one round trip.
func NewArray[T any](ctx context.Context, s Session, items []T) (*Array[T], error) {
	args, err := encodeValues(items)
	if err != nil {
		return nil, err
	}
	h, err := newObject[arrayType](ctx, s, "", false, args)
	if err != nil {
		return nil, err
	}
	return &Array[T]{h}, nil
}

// OpenArray returns a proxy to the shared array named name, creating it
// with items if there is none (items are ignored otherwise). It lives
// until Client.Delete(name) or the manager's shutdown. A name taken by an
// object of another type gives an error satisfying
// errors.Is(err, ErrWrongType). It blocks for one round trip.
func OpenArray[T any](ctx context.Context, s Session, name string, items []T) (*Array[T], error) {
	args, err := encodeValues(items)
	if err != nil {
		return nil, err
	}
	h, err := newObject[arrayType](ctx, s, name, true, args)
	if err != nil {
		return nil, err
	}
	return &Array[T]{h}, nil
}

// Len returns the array's fixed length (Python's len(a)).
func (a *Array[T]) Len(ctx context.Context) (int, error) {
	var n int
	err := a.core().call(ctx, "Len", &n)
	return n, err
}

// Get returns the element at index i (negative counts from the end;
// Python's a[i]). An index out of range gives an error satisfying
// errors.Is(err, ErrIndexOutOfRange).
func (a *Array[T]) Get(ctx context.Context, i int) (T, error) {
	var v T
	if err := a.core().call(ctx, "Get", &v, int64(i)); err != nil {
		var zero T
		return zero, err
	}
	return v, nil
}

// Set sets the element at index i (Python's a[i] = v). An index out of
// range gives an error satisfying errors.Is(err, ErrIndexOutOfRange).
func (a *Array[T]) Set(ctx context.Context, i int, v T) error {
	arg, err := encodeValue(v)
	if err != nil {
		return err
	}
	return a.core().call(ctx, "Set", nil, int64(i), arg)
}

// Copy returns every element, in order, in one round trip: a consistent
// snapshot (Python's a[:]).
func (a *Array[T]) Copy(ctx context.Context) ([]T, error) {
	var items []T
	err := a.core().call(ctx, "All", &items)
	return items, err
}

// All returns an iterator over the array's elements in order, read a
// page at a time (GetSlice of up to 1024 elements per round trip), as
// List.All does:
//
//	for x, err := range a.All(ctx) {
//		if err != nil {
//			return err
//		}
//		fmt.Println(x)
//	}
//
// An error (ctx ended, the session gone, an element that does not decode
// into T) is yielded once, with the zero T, as the last pair. The walk
// is not a snapshot (Copy is): each page shows the elements as they are
// when it is read. Breaking out of the loop reads no more; the iterator
// may be used more than once, and each use walks anew.
func (a *Array[T]) All(ctx context.Context) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) { walkSlices(ctx, a.GetSlice, yield) }
}

// GetSlice returns the elements s selects, in one round trip (Python's
// a[start:stop:step]).
func (a *Array[T]) GetSlice(ctx context.Context, s Slice) ([]T, error) {
	start, stop, step := s.bounds()
	var items []T
	err := a.core().call(ctx, "GetSlice", &items, start, stop, step)
	return items, err
}

// SetSlice replaces the elements s selects with values (Python's
// a[start:stop:step] = values). The array's length cannot change, so
// values must have exactly as many elements as the slice, else the call
// fails with an error satisfying errors.Is(err, ErrBadArguments) and
// changes nothing.
func (a *Array[T]) SetSlice(ctx context.Context, s Slice, values []T) error {
	args, err := encodeValues(values)
	if err != nil {
		return err
	}
	start, stop, step := s.bounds()
	return a.core().call(ctx, "SetSlice", nil, start, stop, step, args)
}

// Add atomically adds delta to the number at index i and returns the
// sum. T must be an integer or float type; otherwise, or when an integer
// sum overflows, Add returns an error satisfying
// errors.Is(err, ErrBadArguments) and changes nothing. An index out of
// range gives an error satisfying errors.Is(err, ErrIndexOutOfRange).
func (a *Array[T]) Add(ctx context.Context, i int, delta T) (T, error) {
	var sum T
	arg, err := encodeValue(delta)
	if err != nil {
		return sum, err
	}
	if err := a.core().call(ctx, "Add", &sum, int64(i), arg); err != nil {
		var zero T
		return zero, err
	}
	return sum, nil
}

// Modify atomically replaces every element with those of fn(items),
// where items is a fresh copy of the current elements, and returns them.
// fn must return exactly Len elements, else Modify fails with an error
// satisfying errors.Is(err, ErrBadArguments). If the array changes
// between the read and the write, Modify tries again, so fn may run
// several times and must have no side effects. Modify makes at least two
// round trips and gives up when ctx ends.
func (a *Array[T]) Modify(ctx context.Context, fn func(items []T) ([]T, error)) ([]T, error) {
	return modifyList(ctx, a.core(), fn)
}

// core returns the proxy's proxyCore, or nil when a is nil (see proxyCore).
func (a *Array[T]) core() *proxyCore[arrayType] {
	if a == nil {
		return nil
	}
	return &a.proxyCore
}

// Proxy returns the untyped proxy underneath, for Call and for passing
// the object around untyped. It is nil for a nil or zero Array.
func (a *Array[T]) Proxy() *Proxy { return a.core().proxy() }

// Close gives back this proxy's reference to the shared array; an
// unnamed object is freed once no proxy in any process refers to it (a
// named one lives until Client.Delete). Calls through the proxy fail
// afterwards. Close blocks for at most one round trip to the manager, may
// be called more than once, and is safe for concurrent use. On a nil or
// zero Array it returns an error satisfying errors.Is(err, ErrNilProxy).
func (a *Array[T]) Close() error { return a.core().close() }
