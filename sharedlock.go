package manager

import (
	"context"
	"fmt"
	"math"
	"os"
	"sync/atomic"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/goproc/manager/internal/shm"
)

// A SharedLock is a mutual-exclusion lock in shared memory, held by a
// process (Python's Value.get_lock(), but one a dead holder cannot
// wedge). Taking a free lock is one atomic instruction; a process that
// must wait sleeps on a futex and is woken by the Unlock.
//
// The lock belongs to the process that took it, not to a goroutine: any
// goroutine of that process may unlock it, and another goroutine of the
// same process that calls Lock waits like any other process. If the
// holding process dies, the next Lock takes the lock over and returns
// ErrAbandoned, so the caller knows the state it protects may be half
// updated. (Waiters check the holder's liveness every 50 ms.)
//
// Each SharedValue and SharedArray has one (Mutex), and NewSharedLock
// makes a standalone one, passed to workers as a direct argument of Fork.
// A SharedLock is safe for concurrent use. It is Linux-only.
type SharedLock struct {
	word *uint32     // 0 (free), or the holder's pid | lockWaiters
	own  *shm.Region // the memory of a standalone lock (NewSharedLock)
}

// The lock word: the holder's pid (pids fit in 22 bits on Linux) and a
// flag saying that some process may be asleep waiting for it, so Unlock
// must wake one (Drepper's "Futexes are tricky", mutex 2, with the pid in
// place of the "locked" state).
const (
	lockWaiters = 1 << 31
	lockPidMask = lockWaiters - 1
)

// lockCheckInterval is how often a waiter checks whether the holder is
// still alive. It bounds how long a dead holder blocks the others.
const lockCheckInterval = 50 * time.Millisecond

// myPid is this process's pid, the value its locks hold.
var myPid = uint32(os.Getpid())

// NewSharedLock returns a new, free SharedLock of its own. Close it when
// done.
func NewSharedLock() (*SharedLock, error) {
	r, err := shm.Create(0, 1, 0)
	if err != nil {
		return nil, shmError(err)
	}
	return &SharedLock{word: r.Word(shm.OffLock), own: r}, nil
}

func (l *SharedLock) mem() *uint32 {
	if l.word == nil {
		panic("manager: SharedLock used after Close (of it or of its value), or not made by NewSharedLock or Mutex")
	}
	return l.word
}

// Lock takes the lock, blocking until it is free or ctx ends. It returns
// nil, or ErrAbandoned (the caller holds the lock, but its previous holder
// died holding it), or an error satisfying errors.Is(err, ctx.Err()) when
// ctx ended first (the lock is not taken). A free lock is taken even if
// ctx has ended.
func (l *SharedLock) Lock(ctx context.Context) error {
	if atomic.CompareAndSwapUint32(l.mem(), 0, myPid) {
		return nil
	}
	return l.lockSlow(ctx)
}

func (l *SharedLock) lockSlow(ctx context.Context) error {
	// No spinning before the first sleep: 20 or 100 spins first made
	// W5's locked variant (BenchmarkW5SharedMemory, 4 processes on 2
	// cores) no faster, and the loop below retries a freed lock before it
	// sleeps anyway.
	w := l.word
	var stop func() bool
	defer func() {
		if stop != nil {
			stop()
		}
	}()
	nextCheck := time.Now().Add(lockCheckInterval)
	for {
		cur := atomic.LoadUint32(w)
		if cur == 0 {
			// Keep the waiters flag: others may be asleep, and whoever
			// takes the lock after a sleep must wake them in turn.
			if atomic.CompareAndSwapUint32(w, 0, myPid|lockWaiters) {
				return nil
			}
			continue
		}
		if cur&lockWaiters == 0 {
			if !atomic.CompareAndSwapUint32(w, cur, cur|lockWaiters) {
				continue
			}
			cur |= lockWaiters
		}
		if err := ctx.Err(); err != nil {
			return errorf("manager: SharedLock.Lock: %w", err)
		}
		if stop == nil && ctx.Done() != nil {
			// A cancelled ctx wakes every sleeper on the word; the
			// others find the lock still held and sleep again.
			stop = context.AfterFunc(ctx, func() { shm.FutexWake(w, math.MaxInt32) })
		}
		shm.FutexWait(w, cur, lockCheckInterval)
		if now := time.Now(); now.After(nextCheck) {
			nextCheck = now.Add(lockCheckInterval)
			if l.takeAbandoned() {
				return errorf("manager: SharedLock.Lock: %w", ErrAbandoned)
			}
		}
	}
}

// takeAbandoned takes the lock if its holder has died.
func (l *SharedLock) takeAbandoned() bool {
	cur := atomic.LoadUint32(l.word)
	holder := cur & lockPidMask
	if holder == 0 || holder == myPid || !shm.ProcessGone(int(holder)) {
		return false
	}
	// Keep the waiters flag: the dead holder may have had sleepers.
	return atomic.CompareAndSwapUint32(l.word, cur, myPid|lockWaiters)
}

// TryLock takes the lock if it is free, or if its holder died (then it
// returns true and ErrAbandoned), and never blocks.
func (l *SharedLock) TryLock() (bool, error) {
	w := l.mem()
	if atomic.CompareAndSwapUint32(w, 0, myPid) {
		return true, nil
	}
	if l.takeAbandoned() {
		return true, errorf("manager: SharedLock.TryLock: %w", ErrAbandoned)
	}
	return false, nil
}

// Unlock releases the lock and wakes one waiting process, if any. It
// fails with ErrNotHeld if this process does not hold the lock. It never
// blocks.
func (l *SharedLock) Unlock() error {
	w := l.mem()
	for {
		cur := atomic.LoadUint32(w)
		if cur&lockPidMask != myPid {
			return errorf("manager: SharedLock.Unlock: %w", ErrNotHeld)
		}
		if atomic.CompareAndSwapUint32(w, cur, 0) {
			if cur&lockWaiters != 0 {
				shm.FutexWake(w, 1)
			}
			return nil
		}
	}
}

// Locked reports whether some process holds the lock (for tests and
// diagnostics: the answer may be stale at once).
func (l *SharedLock) Locked() bool { return atomic.LoadUint32(l.mem())&lockPidMask != 0 }

// Close releases a lock made by NewSharedLock in this process (as
// SharedValue.Close); for a value's or array's lock (Mutex) it does
// nothing: close the value. It may be called more than once.
func (l *SharedLock) Close() error {
	if l.own == nil {
		return nil
	}
	l.word = nil
	err := l.own.Close()
	l.own = nil
	return err
}

// EncodeMsgpack refuses: a SharedLock travels only as an argument of Fork.
func (l *SharedLock) EncodeMsgpack(*msgpack.Encoder) error { return errCarried("SharedLock") }

// DecodeMsgpack maps the lock a parent passed to this worker with Fork.
func (l *SharedLock) DecodeMsgpack(d *msgpack.Decoder) error {
	var ref shmRef
	if err := d.Decode(&ref); err != nil {
		return errorf("manager: decode SharedLock: %w", err)
	}
	if ref.Tag != shmTag || ref.Kind != 0 {
		return fmt.Errorf("%w: decode SharedLock: the argument is not a standalone SharedLock", ErrWrongType)
	}
	fd, err := inheritedFD(ref.Index)
	if err != nil {
		return err
	}
	f := os.NewFile(uintptr(fd), "memfd:"+shm.Name)
	r, err := shm.Open(f)
	if err != nil {
		f.Close()
		return errorf("manager: decode SharedLock: %w", shmError(err))
	}
	if err := r.Check(0, 0); err != nil {
		r.Close()
		return errorf("manager: decode SharedLock: %w", err)
	}
	l.word, l.own = r.Word(shm.OffLock), r
	return nil
}

func (l *SharedLock) forkArg(first int) (any, []*os.File, func(), error) {
	if l.own == nil {
		return nil, nil, nil, fmt.Errorf("manager: only a lock made by NewSharedLock can be passed to Fork (pass the value whose Mutex it is)")
	}
	return &shmRef{Tag: shmTag, Index: first}, []*os.File{l.own.File()}, nil, nil
}
