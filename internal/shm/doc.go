// Package shm is the operating-system side of the manager's shared memory:
// anonymous memory files (memfd) mapped MAP_SHARED, the futex calls the
// shared lock sleeps and wakes with, and the liveness test for the
// process that holds it. The typed API is in the root package
// (SharedValue, SharedArray, SharedLock).
//
// # Region layout
//
// A region is one memfd of a whole number of pages, sealed against
// growing and shrinking (so no process can make another's mapping fault
// with SIGBUS), laid out as:
//
//	offset  0  uint32  lock word (see the root package's SharedLock)
//	offset  8  uint32  Magic
//	offset 12  uint32  element kind
//	offset 16  uint64  element count
//	offset 64  data    element count × element size
//
// The data starts on its own 64-byte cache line: every element is
// naturally aligned for the 64-bit atomic instructions, and the lock
// word's cache line is not shared with the data.
//
// The kernel frees the memory when the last descriptor of the memfd is
// closed and the last mapping of it is unmapped, in every process.
package shm
