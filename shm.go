package manager

import (
	"fmt"
	"os"
	"unsafe"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/goproc/manager/internal/shm"
)

// SharedNumber is the set of element types shared memory holds: fixed-size
// numbers the processor updates atomically.
type SharedNumber interface {
	int32 | int64 | uint32 | uint64 | float64
}

// A SharedValue is one number in memory shared between processes (Python's
// multiprocessing.Value): this process and the workers it is passed to
// with Fork read and update the same memory, with no manager round trip.
// Every method is a single atomic instruction (Add on a float64 is a
// compare-and-swap loop), so a SharedValue is safe for concurrent use by
// goroutines and processes alike, and no method blocks. Mutex gives a lock
// for updates that span more than one call.
//
// The memory is an anonymous memory file (memfd) mapped MAP_SHARED; it is
// Linux-only (NewSharedValue gives ErrNotSupported elsewhere). It is freed
// when every process that has it has closed it or exited.
//
// A SharedValue is passed to a worker as a direct argument of Fork (its
// descriptor is inherited) and decoded there with Args.Decode into a
// *SharedValue of the same T; it cannot travel any other way (inside
// another value, through the manager).
type SharedValue[T SharedNumber] struct {
	r    *shm.Region
	p    unsafe.Pointer // the value; nil after Close
	lock SharedLock     // on the region's lock word
}

// NewSharedValue returns a new SharedValue holding initial. Close it when
// done.
func NewSharedValue[T SharedNumber](initial T) (*SharedValue[T], error) {
	kind, size := kindOf[T]()
	r, err := shm.Create(kind, size, 1)
	if err != nil {
		return nil, shmError(err)
	}
	v := &SharedValue[T]{r: r, p: r.Ptr(shm.OffData), lock: SharedLock{word: r.Word(shm.OffLock)}}
	v.Store(initial)
	return v, nil
}

func (v *SharedValue[T]) ptr() unsafe.Pointer {
	if v.p == nil {
		panic("manager: SharedValue used after Close or not made by NewSharedValue")
	}
	return v.p
}

// Load returns the value.
func (v *SharedValue[T]) Load() T { return atomicLoad[T](v.ptr()) }

// Store sets the value to x.
func (v *SharedValue[T]) Store(x T) { atomicStore(v.ptr(), x) }

// Add adds delta to the value and returns the new value. Integers wrap
// around on overflow, as Go's do.
func (v *SharedValue[T]) Add(delta T) T { return atomicAdd(v.ptr(), delta) }

// Swap sets the value to x and returns the old value.
func (v *SharedValue[T]) Swap(x T) T { return atomicSwap(v.ptr(), x) }

// CompareAndSwap sets the value to new if it is old, and reports whether
// it did. float64 values are compared bit for bit (as math.Float64bits),
// so a NaN matches the same NaN and -0 does not match +0.
func (v *SharedValue[T]) CompareAndSwap(old, new T) bool { return atomicCAS(v.ptr(), old, new) }

// Mutex returns the value's lock (Python's get_lock()): a lock in the same
// shared memory, for updates made of several calls. The atomic methods do
// not take it; hold it around the code that must not interleave. It stays
// valid until the value is closed.
func (v *SharedValue[T]) Mutex() *SharedLock {
	v.ptr()
	return &v.lock
}

// Close unmaps this process's view of the value and closes its descriptor.
// Other processes keep theirs. The value must not be used afterwards, nor
// while Close runs. Close may be called more than once.
func (v *SharedValue[T]) Close() error {
	if v.r == nil {
		return nil
	}
	v.p, v.lock.word = nil, nil
	err := v.r.Close()
	v.r = nil
	return err
}

// EncodeMsgpack refuses: a SharedValue travels only as an argument of
// Fork.
func (v *SharedValue[T]) EncodeMsgpack(*msgpack.Encoder) error { return errCarried("SharedValue") }

// DecodeMsgpack maps the value a parent passed to this worker with Fork.
func (v *SharedValue[T]) DecodeMsgpack(d *msgpack.Decoder) error {
	r, err := decodeRegion[T](d, 1, "SharedValue")
	if err != nil {
		return err
	}
	v.r, v.p, v.lock.word = r, r.Ptr(shm.OffData), r.Word(shm.OffLock)
	return nil
}

func (v *SharedValue[T]) forkArg(first int) (any, []*os.File, func(), error) {
	if v.r == nil {
		return nil, nil, nil, fmt.Errorf("manager: SharedValue is closed")
	}
	kind, _ := kindOf[T]()
	return &shmRef{Tag: shmTag, Index: first, Kind: kind, Len: 1}, []*os.File{v.r.File()}, nil, nil
}

// A SharedArray is a fixed-length array of numbers in memory shared between
// processes (Python's multiprocessing.Array): each element behaves as a
// SharedValue, and Snapshot copies them all. Indexes out of range panic,
// as slice indexes do, with an error satisfying
// errors.Is(err, ErrIndexOutOfRange).
//
// A SharedArray is safe for concurrent use by goroutines and processes,
// and no method blocks. It is passed to workers, mapped, shared and freed
// as a SharedValue is (Linux-only).
type SharedArray[T SharedNumber] struct {
	r    *shm.Region
	base unsafe.Pointer // element 0; nil after Close
	n    int
	lock SharedLock // on the region's lock word
}

// NewSharedArray returns a new SharedArray of n zero elements. Close it
// when done.
func NewSharedArray[T SharedNumber](n int) (*SharedArray[T], error) {
	if n < 0 {
		return nil, fmt.Errorf("%w: NewSharedArray: negative length %d", ErrBadArguments, n)
	}
	kind, size := kindOf[T]()
	r, err := shm.Create(kind, size, n)
	if err != nil {
		return nil, shmError(err)
	}
	return &SharedArray[T]{r: r, base: r.Ptr(shm.OffData), n: n, lock: SharedLock{word: r.Word(shm.OffLock)}}, nil
}

// NewSharedArrayOf returns a new SharedArray holding a copy of values.
func NewSharedArrayOf[T SharedNumber](values []T) (*SharedArray[T], error) {
	a, err := NewSharedArray[T](len(values))
	if err != nil {
		return nil, err
	}
	for i, x := range values {
		a.Store(i, x)
	}
	return a, nil
}

// at returns a pointer to element i.
func (a *SharedArray[T]) at(i int) unsafe.Pointer {
	if a.base == nil {
		panic("manager: SharedArray used after Close or not made by NewSharedArray")
	}
	if uint(i) >= uint(a.n) {
		panic(fmt.Errorf("%w: SharedArray index %d, length %d", ErrIndexOutOfRange, i, a.n))
	}
	var zero T
	return unsafe.Add(a.base, uintptr(i)*unsafe.Sizeof(zero))
}

// Len returns the number of elements.
func (a *SharedArray[T]) Len() int { return a.n }

// Load returns element i.
func (a *SharedArray[T]) Load(i int) T { return atomicLoad[T](a.at(i)) }

// Store sets element i to x.
func (a *SharedArray[T]) Store(i int, x T) { atomicStore(a.at(i), x) }

// Add adds delta to element i and returns its new value.
func (a *SharedArray[T]) Add(i int, delta T) T { return atomicAdd(a.at(i), delta) }

// Swap sets element i to x and returns its old value.
func (a *SharedArray[T]) Swap(i int, x T) T { return atomicSwap(a.at(i), x) }

// CompareAndSwap sets element i to new if it is old, and reports whether
// it did (float64 elements compare bit for bit).
func (a *SharedArray[T]) CompareAndSwap(i int, old, new T) bool {
	return atomicCAS(a.at(i), old, new)
}

// Snapshot returns a copy of every element. Each element is read
// atomically; the copy as a whole is consistent only if every writer holds
// the array's Mutex and Snapshot is taken under it too.
func (a *SharedArray[T]) Snapshot() []T {
	out := make([]T, a.n)
	for i := range out {
		out[i] = atomicLoad[T](a.at(i))
	}
	return out
}

// Mutex returns the array's lock (Python's get_lock()), in the same shared
// memory. It stays valid until the array is closed.
func (a *SharedArray[T]) Mutex() *SharedLock {
	if a.base == nil {
		panic("manager: SharedArray used after Close or not made by NewSharedArray")
	}
	return &a.lock
}

// Close unmaps this process's view of the array and closes its
// descriptor; as SharedValue.Close.
func (a *SharedArray[T]) Close() error {
	if a.r == nil {
		return nil
	}
	a.base, a.lock.word = nil, nil
	err := a.r.Close()
	a.r = nil
	return err
}

// EncodeMsgpack refuses: a SharedArray travels only as an argument of
// Fork.
func (a *SharedArray[T]) EncodeMsgpack(*msgpack.Encoder) error { return errCarried("SharedArray") }

// DecodeMsgpack maps the array a parent passed to this worker with Fork.
func (a *SharedArray[T]) DecodeMsgpack(d *msgpack.Decoder) error {
	r, err := decodeRegion[T](d, -1, "SharedArray")
	if err != nil {
		return err
	}
	a.r, a.base, a.n, a.lock.word = r, r.Ptr(shm.OffData), r.Len(), r.Word(shm.OffLock)
	return nil
}

func (a *SharedArray[T]) forkArg(first int) (any, []*os.File, func(), error) {
	if a.r == nil {
		return nil, nil, nil, fmt.Errorf("manager: SharedArray is closed")
	}
	kind, _ := kindOf[T]()
	return &shmRef{Tag: shmTag, Index: first, Kind: kind, Len: a.n}, []*os.File{a.r.File()}, nil, nil
}

// shmRef is what Fork sends in place of shared memory: which inherited
// descriptor holds it, and what it holds.
type shmRef struct {
	//lint:ignore U1000 msgpack reads this field's tag (as_array), never its value
	_msgpack struct{} `msgpack:",as_array"`
	Tag      string
	Index    int
	Kind     uint32
	Len      int
}

const shmTag = "manager.shm"

// decodeRegion decodes a shmRef and maps the region it names, checking
// that it holds elements of type T (and n of them, unless n < 0).
func decodeRegion[T SharedNumber](d *msgpack.Decoder, n int, what string) (*shm.Region, error) {
	var ref shmRef
	if err := d.Decode(&ref); err != nil {
		return nil, errorf("manager: decode %s: %w", what, err)
	}
	kind, _ := kindOf[T]()
	switch {
	case ref.Tag != shmTag:
		return nil, fmt.Errorf("%w: decode %s: the argument is not shared memory", ErrWrongType, what)
	case ref.Kind != kind:
		return nil, fmt.Errorf("%w: decode %s: it holds %s, not %s", ErrWrongType, what, kindName(ref.Kind), kindName(kind))
	case n >= 0 && ref.Len != n:
		return nil, fmt.Errorf("%w: decode %s: it holds %d elements", ErrWrongType, what, ref.Len)
	}
	fd, err := inheritedFD(ref.Index)
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(fd), "memfd:"+shm.Name)
	r, err := shm.Open(f)
	if err != nil {
		f.Close()
		return nil, errorf("manager: decode %s: %w", what, shmError(err))
	}
	if err := r.Check(kind, ref.Len); err != nil {
		r.Close()
		return nil, errorf("manager: decode %s: %w", what, err)
	}
	return r, nil
}

// shmError makes a platform's missing support an ErrNotSupported.
func shmError(err error) error {
	if err == shm.ErrNotSupported {
		return fmt.Errorf("%w: %v", ErrNotSupported, err)
	}
	return errorf("manager: %w", err)
}

// The element kinds, as stored in a region's header.
const (
	kindInt32 uint32 = iota + 1
	kindInt64
	kindUint32
	kindUint64
	kindFloat64
)

func kindOf[T SharedNumber]() (kind uint32, size int) {
	var zero T
	switch any(zero).(type) {
	case int32:
		return kindInt32, 4
	case int64:
		return kindInt64, 8
	case uint32:
		return kindUint32, 4
	case uint64:
		return kindUint64, 8
	default:
		return kindFloat64, 8
	}
}

func kindName(k uint32) string {
	switch k {
	case kindInt32:
		return "int32"
	case kindInt64:
		return "int64"
	case kindUint32:
		return "uint32"
	case kindUint64:
		return "uint64"
	case kindFloat64:
		return "float64"
	}
	return fmt.Sprintf("kind %d", k)
}
