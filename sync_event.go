package manager

import (
	"context"

	"github.com/goproc/manager/internal/builtin"
)

type eventType struct{}

func (eventType) typeID() string { return builtin.TypeEvent }

type barrierType struct{}

func (barrierType) typeID() string { return builtin.TypeBarrier }

// An Event is a proxy to a shared flag in a manager that callers can wait
// for, Python's manager.Event(). It starts clear.
//
// An Event is safe for concurrent use, and can be passed to Fork or
// stored in another shared object.
type Event struct {
	proxyCore[eventType]
}

// NewEvent creates a clear shared event and returns a proxy to it. The
// event is freed once every proxy to it, in every process, is closed (or
// its process has exited). It blocks for one round trip.
func NewEvent(ctx context.Context, s Session) (*Event, error) {
	h, err := newObject[eventType](ctx, s, "", false)
	if err != nil {
		return nil, err
	}
	return &Event{h}, nil
}

// OpenEvent returns a proxy to the shared event named name, creating a
// clear one if there is none. It lives until Client.Delete(name) or the
// manager's shutdown. A name taken by an object of another type gives an
// error satisfying errors.Is(err, ErrWrongType). It blocks for one round
// trip.
func OpenEvent(ctx context.Context, s Session, name string) (*Event, error) {
	h, err := newObject[eventType](ctx, s, name, true)
	if err != nil {
		return nil, err
	}
	return &Event{h}, nil
}

// Set sets the flag and wakes every waiter (Python's event.set()). It
// does not block.
func (e *Event) Set(ctx context.Context) error {
	return e.core().call(ctx, "Set", nil)
}

// Clear clears the flag (Python's event.clear()). It does not block.
func (e *Event) Clear(ctx context.Context) error {
	return e.core().call(ctx, "Clear", nil)
}

// IsSet reports whether the flag is set (Python's event.is_set()). It
// does not block.
func (e *Event) IsSet(ctx context.Context) (bool, error) {
	var ok bool
	err := e.core().call(ctx, "IsSet", &ok)
	return ok, err
}

// Wait blocks until the flag is set, returning nil at once if it is set
// already (Python's event.wait(); ctx's deadline is the timeout). A Wait
// waiting when Set was called returns nil even if Clear followed. When
// ctx ends first it returns an error satisfying errors.Is(err, ctx.Err())
// (Python's wait returning False).
func (e *Event) Wait(ctx context.Context) error {
	return e.core().call(ctx, "Wait", nil)
}

// A Barrier is a proxy to a shared barrier in a manager, Python's
// manager.Barrier(parties): Wait blocks until parties callers, in any
// processes, have called it, then lets them all go on. It is reusable:
// the next Wait starts a new round.
//
// A process (client session) that has called Wait or Join is a member of
// the barrier until it exits, closes its client, or calls Leave. A member
// that exits breaks the barrier only when it is needed, since the others
// would otherwise wait for ever for a party that will never come: when it
// dies waiting, or when others are waiting and the live members not
// waiting are too few to complete their round. A member that exits
// between rounds after its last Wait (a worker done with its work) breaks
// nothing, as in Python. Call Join at the start, before any work that may
// crash: a member that dies before its first Wait breaks the next round
// the live members cannot complete. A process that will take the place
// of one that exits should Join before the others wait for it; Leave
// tells the manager that a process will not wait again.
//
// The barrier breaks when a waiting caller's ctx ends, when a waiting
// caller's process dies, when a member that exits is needed (above), or
// when Abort is called:
// every waiting and later Wait returns an error satisfying
// errors.Is(err, ErrBrokenBarrier) until Reset. Python's action and
// timeout arguments have no counterpart: run the action in the caller
// whose Wait returned 0, and use ctx deadlines.
//
// A Barrier is safe for concurrent use, and can be passed to Fork or
// stored in another shared object.
type Barrier struct {
	proxyCore[barrierType]
}

// NewBarrier creates a shared barrier for parties callers (parties >= 1,
// else an error satisfying errors.Is(err, ErrBadArguments)) and returns a
// proxy to it. The barrier is freed once every proxy to it, in every
// process, is closed (or its process has exited). It blocks for one round
// trip.
func NewBarrier(ctx context.Context, s Session, parties int) (*Barrier, error) {
	h, err := newObject[barrierType](ctx, s, "", false, parties)
	if err != nil {
		return nil, err
	}
	return &Barrier{h}, nil
}

// OpenBarrier returns a proxy to the shared barrier named name, creating
// it for parties callers if there is none (parties is ignored otherwise).
// It lives until Client.Delete(name) or the manager's shutdown. A name
// taken by an object of another type gives an error satisfying
// errors.Is(err, ErrWrongType). It blocks for one round trip.
func OpenBarrier(ctx context.Context, s Session, name string, parties int) (*Barrier, error) {
	h, err := newObject[barrierType](ctx, s, name, true, parties)
	if err != nil {
		return nil, err
	}
	return &Barrier{h}, nil
}

// Wait blocks until parties callers, this one included, have called Wait
// (Python's barrier.wait(); ctx's deadline is the timeout), then returns
// this caller's arrival index in the round, 0 to parties-1. It makes this
// process a member of the barrier, as Join does. It returns an error
// satisfying errors.Is(err, ErrBrokenBarrier) if the barrier is or
// becomes broken. When ctx ends first, Wait breaks the barrier (as
// Python's does on a timeout) and returns an error satisfying
// errors.Is(err, ctx.Err()).
func (b *Barrier) Wait(ctx context.Context) (int, error) {
	var i int
	err := b.core().call(ctx, "Wait", &i)
	return i, err
}

// Join makes this process a member of the barrier without waiting, so
// that the barrier breaks if the process dies before it reaches Wait, and
// counts it among the members a round can wait for (see Barrier). Joining again changes nothing. It does not block, and
// has no Python counterpart.
func (b *Barrier) Join(ctx context.Context) error {
	return b.core().call(ctx, "Join", nil)
}

// Leave ends this process's membership, so that its exit never breaks
// the barrier: call it once the process will not wait again. A
// Wait of this process still under way breaks the barrier if the process
// dies all the same. It does not block, and has no Python counterpart.
func (b *Barrier) Leave(ctx context.Context) error {
	return b.core().call(ctx, "Leave", nil)
}

// Abort breaks the barrier (Python's barrier.abort()): waiting and later
// Waits fail with ErrBrokenBarrier until Reset. It does not block.
func (b *Barrier) Abort(ctx context.Context) error {
	return b.core().call(ctx, "Abort", nil)
}

// Reset returns the barrier to its initial, unbroken state (Python's
// barrier.reset()); callers waiting in the current round get
// ErrBrokenBarrier. Members stay members. It does not block.
func (b *Barrier) Reset(ctx context.Context) error {
	return b.core().call(ctx, "Reset", nil)
}

// Parties returns the number of callers needed to pass the barrier
// (Python's barrier.parties). It does not block.
func (b *Barrier) Parties(ctx context.Context) (int, error) {
	var n int
	err := b.core().call(ctx, "Parties", &n)
	return n, err
}

// NWaiting returns the number of callers waiting in the current round
// (Python's barrier.n_waiting). It does not block.
func (b *Barrier) NWaiting(ctx context.Context) (int, error) {
	var n int
	err := b.core().call(ctx, "NWaiting", &n)
	return n, err
}

// Broken reports whether the barrier is broken (Python's
// barrier.broken). It does not block.
func (b *Barrier) Broken(ctx context.Context) (bool, error) {
	var ok bool
	err := b.core().call(ctx, "Broken", &ok)
	return ok, err
}

// core returns the proxy's proxyCore, or nil when e is nil (see proxyCore).
func (e *Event) core() *proxyCore[eventType] {
	if e == nil {
		return nil
	}
	return &e.proxyCore
}

// Proxy returns the untyped proxy underneath, for Call and for passing
// the object around untyped. It is nil for a nil or zero Event.
func (e *Event) Proxy() *Proxy { return e.core().proxy() }

// Close gives back this proxy's reference to the shared event; an
// unnamed object is freed once no proxy in any process refers to it (a
// named one lives until Client.Delete). Calls through the proxy fail
// afterwards. Close blocks for at most one round trip to the manager, may
// be called more than once, and is safe for concurrent use. On a nil or
// zero Event it returns an error satisfying errors.Is(err, ErrNilProxy).
func (e *Event) Close() error { return e.core().close() }

// core returns the proxy's proxyCore, or nil when b is nil (see proxyCore).
func (b *Barrier) core() *proxyCore[barrierType] {
	if b == nil {
		return nil
	}
	return &b.proxyCore
}

// Proxy returns the untyped proxy underneath, for Call and for passing
// the object around untyped. It is nil for a nil or zero Barrier.
func (b *Barrier) Proxy() *Proxy { return b.core().proxy() }

// Close gives back this proxy's reference to the shared barrier; an
// unnamed object is freed once no proxy in any process refers to it (a
// named one lives until Client.Delete). Calls through the proxy fail
// afterwards. Close blocks for at most one round trip to the manager, may
// be called more than once, and is safe for concurrent use. On a nil or
// zero Barrier it returns an error satisfying errors.Is(err, ErrNilProxy).
func (b *Barrier) Close() error { return b.core().close() }
