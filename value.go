package manager

import (
	"context"
	"fmt"

	"github.com/goproc/manager/internal/builtin"
)

type valueType struct{}

func (valueType) typeID() string { return builtin.TypeValue }

// A Value is a proxy to one shared value of type T in a manager, Python's
// manager.Value(typecode, value) (the Go type takes the typecode's
// place). Load and Store are Python's v.value and v.value = x.
//
// Unlike Python's v.value += 1, the read-modify-writes here are atomic:
// Add for numbers, CompareAndSwap and Swap, and Modify for any change.
// Loading, changing and storing back is not: two processes doing it at
// once can lose an update.
//
// Every method makes one round trip to the manager (Modify at least two)
// and takes ctx first; none blocks on other callers. A Value is safe for
// concurrent use, and can be passed to Fork or stored in another shared
// object.
type Value[T any] struct {
	proxyCore[valueType]
}

// NewValue creates a shared value holding initial and returns a proxy to
// it. The value is freed once every proxy to it, in every process, is
// closed (or its process has exited). It blocks for one round trip.
func NewValue[T any](ctx context.Context, s Session, initial T) (*Value[T], error) {
	arg, err := encodeValue(initial)
	if err != nil {
		return nil, err
	}
	h, err := newObject[valueType](ctx, s, "", false, arg)
	if err != nil {
		return nil, err
	}
	return &Value[T]{h}, nil
}

// OpenValue returns a proxy to the shared value named name, creating it
// with initial if there is none (initial is ignored otherwise). It lives
// until Client.Delete(name) or the manager's shutdown. A name taken by an
// object of another type gives an error satisfying
// errors.Is(err, ErrWrongType). It blocks for one round trip.
func OpenValue[T any](ctx context.Context, s Session, name string, initial T) (*Value[T], error) {
	arg, err := encodeValue(initial)
	if err != nil {
		return nil, err
	}
	h, err := newObject[valueType](ctx, s, name, true, arg)
	if err != nil {
		return nil, err
	}
	return &Value[T]{h}, nil
}

// Load returns a copy of the value (Python's v.value, or v.get()).
func (v *Value[T]) Load(ctx context.Context) (T, error) {
	var x T
	if err := v.core().call(ctx, "Load", &x); err != nil {
		var zero T
		return zero, err
	}
	return x, nil
}

// Store sets the value (Python's v.value = x, or v.set(x)).
func (v *Value[T]) Store(ctx context.Context, x T) error {
	arg, err := encodeValue(x)
	if err != nil {
		return err
	}
	return v.core().call(ctx, "Store", nil, arg)
}

// Swap sets the value and returns the previous one, atomically. A
// previous value that does not decode into T gives an error satisfying
// errors.Is(err, ErrWrongType), and x is not stored.
func (v *Value[T]) Swap(ctx context.Context, x T) (previous T, err error) {
	arg, err := encodeValue(x)
	if err != nil {
		return previous, err
	}
	if ts := shapeFor[T](); ts.any() {
		err = v.core().call(ctx, "Swap", &previous, arg)
	} else {
		err = v.core().call(ctx, "SwapAs", &previous, arg, ts.arg)
	}
	if err != nil {
		var zero T
		return zero, err
	}
	return previous, nil
}

// CompareAndSwap sets the value to newValue if it equals old (compared
// by encoding), and reports whether it did. It is atomic.
func (v *Value[T]) CompareAndSwap(ctx context.Context, old, newValue T) (bool, error) {
	o, n, err := encodePair(old, newValue)
	if err != nil {
		return false, err
	}
	var ok bool
	err = v.core().call(ctx, "CompareAndSwap", &ok, o, n)
	return ok, err
}

// Add atomically adds delta to the value and returns the sum: ten
// processes each adding 1 ten times always make 100. T must be an integer
// or float type; otherwise, or when an integer sum overflows, Add returns
// an error satisfying errors.Is(err, ErrBadArguments) and changes
// nothing.
func (v *Value[T]) Add(ctx context.Context, delta T) (T, error) {
	var sum T
	arg, err := encodeValue(delta)
	if err != nil {
		return sum, err
	}
	if err := v.core().call(ctx, "Add", &sum, arg); err != nil {
		var zero T
		return zero, err
	}
	return sum, nil
}

// Modify atomically replaces the value with fn(old) and returns the new
// value. It reads the value with its version, calls fn, and stores the
// result only if the value has not been written meanwhile; otherwise it
// tries again, so fn may run several times and must have no side
// effects. An error from fn stops Modify, which returns it and stores
// nothing. Modify makes at least two round trips and gives up when ctx
// ends.
func (v *Value[T]) Modify(ctx context.Context, fn func(old T) (T, error)) (T, error) {
	var zero T
	if v.Proxy() == nil {
		return zero, fmt.Errorf("manager: Value.Modify: %w", ErrNilProxy)
	}
	if fn == nil {
		return zero, fmt.Errorf("%w: Value.Modify: nil function", ErrBadArguments)
	}
	for {
		var cur versionedValue[T]
		if err := v.core().call(ctx, "LoadVersion", &cur); err != nil {
			return zero, err
		}
		next, err := fn(cur.Value)
		if err != nil {
			return zero, err
		}
		arg, err := encodeValue(next)
		if err != nil {
			return zero, err
		}
		var stored bool
		if err := v.core().call(ctx, "StoreIfVersion", &stored, cur.Version, arg); err != nil {
			return zero, err
		}
		if stored {
			return next, nil
		}
	}
}

// core returns the proxy's proxyCore, or nil when v is nil (see proxyCore).
func (v *Value[T]) core() *proxyCore[valueType] {
	if v == nil {
		return nil
	}
	return &v.proxyCore
}

// Proxy returns the untyped proxy underneath, for Call and for passing
// the object around untyped. It is nil for a nil or zero Value.
func (v *Value[T]) Proxy() *Proxy { return v.core().proxy() }

// Close gives back this proxy's reference to the shared value; an
// unnamed object is freed once no proxy in any process refers to it (a
// named one lives until Client.Delete). Calls through the proxy fail
// afterwards. Close blocks for at most one round trip to the manager, may
// be called more than once, and is safe for concurrent use. On a nil or
// zero Value it returns an error satisfying errors.Is(err, ErrNilProxy).
func (v *Value[T]) Close() error { return v.core().close() }
