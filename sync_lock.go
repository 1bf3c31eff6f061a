package manager

import (
	"context"

	"github.com/goproc/manager/internal/builtin"
)

type lockType struct{}

func (lockType) typeID() string { return builtin.TypeLock }

type rlockType struct{}

func (rlockType) typeID() string { return builtin.TypeRLock }

// A Lock is a proxy to a shared mutual-exclusion lock in a manager,
// Python's manager.Lock().
//
// The lock is held by a client session — one process — not by a
// goroutine or a proxy: any goroutine of the holding process may release
// it, and another Acquire from that process waits like any other caller.
// Releasing a lock the process does not hold is an error (ErrNotHeld),
// where Python allows it. Waiters are served in arrival order.
//
// If the holding process dies or closes its session, the lock is released
// and marked abandoned: the next Acquire or TryAcquire to succeed holds
// the lock and also returns an error satisfying
// errors.Is(err, ErrAbandoned), once, so the new holder knows the state
// the lock protects may be half-updated.
//
// A Lock is safe for concurrent use, and can be passed to Fork or stored
// in another shared object.
type Lock struct {
	proxyCore[lockType]
}

// NewLock creates a free shared lock and returns a proxy to it. The lock
// is freed once every proxy to it, in every process, is closed (or its
// process has exited). It blocks for one round trip.
func NewLock(ctx context.Context, s Session) (*Lock, error) {
	h, err := newObject[lockType](ctx, s, "", false)
	if err != nil {
		return nil, err
	}
	return &Lock{h}, nil
}

// OpenLock returns a proxy to the shared lock named name, creating a free
// one if there is none. It lives until Client.Delete(name) or the
// manager's shutdown. A name taken by an object of another type gives an
// error satisfying errors.Is(err, ErrWrongType). It blocks for one round
// trip.
func OpenLock(ctx context.Context, s Session, name string) (*Lock, error) {
	h, err := newObject[lockType](ctx, s, name, true)
	if err != nil {
		return nil, err
	}
	return &Lock{h}, nil
}

// Acquire takes the lock for this process, blocking until it is free and
// every earlier waiter has had its turn (Python's lock.acquire(); ctx's
// deadline is the timeout). It returns nil, or an error satisfying
// errors.Is(err, ErrAbandoned) when the previous holder died holding the
// lock; the caller holds the lock in both cases. When ctx ends first it
// returns an error satisfying errors.Is(err, ctx.Err()), and the lock is
// not held: the waiting call is withdrawn in the manager.
func (l *Lock) Acquire(ctx context.Context) error {
	return l.core().call(ctx, "Acquire", nil)
}

// TryAcquire takes the lock if it is free and nobody waits for it, and
// never blocks (Python's lock.acquire(blocking=False)). It reports
// whether the caller now holds the lock; when it does, the error may
// satisfy errors.Is(err, ErrAbandoned) as for Acquire.
func (l *Lock) TryAcquire(ctx context.Context) (bool, error) {
	return l.core().tryAcquire(ctx)
}

// Release frees the lock, handing it to the longest waiter (Python's
// lock.release()). It does not block. It returns an error satisfying
// errors.Is(err, ErrNotHeld) when this process does not hold the lock.
func (l *Lock) Release(ctx context.Context) error {
	return l.core().call(ctx, "Release", nil)
}

// Locked reports whether some process holds the lock. It does not block.
func (l *Lock) Locked(ctx context.Context) (bool, error) {
	var ok bool
	err := l.core().call(ctx, "Locked", &ok)
	return ok, err
}

// Token returns the fencing token of this process's hold of the lock: a
// number that grows with every acquisition of the lock, by any process,
// on every engine. Pass it with each write to the resource the lock
// protects, and have the resource refuse a token smaller than the
// largest it has seen: a holder that paused past its lease (Redis), or
// that lost the lock in a failover, is then refused instead of
// corrupting the state (Kleppmann's fencing). It returns an error
// satisfying errors.Is(err, ErrNotHeld) when this process does not hold
// the lock. It does not block.
func (l *Lock) Token(ctx context.Context) (uint64, error) {
	var tok uint64
	err := l.core().call(ctx, "Token", &tok)
	return tok, err
}

// conditionLock makes Lock a ConditionLock.
func (l *Lock) conditionLock() *Proxy {
	if l == nil {
		return nil
	}
	return l.p
}

// An RLock is a proxy to a shared reentrant lock in a manager, Python's
// manager.RLock().
//
// The lock is held by a proxy: the proxy that holds it may acquire it
// again (each Acquire adds a level, each Release removes one), while
// every other proxy waits — even another proxy to the same lock in the
// same process (OpenRLock, or a proxy decoded from a shared object). All
// goroutines using one proxy share its ownership. Releasing through a
// proxy that does not hold the lock is an error (ErrNotHeld).
//
// If the process of the holding proxy dies or closes its session, the
// lock is released and marked abandoned, as for Lock (ErrAbandoned).
//
// An RLock is safe for concurrent use, and can be passed to Fork or
// stored in another shared object (the proxy that arrives is a new
// owner).
type RLock struct {
	proxyCore[rlockType]
}

// NewRLock creates a free shared reentrant lock and returns a proxy to
// it. The lock is freed once every proxy to it, in every process, is
// closed (or its process has exited). It blocks for one round trip.
func NewRLock(ctx context.Context, s Session) (*RLock, error) {
	h, err := newObject[rlockType](ctx, s, "", false)
	if err != nil {
		return nil, err
	}
	return &RLock{h}, nil
}

// OpenRLock returns a new proxy to the shared reentrant lock named name,
// creating a free one if there is none. Each call returns a distinct
// owner. The lock lives until Client.Delete(name) or the manager's
// shutdown. A name taken by an object of another type gives an error
// satisfying errors.Is(err, ErrWrongType). It blocks for one round trip.
func OpenRLock(ctx context.Context, s Session, name string) (*RLock, error) {
	h, err := newObject[rlockType](ctx, s, name, true)
	if err != nil {
		return nil, err
	}
	return &RLock{h}, nil
}

// Acquire takes one level of the lock for this proxy (Python's
// rlock.acquire(); ctx's deadline is the timeout). It returns at once
// when the proxy holds the lock already; otherwise it blocks until the
// lock is free and every earlier waiter has had its turn. It returns nil,
// or an error satisfying errors.Is(err, ErrAbandoned) (the caller holds
// the lock in both cases). When ctx ends first it returns an error
// satisfying errors.Is(err, ctx.Err()), and the lock is not held.
func (r *RLock) Acquire(ctx context.Context) error {
	return r.core().call(ctx, "Acquire", nil)
}

// TryAcquire takes one level of the lock if this proxy holds it already,
// or if it is free and nobody waits, and never blocks (Python's
// rlock.acquire(blocking=False)). It reports whether the proxy now holds
// the lock, with an error satisfying errors.Is(err, ErrAbandoned) as for
// Acquire.
func (r *RLock) TryAcquire(ctx context.Context) (bool, error) {
	return r.core().tryAcquire(ctx)
}

// Release removes one level held by this proxy, freeing the lock when
// none is left (Python's rlock.release()). It does not block. It returns
// an error satisfying errors.Is(err, ErrNotHeld) when this proxy does not
// hold the lock.
func (r *RLock) Release(ctx context.Context) error {
	return r.core().call(ctx, "Release", nil)
}

// Locked reports whether some proxy holds the lock. It does not block.
func (r *RLock) Locked(ctx context.Context) (bool, error) {
	var ok bool
	err := r.core().call(ctx, "Locked", &ok)
	return ok, err
}

// Token returns the fencing token of this proxy's hold of the lock, as
// Lock.Token does: a reentrant Acquire keeps the token, and each new
// acquisition of the free lock gets a larger one. It returns an error
// satisfying errors.Is(err, ErrNotHeld) when this proxy does not hold
// the lock. It does not block.
func (r *RLock) Token(ctx context.Context) (uint64, error) {
	var tok uint64
	err := r.core().call(ctx, "Token", &tok)
	return tok, err
}

// conditionLock makes RLock a ConditionLock.
func (r *RLock) conditionLock() *Proxy {
	if r == nil {
		return nil
	}
	return r.p
}

// core returns the proxy's proxyCore, or nil when l is nil (see proxyCore).
func (l *Lock) core() *proxyCore[lockType] {
	if l == nil {
		return nil
	}
	return &l.proxyCore
}

// Proxy returns the untyped proxy underneath, for Call and for passing
// the object around untyped. It is nil for a nil or zero Lock.
func (l *Lock) Proxy() *Proxy { return l.core().proxy() }

// Close gives back this proxy's reference to the shared lock; an
// unnamed object is freed once no proxy in any process refers to it (a
// named one lives until Client.Delete). Calls through the proxy fail
// afterwards. Close blocks for at most one round trip to the manager, may
// be called more than once, and is safe for concurrent use. On a nil or
// zero Lock it returns an error satisfying errors.Is(err, ErrNilProxy).
func (l *Lock) Close() error { return l.core().close() }

// core returns the proxy's proxyCore, or nil when r is nil (see proxyCore).
func (r *RLock) core() *proxyCore[rlockType] {
	if r == nil {
		return nil
	}
	return &r.proxyCore
}

// Proxy returns the untyped proxy underneath, for Call and for passing
// the object around untyped. It is nil for a nil or zero RLock.
func (r *RLock) Proxy() *Proxy { return r.core().proxy() }

// Close gives back this proxy's reference to the shared lock; an
// unnamed object is freed once no proxy in any process refers to it (a
// named one lives until Client.Delete). Calls through the proxy fail
// afterwards. Close blocks for at most one round trip to the manager, may
// be called more than once, and is safe for concurrent use. On a nil or
// zero RLock it returns an error satisfying errors.Is(err, ErrNilProxy).
func (r *RLock) Close() error { return r.core().close() }
