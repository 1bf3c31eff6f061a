package builtin

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/goproc/manager/internal/callctx"
	"github.com/goproc/manager/internal/errs"
)

// ConditionRestoreGrace bounds how long a Condition.Wait whose ctx has
// ended still waits to take its lock back (see Condition.Wait). The
// client awaits the reply of a Wait for this long and a margin past its
// deadline (the root's settle.go): so the client always
// learns whether it holds the lock again.
const ConditionRestoreGrace = time.Second

// Condition is a shared condition variable, the server side of Python's
// Manager().Condition(lock). It works on a lock: its own [Lock], or an
// existing [Lock] or [RLock] object, whose ownership rules it follows (a
// Lock is held by a session, an RLock by a proxy handle). A session that
// ends holding the lock abandons it as described for Lock.
//
// Python's wait_for(predicate) runs on the client: it calls Wait until
// its own predicate holds.
//
// Condition is safe for concurrent use.
type Condition struct {
	lock         *lockCore
	restoreGrace time.Duration // ConditionRestoreGrace; shorter in tests

	// mu guards waiters. It is taken before lock.mu, never after it, so
	// that Wait releases the lock and enqueues itself as one step for
	// Notify, which needs mu.
	mu      sync.Mutex
	waiters []*conditionWaiter // FIFO
}

// conditionWaiter is one Wait in progress; its fields but ready are
// guarded by Condition.mu.
type conditionWaiter struct {
	session   callctx.SessionID
	ready     chan struct{} // closed when notified or withdrawn
	notified  bool
	withdrawn bool // the session ended
}

// NewCondition returns a Condition on the Lock or RLock object whose id
// is lockID, resolved with callctx.Resolve, or on a new Lock of its own
// when lockID is 0. It returns an error wrapping errs.NoSuchObject when no
// object has that id, and errs.BadArguments when the object is not a Lock
// or RLock.
func NewCondition(ctx context.Context, lockID uint64) (*Condition, error) {
	c := &Condition{restoreGrace: ConditionRestoreGrace}
	if lockID == 0 {
		c.lock = &lockCore{}
		return c, nil
	}
	obj, ok := callctx.Resolve(ctx, lockID)
	if !ok {
		return nil, fmt.Errorf("%w: no lock with id %d", errs.NoSuchObject, lockID)
	}
	switch l := obj.(type) {
	case *Lock:
		c.lock = &l.core
	case *RLock:
		c.lock = &l.core
	default:
		return nil, fmt.Errorf("%w: object %d is not a Lock or RLock", errs.BadArguments, lockID)
	}
	return c, nil
}

// Acquire takes the condition's lock as [Lock.Acquire] or
// [RLock.Acquire] does; it blocks.
func (c *Condition) Acquire(ctx context.Context) error {
	return c.lock.acquire(ctx, c.lock.ownerOf(ctx))
}

// TryAcquire takes the condition's lock if it can without waiting, as
// [Lock.TryAcquire] does. It never blocks.
func (c *Condition) TryAcquire(ctx context.Context) (bool, error) {
	return c.lock.tryAcquire(c.lock.ownerOf(ctx))
}

// GiveBack releases the lock an Acquire or TryAcquire took for a caller
// that had given up before the reply reached it, as [Lock.GiveBack] does.
// A late Wait is not given back: a Wait that returns an error still holds
// the lock (Python's semantics), and its caller releases it.
func (c *Condition) GiveBack(ctx context.Context, method, code string, _, result []byte) {
	c.lock.giveBack(c.lock.ownerOf(ctx), method, code, result)
}

// Release releases the condition's lock as [Lock.Release] does, returning
// an error wrapping errs.NotHeld when the caller does not hold it. It
// does not block.
func (c *Condition) Release(ctx context.Context) error {
	return c.lock.release(c.lock.ownerOf(ctx))
}

// Wait releases every level of the condition's lock, which the caller
// must hold (else it returns an error wrapping errs.NotHeld at once),
// blocks until a Notify or NotifyAll wakes it, then takes the lock back
// at the level it had, waiting in line for it. Releasing and starting to
// wait is atomic: a Notify made after Wait released the lock wakes it.
// It returns nil with the lock held, or an error wrapping errs.Abandoned
// (lock held) when a session died holding the lock meanwhile.
//
// When ctx ends while waiting, Wait stops waiting for a notification
// (passing on one it received at that moment, so no wake-up is lost) and
// still takes the lock back before returning, as Python's wait does after
// a timeout: the caller holds the lock again and the error wraps
// ctx.Err(). So that it never blocks forever, it waits for the lock at
// most 1 second past the end of ctx; if it could not get it by then (or
// the caller's session ended, or the caller meanwhile released the lock it
// believed it held), the error also wraps errs.NotHeld and the caller does
// not hold the lock.
func (c *Condition) Wait(ctx context.Context) error {
	who := c.lock.ownerOf(ctx)
	w := &conditionWaiter{session: who.session, ready: make(chan struct{})}
	c.mu.Lock()
	p, err := c.lock.park(ctx, who)
	if err != nil {
		c.mu.Unlock()
		return err
	}
	c.waiters = append(c.waiters, w)
	waitTurn(ctx, &c.mu, w.ready)
	withdrawn := w.withdrawn
	if !w.notified && !withdrawn {
		c.waiters = removeWaiter(c.waiters, w)
	} else if w.notified && ctx.Err() != nil {
		// Notified just as ctx ended: this caller gives up, so the
		// notification goes to the next waiter.
		c.notifyLocked(1)
	}
	c.mu.Unlock()

	held, lockErr := c.lock.restore(ctx, p, c.restoreGrace)
	switch {
	case !held && ctx.Err() != nil:
		return errs.Errorf("%w; the lock was not re-acquired: %w", ctx.Err(), errs.NotHeld)
	case !held:
		return fmt.Errorf("%w: the caller's session ended while waiting", errs.NotHeld)
	case ctx.Err() != nil && lockErr != nil:
		return errs.Errorf("%w (lock held again): %w", ctx.Err(), lockErr)
	case ctx.Err() != nil:
		return fmt.Errorf("%w (lock held again)", ctx.Err())
	case withdrawn:
		// Unreachable in practice: a withdrawn waiter's session has ended,
		// so its levels are not restored. Kept for safety.
		return fmt.Errorf("%w: the caller's session ended while waiting", errs.NotHeld)
	case lockErr != nil:
		return lockErr
	}
	return nil
}

// Notify wakes up to n waiters, longest waiting first. The caller must
// hold the condition's lock, else it returns an error wrapping
// errs.NotHeld; n < 0 is an error wrapping errs.BadArguments. The woken
// waiters take the lock back after the caller releases it. It does not
// block.
func (c *Condition) Notify(ctx context.Context, n int) error {
	if n < 0 {
		return fmt.Errorf("%w: n is %d, want n >= 0", errs.BadArguments, n)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.lock.heldBy(c.lock.ownerOf(ctx)) {
		return errs.NotHeld
	}
	c.notifyLocked(n)
	return nil
}

// NotifyAll wakes every waiter. The caller must hold the condition's
// lock, else it returns an error wrapping errs.NotHeld. It does not
// block.
func (c *Condition) NotifyAll(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.lock.heldBy(c.lock.ownerOf(ctx)) {
		return errs.NotHeld
	}
	c.notifyLocked(len(c.waiters))
	return nil
}

func (c *Condition) notifyLocked(n int) {
	for ; n > 0 && len(c.waiters) > 0; n-- {
		w := c.waiters[0]
		c.waiters[0] = nil
		c.waiters = c.waiters[1:]
		w.notified = true
		close(w.ready)
	}
}

// ReleaseSession releases the condition's lock if session s holds it,
// marking it abandoned, and withdraws the session's waits so that no
// notification is spent on a dead process. It implements
// callctx.SessionReleaser and is meant for the server only.
func (c *Condition) ReleaseSession(s callctx.SessionID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lock.releaseSession(s)
	for i := 0; i < len(c.waiters); {
		if w := c.waiters[i]; w.session == s {
			c.waiters = append(c.waiters[:i], c.waiters[i+1:]...)
			w.withdrawn = true
			close(w.ready)
			continue
		}
		i++
	}
}
