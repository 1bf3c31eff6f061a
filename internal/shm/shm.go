package shm

import (
	"errors"
	"fmt"
	"os"
	"unsafe"
)

// Layout of a region (see the package documentation).
const (
	OffLock  = 0
	OffMagic = 8
	OffKind  = 12
	OffLen   = 16
	OffData  = 64
)

// Magic marks a region made by this package, so that a descriptor that
// is something else is refused instead of misread.
const Magic uint32 = 0x4d475348 // "MGSH"

// Name is the memfd name; /proc/<pid>/maps lists a mapping of a region as
// "/memfd:manager-shm (deleted)".
const Name = "manager-shm"

// MaxData bounds a region's data size, so that a bad length cannot ask
// the kernel for an absurd mapping.
const MaxData = 1 << 40

// ErrNotSupported is returned where the platform has no memfd or futex.
var ErrNotSupported = errors.New("shared memory needs Linux (memfd_create, futex)")

// A Region is one mapping of a shared memory file. It is not safe to
// Close concurrently with uses of its memory.
type Region struct {
	mem  []byte   // the mapping; nil once closed
	file *os.File // the memfd, kept to hand it to other processes
}

// Ptr returns a pointer to the byte at off. off must be within the region.
func (r *Region) Ptr(off int) unsafe.Pointer { return unsafe.Pointer(&r.mem[off]) }

// File returns the memfd. It stays owned by the region.
func (r *Region) File() *os.File { return r.file }

// Word returns the uint32 at off.
func (r *Region) Word(off int) *uint32 { return (*uint32)(r.Ptr(off)) }

// header reads the kind and length a region was created with.
func (r *Region) header() (magic, kind uint32, n uint64) {
	return *r.Word(OffMagic), *r.Word(OffKind), *(*uint64)(r.Ptr(OffLen))
}

// RegionSize returns the size of a region holding n elements of size
// elem, rounded up to whole pages.
func RegionSize(elem, n int) (int, error) {
	if n < 0 || elem <= 0 || n > MaxData/elem {
		return 0, fmt.Errorf("shared memory of %d elements of %d bytes is out of range", n, elem)
	}
	size := OffData + elem*n
	page := os.Getpagesize()
	return (size + page - 1) / page * page, nil
}

// Check verifies that r was created for n elements of kind.
func (r *Region) Check(kind uint32, n int) error {
	magic, k, l := r.header()
	switch {
	case magic != Magic:
		return errors.New("the descriptor is not a manager shared-memory region")
	case k != kind:
		return fmt.Errorf("the region holds elements of kind %d, not %d (decode into the type it was created with)", k, kind)
	case l != uint64(n):
		return fmt.Errorf("the region holds %d elements, not %d", l, n)
	}
	return nil
}

// Len returns the element count stored in the header.
func (r *Region) Len() int {
	_, _, n := r.header()
	return int(n)
}
