//go:build linux

package shm

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Create makes a new zeroed region for n elements of elem bytes and
// writes its header.
func Create(kind uint32, elem, n int) (*Region, error) {
	size, err := RegionSize(elem, n)
	if err != nil {
		return nil, err
	}
	// CLOEXEC: the descriptor reaches only the children it is handed to
	// (Fork passes it explicitly), never one forked concurrently.
	fd, err := unix.MemfdCreate(Name, unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return nil, fmt.Errorf("memfd_create: %w", err)
	}
	f := os.NewFile(uintptr(fd), "memfd:"+Name)
	if err := unix.Ftruncate(fd, int64(size)); err != nil {
		f.Close()
		return nil, fmt.Errorf("size shared memory: %w", err)
	}
	// Fixed size from now on: nobody can shrink the file under another
	// process's mapping (which would fault with SIGBUS there).
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, unix.F_SEAL_SHRINK|unix.F_SEAL_GROW|unix.F_SEAL_SEAL); err != nil {
		f.Close()
		return nil, fmt.Errorf("seal shared memory: %w", err)
	}
	r, err := mapFile(f, size)
	if err != nil {
		f.Close()
		return nil, err
	}
	*r.Word(OffKind) = kind
	*(*uint64)(r.Ptr(OffLen)) = uint64(n)
	*r.Word(OffMagic) = Magic
	return r, nil
}

// Open maps the region held by f, which it takes ownership of (Close
// closes it), and checks that it is one made by Create.
func Open(f *os.File) (*Region, error) {
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return nil, fmt.Errorf("stat shared memory: %w", err)
	}
	page := int64(os.Getpagesize())
	if st.Size < page || st.Size > OffData+MaxData || st.Size%page != 0 {
		return nil, fmt.Errorf("shared memory descriptor of %d bytes is not a region", st.Size)
	}
	seals, err := unix.FcntlInt(f.Fd(), unix.F_GET_SEALS, 0)
	if err != nil || seals&(unix.F_SEAL_SHRINK|unix.F_SEAL_GROW) != unix.F_SEAL_SHRINK|unix.F_SEAL_GROW {
		return nil, errors.New("shared memory descriptor is not a sealed region")
	}
	r, err := mapFile(f, int(st.Size))
	if err != nil {
		return nil, err
	}
	if *r.Word(OffMagic) != Magic {
		r.unmap()
		return nil, errors.New("the descriptor is not a manager shared-memory region")
	}
	return r, nil
}

func mapFile(f *os.File, size int) (*Region, error) {
	mem, err := unix.Mmap(int(f.Fd()), 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("map shared memory: %w", err)
	}
	return &Region{mem: mem, file: f}, nil
}

func (r *Region) unmap() {
	if r.mem != nil {
		unix.Munmap(r.mem)
		r.mem = nil
	}
}

// Close unmaps the region and closes its descriptor. The memory itself
// lives on while another process (or descriptor) still holds it. Close
// may be called more than once.
func (r *Region) Close() error {
	r.unmap()
	if r.file == nil {
		return nil
	}
	err := r.file.Close()
	r.file = nil
	return err
}

// The futex operations, shared between processes (no FUTEX_PRIVATE_FLAG).
const (
	futexWait = 0
	futexWake = 1
)

// FutexWait sleeps while *addr == val, until FutexWake on the same word
// (from any process mapping it), a signal, or timeout (none if <= 0).
// Spurious returns are possible: callers recheck the word.
func FutexWait(addr *uint32, val uint32, timeout time.Duration) {
	var tsp unsafe.Pointer
	if timeout > 0 {
		ts := unix.NsecToTimespec(int64(timeout))
		tsp = unsafe.Pointer(&ts)
	}
	// EAGAIN (the word changed), EINTR and ETIMEDOUT all mean: recheck.
	unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(addr)), futexWait, uintptr(val), uintptr(tsp), 0, 0)
}

// FutexWake wakes up to n sleepers on addr.
func FutexWake(addr *uint32, n int) {
	unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(addr)), futexWake, uintptr(n), 0, 0, 0)
}

// ProcessGone reports whether the process pid has exited (a zombie,
// exited but not yet reaped by its parent, counts as gone).
func ProcessGone(pid int) bool {
	if err := unix.Kill(pid, 0); errors.Is(err, unix.ESRCH) {
		return true
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return errors.Is(err, os.ErrNotExist)
	}
	// "pid (comm) S ...": the state follows the last ')', as comm may
	// itself hold parentheses.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 >= len(b) {
		return false
	}
	state := b[i+2]
	return state == 'Z' || state == 'X'
}
