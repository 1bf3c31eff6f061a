package builtin

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/goproc/manager/internal/callctx"
	"github.com/goproc/manager/internal/errs"
)

// Lock is a shared mutual-exclusion lock, the server side of Python's
// multiprocessing Manager().Lock(). It is owned by the caller's session
// (one client process): any goroutine of that process may release it, and
// another Acquire from the same process waits like any other caller, as
// Python's Lock does. Waiters are served in arrival order.
//
// When the holder's session ends, the lock is handed to the next waiter
// (or freed) and marked abandoned: the next successful Acquire or
// TryAcquire holds the lock and also returns an error wrapping
// errs.Abandoned, exactly once.
//
// Lock is safe for concurrent use.
type Lock struct {
	core lockCore
}

// NewLock returns a free Lock.
func NewLock() (*Lock, error) {
	return &Lock{}, nil
}

// Acquire takes the lock for the caller's session, blocking until it is
// free and every earlier waiter has had its turn. It returns nil, or an
// error wrapping errs.Abandoned when the previous holder's session ended
// holding the lock (the caller holds the lock in both cases). When ctx
// ends first, Acquire returns an error wrapping ctx.Err() and the lock
// is not held by the caller.
func (l *Lock) Acquire(ctx context.Context) error {
	return l.core.acquire(ctx, l.core.ownerOf(ctx))
}

// TryAcquire takes the lock if it is free and nobody waits for it, and
// never blocks. It returns true when the caller now holds the lock, with
// an error wrapping errs.Abandoned when the previous holder died holding
// it; otherwise false and nil.
func (l *Lock) TryAcquire(ctx context.Context) (bool, error) {
	return l.core.tryAcquire(l.core.ownerOf(ctx))
}

// Release frees the lock, handing it to the longest waiter if there is
// one. It does not block. It returns an error wrapping errs.NotHeld when
// the caller's session does not hold the lock.
func (l *Lock) Release(ctx context.Context) error {
	return l.core.release(l.core.ownerOf(ctx))
}

// GiveBack releases the lock an Acquire or TryAcquire took for a caller
// that had given up before the reply reached it (see
// callctx.GiveBacker), so the lock is not held by nobody. It does not
// block.
func (l *Lock) GiveBack(ctx context.Context, method, code string, _, result []byte) {
	l.core.giveBack(l.core.ownerOf(ctx), method, code, result)
}

// Locked reports whether some session holds the lock. It does not block.
func (l *Lock) Locked() bool {
	return l.core.locked()
}

// Token returns the fencing token of the caller's hold: a number that
// grows with every acquisition of the lock (by anyone), so that a
// resource the lock protects can refuse a request carrying a token older
// than the newest it has seen. It returns an error wrapping errs.NotHeld
// when the caller's session does not hold the lock. It does not block.
func (l *Lock) Token(ctx context.Context) (uint64, error) {
	return l.core.tokenOf(l.core.ownerOf(ctx))
}

// ReleaseSession releases the lock if session s holds it, marking it
// abandoned, so that a dead process never keeps it. It implements
// callctx.SessionReleaser and is meant for the server only.
func (l *Lock) ReleaseSession(s callctx.SessionID) {
	l.core.releaseSession(s)
}

// RLock is a shared reentrant lock, the server side of Python's
// Manager().RLock(). It is owned by the caller's proxy handle: the
// holding handle may acquire it again (each Acquire adds a level, each
// Release removes one, and the lock is free when none is left), while
// other handles, even in the same process, wait. Waiters are served in
// arrival order.
//
// Its methods are [Lock]'s, with the handle in the place of the session:
// Acquire returns at once when the handle holds the lock already;
// TryAcquire takes a level when the handle holds it already, or when it
// is free and nobody waits; Release removes one level and frees the lock
// (handing it to the longest waiter) when none is left; GiveBack returns
// the level a withdrawn call took; Token is kept by a reentrant Acquire
// (a new acquisition of the free lock gets a larger one); Release and
// Token return an error wrapping errs.NotHeld when the caller's handle
// does not hold the lock; ReleaseSession releases every level held
// through a handle of the session.
//
// When the session of the holding handle ends, the lock is handed on
// (or freed) and marked abandoned, as for [Lock].
//
// RLock is safe for concurrent use.
type RLock struct {
	Lock
}

// NewRLock returns a free RLock.
func NewRLock() (*RLock, error) {
	return &RLock{Lock{core: lockCore{reentrant: true}}}, nil
}

// lockOwner says who holds a lockCore: a session (Lock, and a Condition on
// its own Lock), or a session's proxy handle (RLock).
type lockOwner struct {
	session callctx.SessionID
	handle  uint64
}

type lockWaiterState uint8

const (
	lockQueued    lockWaiterState = iota // in lockCore.waiters
	lockGranted                          // handed the lock by handOffLocked
	lockWithdrawn                        // removed by someone else: session ended, restore timed out or was cancelled
)

// lockWaiter is one caller waiting for a lockCore. Every field but ready
// is guarded by the core's mu.
type lockWaiter struct {
	who    lockOwner
	levels int       // levels to hold once granted: 1, or a Condition.Wait's saved levels
	park   *lockPark // non-nil when a Condition.Wait restores its levels
	ready  chan struct{}
	state  lockWaiterState
	gen    uint64 // lockCore.gen when granted
	// abandoned is set when the lock came to this waiter from a dead
	// session; the waiter reports it, or gives it back with the lock.
	abandoned bool
}

// lockPark records a Condition.Wait that released the lock and will take
// its levels back. It is guarded by the core's mu.
type lockPark struct {
	who    lockOwner
	levels int // levels still to restore; lowered by release, zeroed by releaseSession
	// waitDone is the Done channel of the Wait's ctx: once closed, the
	// waiter's client has given up on the reply, and a Release by the
	// same owner cancels the pending restore instead of failing.
	waitDone <-chan struct{}
	waiter   *lockWaiter // the restore waiter while it is queued
}

// lockCore is the one implementation of owner-keyed, optionally
// reentrant, fair locking behind Lock, RLock and Condition. The lock is
// handed directly to the first waiter under mu, so a newcomer cannot
// overtake a waiter, and a waiter that gives up gives the lock on.
type lockCore struct {
	reentrant bool // set at construction

	mu        sync.Mutex // guards the fields below
	owner     lockOwner
	count     int    // levels held by owner; 0 means free
	gen       uint64 // bumped whenever owner changes
	abandoned bool   // a holder's session ended; reported to the next acquirer
	// tokens counts acquisitions of the free lock; token is the current
	// hold's fencing token (tokens when it was taken).
	tokens, token uint64
	since         time.Time // when owner took the lock, for Inspect
	waiters       []*lockWaiter
	parked        []*lockPark
}

// ownerOf returns the owner key of the caller of ctx.
func (l *lockCore) ownerOf(ctx context.Context) lockOwner {
	c, _ := callctx.From(ctx)
	o := lockOwner{session: c.Session}
	if l.reentrant {
		o.handle = c.Handle
	}
	return o
}

func (l *lockCore) locked() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.count > 0
}

// tokenOf returns the fencing token of who's hold, or errs.NotHeld.
func (l *lockCore) tokenOf(who lockOwner) (uint64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.count == 0 || l.owner != who {
		return 0, errs.NotHeld
	}
	return l.token, nil
}

// heldBy reports whether who holds the lock.
func (l *lockCore) heldBy(who lockOwner) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.count > 0 && l.owner == who
}

// takeLocked tries to give who levels of the lock without waiting: when
// it is free and nobody waits, or when who holds a reentrant lock. ok
// reports success; err wraps errs.Abandoned when the lock came from a
// dead session.
func (l *lockCore) takeLocked(who lockOwner, levels int) (ok bool, err error) {
	switch {
	case l.count == 0 && len(l.waiters) == 0:
		l.owner, l.count, l.since = who, levels, time.Now()
		l.gen++
		l.tokens++
		l.token = l.tokens
		if l.abandoned {
			l.abandoned = false
			return true, lockAbandonedErr()
		}
		return true, nil
	case l.reentrant && l.count > 0 && l.owner == who:
		l.count += levels
		return true, nil
	}
	return false, nil
}

func lockAbandonedErr() error {
	return errs.Abandoned
}

func (l *lockCore) tryAcquire(who lockOwner) (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.takeLocked(who, 1)
}

func (l *lockCore) acquire(ctx context.Context, who lockOwner) error {
	l.mu.Lock()
	if ok, err := l.takeLocked(who, 1); ok {
		l.mu.Unlock()
		return err
	}
	w := &lockWaiter{who: who, levels: 1, ready: make(chan struct{})}
	l.waiters = append(l.waiters, w)
	waitTurn(ctx, &l.mu, w.ready)
	defer l.mu.Unlock()
	switch {
	case w.state == lockQueued:
		l.waiters = removeWaiter(l.waiters, w)
		return ctx.Err()
	case w.state == lockWithdrawn || l.gen != w.gen:
		return lockLostErr(ctx)
	case ctx.Err() != nil:
		// The lock was handed over as ctx ended: the caller has given up
		// on the reply, so give the lock on rather than keep it for nobody.
		l.giveBackLocked(w)
		return ctx.Err()
	case w.abandoned:
		return lockAbandonedErr()
	}
	return nil
}

// lockLostErr is returned by a waiter whose lock was taken back before it
// could return: its session ended (so nobody reads the reply), or a
// caller of the same session released the lock meanwhile.
func lockLostErr(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return fmt.Errorf("%w: the lock was released on this session's behalf before the call returned", errs.NotHeld)
}

// giveBackLocked undoes the grant of the lock to w, which still owns it.
func (l *lockCore) giveBackLocked(w *lockWaiter) {
	if w.abandoned {
		l.abandoned = true // nobody has been told yet
	}
	l.count -= w.levels
	if l.count <= 0 {
		l.handOffLocked()
	}
}

// withdrawLocked removes a queued waiter on behalf of someone else and
// wakes it.
func (l *lockCore) withdrawLocked(w *lockWaiter) {
	l.waiters = removeWaiter(l.waiters, w)
	w.state = lockWithdrawn
	close(w.ready)
}

// handOffLocked gives the lock, which its owner has let go, to the first
// waiter, or frees it.
func (l *lockCore) handOffLocked() {
	l.gen++
	if len(l.waiters) == 0 {
		l.owner, l.count = lockOwner{}, 0
		return
	}
	w := l.waiters[0]
	l.waiters[0] = nil
	l.waiters = l.waiters[1:]
	l.owner, l.count, l.since = w.who, w.levels, time.Now()
	l.tokens++
	l.token = l.tokens
	w.state, w.gen = lockGranted, l.gen
	w.abandoned, l.abandoned = l.abandoned, false
	close(w.ready)
}

// giveBack undoes a late Acquire or TryAcquire by who: one level is
// released, and an abandonment it reported (code) is kept for the next
// holder, who has not been told.
func (l *lockCore) giveBack(who lockOwner, method, code string, result []byte) {
	if !acquireTook(method, code, result) {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.count == 0 || l.owner != who {
		return // released meanwhile (the session ended, or it released it)
	}
	if code != "" {
		l.abandoned = true
	}
	l.count--
	if l.count == 0 {
		l.handOffLocked()
	}
}

func (l *lockCore) release(who lockOwner) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.count > 0 && l.owner == who {
		l.count--
		if l.count == 0 {
			l.handOffLocked()
		}
		return nil
	}
	// A Condition.Wait whose ctx ended is taking the lock back for this
	// owner. Its client has already returned the ctx error, believes it
	// holds the lock (Python semantics) and is releasing it: cancel one
	// pending level instead of leaving it to be restored for nobody.
	for _, p := range l.parked {
		if p.who != who || p.levels == 0 || !lockChanClosed(p.waitDone) {
			continue
		}
		p.levels--
		if w := p.waiter; w != nil && w.state == lockQueued {
			w.levels--
			if w.levels == 0 {
				l.withdrawLocked(w)
			}
		}
		return nil
	}
	return errs.NotHeld
}

func lockChanClosed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

func (l *lockCore) releaseSession(s callctx.SessionID) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := 0; i < len(l.waiters); {
		if w := l.waiters[i]; w.who.session == s {
			l.withdrawLocked(w)
			continue
		}
		i++
	}
	for _, p := range l.parked {
		if p.who.session == s {
			p.levels = 0
		}
	}
	if l.count > 0 && l.owner.session == s {
		l.abandoned = true
		l.handOffLocked()
	}
}

// park releases every level who holds, for Condition.Wait (whose ctx is
// ctx), and records them so that restore can take them back.
func (l *lockCore) park(ctx context.Context, who lockOwner) (*lockPark, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.count == 0 || l.owner != who {
		return nil, errs.NotHeld
	}
	// Wait is going to block: only now is ctx.Done touched.
	p := &lockPark{who: who, levels: l.count, waitDone: ctx.Done()}
	l.parked = append(l.parked, p)
	l.handOffLocked()
	return p, nil
}

func (l *lockCore) unparkLocked(p *lockPark) {
	for i, x := range l.parked {
		if x == p {
			l.parked = append(l.parked[:i], l.parked[i+1:]...)
			return
		}
	}
}

// restore takes back the levels p released, waiting in line like any
// acquirer. While ctx lives it waits for as long as it takes; once ctx
// has ended it waits at most grace more, so that a Wait that gave up
// still ends holding the lock (Python semantics) but never blocks
// forever. A grant is never given back here, even when ctx has ended.
// held reports whether the caller holds the lock again; err wraps
// errs.Abandoned when it came from a dead session. The restore is given
// up early when the owner's session ends or, after ctx ended, when the
// owner releases the lock it believes it holds (see release).
func (l *lockCore) restore(ctx context.Context, p *lockPark, grace time.Duration) (held bool, err error) {
	l.mu.Lock()
	if p.levels == 0 {
		l.unparkLocked(p)
		l.mu.Unlock()
		return false, nil
	}
	if ok, err := l.takeLocked(p.who, p.levels); ok {
		l.unparkLocked(p)
		l.mu.Unlock()
		return true, err
	}
	w := &lockWaiter{who: p.who, levels: p.levels, park: p, ready: make(chan struct{})}
	p.waiter = w
	l.waiters = append(l.waiters, w)
	l.mu.Unlock()

	done := ctx.Done()
	var expired <-chan time.Time
wait:
	for {
		select {
		case <-w.ready:
			break wait
		case <-done:
			done = nil
			t := time.NewTimer(grace)
			defer t.Stop()
			expired = t.C
		case <-expired:
			l.mu.Lock()
			if w.state == lockQueued {
				l.withdrawLocked(w)
			}
			l.mu.Unlock()
			break wait
		}
	}

	l.mu.Lock()
	defer l.mu.Unlock()
	l.unparkLocked(p)
	if w.state != lockGranted || l.gen != w.gen {
		return false, nil
	}
	if w.abandoned {
		return true, lockAbandonedErr()
	}
	return true, nil
}

// Inspection is a read-only view of a synchronising object or queue, for
// the server's introspection operations (server-only, like
// ReleaseSession). Sessions are those of the callers; slices are in
// arrival order.
type Inspection struct {
	Holders []Holding           // a lock's holder; a semaphore's sessions holding permits
	Waiters []callctx.SessionID // blocked Acquires, or a barrier's waiting parties
	Len     int                 // a queue's items; a semaphore's free permits
	Getters []callctx.SessionID // a queue's blocked Gets
	Putters []callctx.SessionID // a queue's blocked Puts
	Unacked []Holding           // a JoinableQueue's items got and not acknowledged, per session
	Parties int                 // a barrier's parties
}

// Holding is what one session holds: Count levels, permits or items,
// since Since (a lock's; zero otherwise).
type Holding struct {
	Session callctx.SessionID
	Count   int
	Since   time.Time
}

// Inspect returns the lock's holder and waiters.
func (l *Lock) Inspect() Inspection { return l.core.inspect() }

func (l *lockCore) inspect() Inspection {
	l.mu.Lock()
	defer l.mu.Unlock()
	var in Inspection
	if l.count > 0 {
		in.Holders = []Holding{{Session: l.owner.session, Count: l.count, Since: l.since}}
	}
	for _, w := range l.waiters {
		in.Waiters = append(in.Waiters, w.who.session)
	}
	return in
}
