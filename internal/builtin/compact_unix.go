//go:build unix

package builtin

import (
	"fmt"
	"os"
	"syscall"
)

// mapRegion maps size bytes (rounded up to pages) of zeroed anonymous
// memory outside the Go heap. Running out of memory is fatal, as it is
// for the Go heap.
func mapRegion(size int) []byte {
	page := os.Getpagesize()
	size = (size + page - 1) &^ (page - 1)
	b, err := syscall.Mmap(-1, 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANON)
	if err != nil {
		panic(fmt.Sprintf("manager: map %d bytes for a dict: %v", size, err))
	}
	return b
}

// unmapRegion unmaps a region of mapRegion, b being the whole of it.
func unmapRegion(b []byte) {
	if err := syscall.Munmap(b); err != nil {
		panic(fmt.Sprintf("manager: unmap a dict's region of %d bytes: %v", len(b), err))
	}
}
