package builtin

import (
	"context"
	"fmt"
	"sync"

	"github.com/goproc/manager/internal/callctx"
	"github.com/goproc/manager/internal/errs"
)

// Semaphore is a shared counting semaphore, the server side of Python's
// Manager().Semaphore(value). Acquire takes one permit, waiting in
// arrival order when none is free; Release gives permits back.
//
// Permits are counted per session: when a session ends, the permits it
// acquired and did not release are returned. As in Python, any caller may
// release, even without having acquired: a session's Release first pays
// back the permits that session holds, and any surplus is counted against
// nobody (it raises the count, and no other session's holding is reduced,
// so if that session later ends its permits are returned too). Use
// [BoundedSemaphore] to catch releases beyond the initial value.
//
// A permit returned for an ended session is marked abandoned, as a
// [Lock] is: each of the next acquirers that takes such a permit (one
// per permit returned) holds it and is also given an error wrapping
// errs.Abandoned, so it knows the work the dead holder guarded may be
// half done. Permits are interchangeable, so "the next acquirers" are
// simply the next ones served, whichever permit they get.
//
// Semaphore is safe for concurrent use.
type Semaphore struct {
	initial int
	bounded bool

	mu    sync.Mutex // guards the fields below
	value int        // free permits
	// abandoned counts the free permits returned for ended sessions and
	// not yet reported to an acquirer; always <= value, since every take
	// consumes a mark first.
	abandoned int
	held      map[callctx.SessionID]int
	waiters   []*semaphoreWaiter // FIFO; only non-empty while value is 0
}

// semaphoreWaiter is a blocked Acquire; its fields but ready are guarded
// by Semaphore.mu.
type semaphoreWaiter struct {
	session   callctx.SessionID
	ready     chan struct{} // closed when served
	served    bool
	abandoned bool // the permit served came from an ended session
}

// NewSemaphore returns a Semaphore with value free permits. A negative
// value is an error wrapping errs.BadArguments.
func NewSemaphore(value int) (*Semaphore, error) {
	s := &Semaphore{}
	if err := s.init(value, false); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Semaphore) init(value int, bounded bool) error {
	if value < 0 {
		return fmt.Errorf("%w: initial value %d must be >= 0", errs.BadArguments, value)
	}
	s.initial, s.value, s.bounded = value, value, bounded
	s.held = make(map[callctx.SessionID]int)
	return nil
}

// BoundedSemaphore is a Semaphore that refuses to be released above its
// initial value, the server side of Python's Manager().BoundedSemaphore.
// It has every method of [Semaphore]; Release returns an error wrapping
// errs.OverReleased, and changes nothing, when it would raise the count
// above the initial value. Permits returned for an ended session never
// raise it above the initial value either.
//
// BoundedSemaphore is safe for concurrent use.
type BoundedSemaphore struct {
	Semaphore
}

// NewBoundedSemaphore returns a BoundedSemaphore with value free permits,
// value being also its upper bound. A negative value is an error wrapping
// errs.BadArguments.
func NewBoundedSemaphore(value int) (*BoundedSemaphore, error) {
	b := &BoundedSemaphore{}
	if err := b.init(value, true); err != nil {
		return nil, err
	}
	return b, nil
}

// Acquire takes one permit for the caller's session, blocking until one
// is free and every earlier waiter has been served. It returns nil, or an
// error wrapping errs.Abandoned when the permit was returned for a
// session that ended holding it (the caller holds the permit in both
// cases). When ctx ends first, it returns an error wrapping ctx.Err() and
// takes nothing.
func (s *Semaphore) Acquire(ctx context.Context) error {
	c, _ := callctx.From(ctx)
	s.mu.Lock()
	if ok, abandoned := s.takeLocked(c.Session); ok {
		s.mu.Unlock()
		return semaphoreTakenErr(abandoned)
	}
	w := &semaphoreWaiter{session: c.Session, ready: make(chan struct{})}
	s.waiters = append(s.waiters, w)
	waitTurn(ctx, &s.mu, w.ready)
	defer s.mu.Unlock()
	if !w.served {
		s.waiters = removeWaiter(s.waiters, w)
		return ctx.Err()
	}
	if ctx.Err() != nil {
		// Served just as ctx ended: the caller has given up on the
		// reply, so the permit goes on to the next waiter, with its
		// abandonment still to be reported.
		s.payBackLocked(w.session, 1)
		s.value++
		if w.abandoned {
			s.abandoned++
		}
		s.dispatchLocked()
		return ctx.Err()
	}
	return semaphoreTakenErr(w.abandoned)
}

// TryAcquire takes one permit for the caller's session if one is free
// and nobody waits, and never blocks. It returns true when the caller now
// holds a permit, with an error wrapping errs.Abandoned when that permit
// was returned for a session that ended holding it; otherwise false and
// nil.
func (s *Semaphore) TryAcquire(ctx context.Context) (bool, error) {
	c, _ := callctx.From(ctx)
	s.mu.Lock()
	defer s.mu.Unlock()
	ok, abandoned := s.takeLocked(c.Session)
	return ok, semaphoreTakenErr(abandoned)
}

// semaphoreTakenErr is what a successful take returns: nil, or, when the
// permit came from an ended session, an error wrapping errs.Abandoned.
func semaphoreTakenErr(abandoned bool) error {
	if !abandoned {
		return nil
	}
	return errs.Abandoned
}

// Release gives back n permits (n >= 1, else an error wrapping
// errs.BadArguments), waking as many waiters. They are first counted
// against the permits the caller's session holds, and the rest against
// nobody. On a BoundedSemaphore, releasing above the initial value
// returns an error wrapping errs.OverReleased and changes nothing. It
// does not block.
func (s *Semaphore) Release(ctx context.Context, n int) error {
	if n < 1 {
		return fmt.Errorf("%w: n is %d, want n >= 1", errs.BadArguments, n)
	}
	c, _ := callctx.From(ctx)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.bounded && s.value+n > s.initial {
		return fmt.Errorf("%w: %d free + %d released > initial value %d", errs.OverReleased, s.value, n, s.initial)
	}
	s.payBackLocked(c.Session, n)
	s.value += n
	s.dispatchLocked()
	return nil
}

// GiveBack returns the permit an Acquire or TryAcquire took for a caller
// that had given up before the reply reached it (see
// callctx.GiveBacker): it goes on to the next waiter, with an
// abandonment it reported still to be reported. It does not block.
func (s *Semaphore) GiveBack(ctx context.Context, method, code string, _, result []byte) {
	if !acquireTook(method, code, result) {
		return
	}
	c, _ := callctx.From(ctx)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.held[c.Session] == 0 {
		return // released meanwhile
	}
	s.payBackLocked(c.Session, 1)
	s.value++
	if code != "" {
		s.abandoned++
	}
	s.dispatchLocked()
}

// Value returns the number of free permits. It does not block.
func (s *Semaphore) Value() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.value
}

// ReleaseSession returns the permits session s acquired and did not
// release, each marked abandoned (see [Semaphore]). It implements
// callctx.SessionReleaser and is meant for the server only.
func (s *Semaphore) ReleaseSession(id callctx.SessionID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.releaseSessionLocked(id)
}

func (s *Semaphore) releaseSessionLocked(id callctx.SessionID) {
	n := s.held[id]
	if n == 0 {
		return
	}
	delete(s.held, id)
	if s.bounded {
		// Never above the bound: count only the permits that come back.
		n = min(n, s.initial-s.value)
	}
	s.value += n
	s.abandoned += n
	s.dispatchLocked()
}

// takeLocked takes a permit for session id if one is free and nobody
// waits. abandoned reports that the permit carries an abandonment mark,
// which the caller must report.
func (s *Semaphore) takeLocked(id callctx.SessionID) (ok, abandoned bool) {
	if s.value == 0 || len(s.waiters) > 0 {
		return false, false
	}
	s.value--
	s.held[id]++
	return true, s.takeMarkLocked()
}

// takeMarkLocked consumes one abandonment mark, if any is left, for a
// permit just taken.
func (s *Semaphore) takeMarkLocked() bool {
	if s.abandoned == 0 {
		return false
	}
	s.abandoned--
	return true
}

// payBackLocked lowers the permits session id holds by up to n.
func (s *Semaphore) payBackLocked(id callctx.SessionID, n int) {
	h := s.held[id]
	if h <= n {
		delete(s.held, id)
		return
	}
	s.held[id] = h - n
}

// dispatchLocked hands free permits to waiters, longest waiting first.
func (s *Semaphore) dispatchLocked() {
	for s.value > 0 && len(s.waiters) > 0 {
		w := s.waiters[0]
		s.waiters[0] = nil
		s.waiters = s.waiters[1:]
		s.value--
		s.held[w.session]++
		w.served = true
		w.abandoned = s.takeMarkLocked()
		close(w.ready)
	}
}

// Inspect returns the sessions holding permits, the blocked Acquires and
// the free permits (Len).
func (s *Semaphore) Inspect() Inspection {
	s.mu.Lock()
	defer s.mu.Unlock()
	in := Inspection{Len: s.value}
	for id, n := range s.held {
		in.Holders = append(in.Holders, Holding{Session: id, Count: n})
	}
	for _, w := range s.waiters {
		in.Waiters = append(in.Waiters, w.session)
	}
	return in
}
