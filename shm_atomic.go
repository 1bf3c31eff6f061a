package manager

import (
	"math"
	"sync/atomic"
	"unsafe"
)

// The atomic operations on one element of shared memory, for each
// SharedNumber type. p points at an aligned element of type T (the region
// layout guarantees the alignment). float64 values are handled as their
// bits; their Add is a compare-and-swap loop.

func atomicLoad[T SharedNumber](p unsafe.Pointer) T {
	var zero T
	switch any(zero).(type) {
	case int32:
		return T(atomic.LoadInt32((*int32)(p)))
	case int64:
		return T(atomic.LoadInt64((*int64)(p)))
	case uint32:
		return T(atomic.LoadUint32((*uint32)(p)))
	case uint64:
		return T(atomic.LoadUint64((*uint64)(p)))
	default:
		return T(math.Float64frombits(atomic.LoadUint64((*uint64)(p))))
	}
}

func atomicStore[T SharedNumber](p unsafe.Pointer, x T) {
	switch x := any(x).(type) {
	case int32:
		atomic.StoreInt32((*int32)(p), x)
	case int64:
		atomic.StoreInt64((*int64)(p), x)
	case uint32:
		atomic.StoreUint32((*uint32)(p), x)
	case uint64:
		atomic.StoreUint64((*uint64)(p), x)
	case float64:
		atomic.StoreUint64((*uint64)(p), math.Float64bits(x))
	}
}

func atomicAdd[T SharedNumber](p unsafe.Pointer, delta T) T {
	switch d := any(delta).(type) {
	case int32:
		return T(atomic.AddInt32((*int32)(p), d))
	case int64:
		return T(atomic.AddInt64((*int64)(p), d))
	case uint32:
		return T(atomic.AddUint32((*uint32)(p), d))
	case uint64:
		return T(atomic.AddUint64((*uint64)(p), d))
	case float64:
		for {
			old := atomic.LoadUint64((*uint64)(p))
			sum := math.Float64frombits(old) + d
			if atomic.CompareAndSwapUint64((*uint64)(p), old, math.Float64bits(sum)) {
				return T(sum)
			}
		}
	}
	panic("unreachable")
}

func atomicSwap[T SharedNumber](p unsafe.Pointer, x T) T {
	switch x := any(x).(type) {
	case int32:
		return T(atomic.SwapInt32((*int32)(p), x))
	case int64:
		return T(atomic.SwapInt64((*int64)(p), x))
	case uint32:
		return T(atomic.SwapUint32((*uint32)(p), x))
	case uint64:
		return T(atomic.SwapUint64((*uint64)(p), x))
	case float64:
		return T(math.Float64frombits(atomic.SwapUint64((*uint64)(p), math.Float64bits(x))))
	}
	panic("unreachable")
}

func atomicCAS[T SharedNumber](p unsafe.Pointer, old, new T) bool {
	switch o := any(old).(type) {
	case int32:
		return atomic.CompareAndSwapInt32((*int32)(p), o, int32(new))
	case int64:
		return atomic.CompareAndSwapInt64((*int64)(p), o, int64(new))
	case uint32:
		return atomic.CompareAndSwapUint32((*uint32)(p), o, uint32(new))
	case uint64:
		return atomic.CompareAndSwapUint64((*uint64)(p), o, uint64(new))
	case float64:
		return atomic.CompareAndSwapUint64((*uint64)(p), math.Float64bits(o), math.Float64bits(float64(new)))
	}
	return false
}
