package manager

import (
	"context"
	"errors"
	"fmt"
)

type conditionKind struct{}

func (conditionKind) typeID() string { return typeCondition }

// A ConditionLock is a lock a Condition can be built on: a *Lock or an
// *RLock.
type ConditionLock interface {
	conditionLock() *Proxy
}

var (
	_ ConditionLock = (*Lock)(nil)
	_ ConditionLock = (*RLock)(nil)
)

// A Condition is a proxy to a shared condition variable in a manager,
// Python's manager.Condition(lock). It works on a lock — its own Lock, or
// the Lock or RLock it was built on — and follows that lock's ownership:
// a Lock is held by a process, an RLock by a proxy (here, the Condition
// proxy: acquiring through the Condition and through the RLock proxy are
// two different owners).
//
// Wait releases the lock and waits for Notify or NotifyAll atomically,
// then takes the lock back; WaitFor loops Wait until a predicate,
// evaluated in the caller, holds. If the lock's holder dies, the lock is
// released and marked abandoned, as for Lock (ErrAbandoned).
//
// A Condition is safe for concurrent use, and can be passed to Fork or
// stored in another shared object.
type Condition struct {
	handle[conditionKind]
}

// NewCondition creates a shared condition variable on lock (a *Lock or
// *RLock of the same manager), or on a new Lock of its own when lock is
// nil, and returns a proxy to it. The condition is freed once every proxy
// to it, in every process, is closed (or its process has exited); it
// keeps its lock working meanwhile. It blocks for one round trip.
func NewCondition(ctx context.Context, s Session, lock ConditionLock) (*Condition, error) {
	id, err := conditionLockID(s, lock)
	if err != nil {
		return nil, err
	}
	h, err := newObject[conditionKind](ctx, s, "", false, id)
	if err != nil {
		return nil, err
	}
	return &Condition{h}, nil
}

// OpenCondition returns a proxy to the shared condition variable named
// name, creating it on lock (as NewCondition does) if there is none; lock
// is ignored otherwise. It lives until Client.Delete(name) or the
// manager's shutdown. A name taken by an object of another type gives an
// error satisfying errors.Is(err, ErrWrongType). It blocks for one round
// trip.
func OpenCondition(ctx context.Context, s Session, name string, lock ConditionLock) (*Condition, error) {
	id, err := conditionLockID(s, lock)
	if err != nil {
		return nil, err
	}
	h, err := newObject[conditionKind](ctx, s, name, true, id)
	if err != nil {
		return nil, err
	}
	return &Condition{h}, nil
}

// conditionLockID returns the object id the server's Condition
// constructor takes: lock's, or 0 for a lock of its own.
func conditionLockID(s Session, lock ConditionLock) (uint64, error) {
	e, err := sessionEngine(s, "NewCondition")
	if err != nil {
		return 0, err
	}
	if lock == nil {
		return 0, nil
	}
	p := lock.conditionLock()
	if p == nil {
		return 0, nil
	}
	if p.ref.Server != e.serverID() {
		return 0, &opError{"NewCondition", fmt.Errorf("%w: lock %s belongs to another manager", ErrBadArguments, p)}
	}
	return p.ID(), nil
}

// Acquire takes the condition's lock as Lock.Acquire or RLock.Acquire
// does (Python's cond.acquire()). It blocks until ctx ends.
func (c *Condition) Acquire(ctx context.Context) error {
	return c.h().call(ctx, "Acquire", nil)
}

// TryAcquire takes the condition's lock if it can without waiting, as
// Lock.TryAcquire does, and reports whether it did. It never blocks.
func (c *Condition) TryAcquire(ctx context.Context) (bool, error) {
	return c.h().tryAcquire(ctx)
}

// Release releases the condition's lock (Python's cond.release()). It
// does not block. It returns an error satisfying errors.Is(err,
// ErrNotHeld) when the caller does not hold the lock.
func (c *Condition) Release(ctx context.Context) error {
	return c.h().call(ctx, "Release", nil)
}

// Wait releases the condition's lock, which the caller must hold (else
// it returns an error satisfying errors.Is(err, ErrNotHeld) at once),
// blocks until Notify or NotifyAll wakes it, and takes the lock back
// before returning (Python's cond.wait(); ctx's deadline is the timeout).
//
// It returns nil with the lock held; or, with the lock held too, an error
// satisfying errors.Is(err, ErrAbandoned) when a holder died meanwhile,
// or errors.Is(err, ctx.Err()) when ctx ended first (Python's wait
// returning False). In the rare case that the lock could not be taken
// back (another holder kept it for seconds after ctx ended), the error
// also satisfies errors.Is(err, ErrNotHeld) and the lock is not held.
func (c *Condition) Wait(ctx context.Context) error {
	return c.h().call(ctx, "Wait", nil)
}

// WaitFor calls predicate, in the caller, and Wait until predicate
// returns true (Python's cond.wait_for(predicate)); the caller must hold
// the lock, and holds it when WaitFor returns. When ctx ends it evaluates
// predicate a last time and returns nil if it holds, else the error of
// Wait, satisfying errors.Is(err, ctx.Err()). An error from predicate, or
// a Wait error satisfying ErrAbandoned or ErrNotHeld, is returned at
// once.
func (c *Condition) WaitFor(ctx context.Context, predicate func() (bool, error)) error {
	if c.Proxy() == nil {
		return fmt.Errorf("manager: Condition.WaitFor: %w", ErrNilProxy)
	}
	if predicate == nil {
		return fmt.Errorf("%w: Condition.WaitFor: nil predicate", ErrBadArguments)
	}
	for {
		ok, err := predicate()
		if err != nil || ok {
			return err
		}
		werr := c.Wait(ctx)
		if werr == nil {
			continue
		}
		// Whether ctx ended is read from the error: the manager may report
		// the deadline a moment before ctx's own timer has fired here.
		timedOut := errors.Is(werr, context.DeadlineExceeded) || errors.Is(werr, context.Canceled)
		if !timedOut || errors.Is(werr, ErrNotHeld) {
			return werr // not a timeout, or the lock was not taken back
		}
		// ctx ended: the lock is held again; one last look, as Python's
		// wait_for does after its timeout.
		ok, err = predicate()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		return werr
	}
}

// Notify wakes up to n waiters, longest waiting first (Python's
// cond.notify(n)). The caller must hold the lock, else it returns an
// error satisfying errors.Is(err, ErrNotHeld). It does not block; the
// woken waiters take the lock back once the caller releases it.
func (c *Condition) Notify(ctx context.Context, n int) error {
	return c.h().call(ctx, "Notify", nil, n)
}

// NotifyAll wakes every waiter (Python's cond.notify_all()). The caller
// must hold the lock, else it returns an error satisfying
// errors.Is(err, ErrNotHeld). It does not block.
func (c *Condition) NotifyAll(ctx context.Context) error {
	return c.h().call(ctx, "NotifyAll", nil)
}

// h returns the proxy's handle, or nil when c is nil (see handle).
func (c *Condition) h() *handle[conditionKind] {
	if c == nil {
		return nil
	}
	return &c.handle
}

// Proxy returns the untyped proxy underneath, for Call and for passing
// the object around untyped. It is nil for a nil or zero Condition.
func (c *Condition) Proxy() *Proxy { return c.h().proxy() }

// Close gives back this proxy's reference to the shared condition; an
// unnamed object is freed once no proxy in any process refers to it (a
// named one lives until Client.Delete). Calls through the proxy fail
// afterwards. Close blocks for at most one round trip to the manager, may
// be called more than once, and is safe for concurrent use. On a nil or
// zero Condition it returns an error satisfying errors.Is(err, ErrNilProxy).
func (c *Condition) Close() error { return c.h().close() }
