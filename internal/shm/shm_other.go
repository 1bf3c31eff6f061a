//go:build !linux

package shm

import (
	"os"
	"time"
)

// Create fails with ErrNotSupported.
func Create(kind uint32, elem, n int) (*Region, error) { return nil, ErrNotSupported }

// Open fails with ErrNotSupported.
func Open(f *os.File) (*Region, error) { return nil, ErrNotSupported }

// Close does nothing: no region exists on this platform.
func (r *Region) Close() error { return nil }

// FutexWait returns at once.
func FutexWait(addr *uint32, val uint32, timeout time.Duration) {}

// FutexWake does nothing.
func FutexWake(addr *uint32, n int) {}

// ProcessGone reports false.
func ProcessGone(pid int) bool { return false }
