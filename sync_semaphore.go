package manager

import (
	"context"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/goproc/manager/internal/builtin"
)

type semaphoreType struct{}

func (semaphoreType) typeID() string { return builtin.TypeSemaphore }

type boundedSemaphoreType struct{}

func (boundedSemaphoreType) typeID() string { return builtin.TypeBoundedSemaphore }

// A Semaphore is a proxy to a shared counting semaphore in a manager,
// Python's manager.Semaphore(value). Acquire takes a permit, waiting in
// arrival order while none is free; Release gives one back.
//
// Permits are counted per process (client session): when a process dies
// or closes its session, the permits it acquired and did not release are
// returned, and marked abandoned: each of the next Acquire or TryAcquire
// calls to take such a permit (one per permit returned) holds the permit
// and also returns an error satisfying errors.Is(err, ErrAbandoned), so
// that it knows the work the dead process guarded may be half done. As in
// Python, any process may Release, even one that did not acquire; use a
// BoundedSemaphore to catch releases beyond the initial value.
//
// A Semaphore is safe for concurrent use, and can be passed to Fork or
// stored in another shared object. A proxy to a BoundedSemaphore decodes
// into a Semaphore too.
type Semaphore struct {
	proxyCore[semaphoreType]
}

// NewSemaphore creates a shared semaphore with value free permits
// (value >= 0, else an error satisfying errors.Is(err, ErrBadArguments))
// and returns a proxy to it. The semaphore is freed once every proxy to
// it, in every process, is closed (or its process has exited). It blocks
// for one round trip.
func NewSemaphore(ctx context.Context, s Session, value int) (*Semaphore, error) {
	h, err := newObject[semaphoreType](ctx, s, "", false, value)
	if err != nil {
		return nil, err
	}
	return &Semaphore{h}, nil
}

// OpenSemaphore returns a proxy to the shared semaphore named name,
// creating it with value free permits if there is none (value is ignored
// otherwise). It lives until Client.Delete(name) or the manager's
// shutdown. A name taken by an object of another type gives an error
// satisfying errors.Is(err, ErrWrongType). It blocks for one round trip.
func OpenSemaphore(ctx context.Context, s Session, name string, value int) (*Semaphore, error) {
	h, err := newObject[semaphoreType](ctx, s, name, true, value)
	if err != nil {
		return nil, err
	}
	return &Semaphore{h}, nil
}

// Acquire takes one permit for this process, blocking until one is free
// and every earlier waiter has been served (Python's sem.acquire(); ctx's
// deadline is the timeout). It returns nil, or an error satisfying
// errors.Is(err, ErrAbandoned) when the permit was returned by a process
// that died holding it; the caller holds the permit in both cases (and
// must Release it). When ctx ends first it returns an error satisfying
// errors.Is(err, ctx.Err()) and takes nothing.
func (s *Semaphore) Acquire(ctx context.Context) error {
	return s.core().call(ctx, "Acquire", nil)
}

// TryAcquire takes one permit if one is free and nobody waits, and
// reports whether it did; it never blocks (Python's
// sem.acquire(blocking=False)). When it took a permit returned by a
// process that died holding it, it returns true and an error satisfying
// errors.Is(err, ErrAbandoned): the caller holds the permit.
func (s *Semaphore) TryAcquire(ctx context.Context) (bool, error) {
	return s.core().tryAcquire(ctx)
}

// Release gives back one permit, waking the longest waiter (Python's
// sem.release()). It does not block. On a BoundedSemaphore, releasing
// above the initial value returns an error satisfying
// errors.Is(err, ErrOverReleased) and changes nothing.
func (s *Semaphore) Release(ctx context.Context) error {
	return s.core().call(ctx, "Release", nil, 1)
}

// Value returns the number of free permits. It does not block.
func (s *Semaphore) Value(ctx context.Context) (int, error) {
	var n int
	err := s.core().call(ctx, "Value", &n)
	return n, err
}

// A BoundedSemaphore is a Semaphore that refuses to be released above its
// initial value, Python's manager.BoundedSemaphore(value): such a Release
// returns an error satisfying errors.Is(err, ErrOverReleased). It has
// every method of Semaphore, is safe for concurrent use, and can be
// passed to Fork or stored in another shared object.
type BoundedSemaphore struct {
	Semaphore
}

// NewBoundedSemaphore creates a shared bounded semaphore with value free
// permits, value being also its upper bound, and returns a proxy to it.
// The semaphore is freed once every proxy to it, in every process, is
// closed (or its process has exited). It blocks for one round trip.
func NewBoundedSemaphore(ctx context.Context, s Session, value int) (*BoundedSemaphore, error) {
	h, err := newObject[boundedSemaphoreType](ctx, s, "", false, value)
	if err != nil {
		return nil, err
	}
	return &BoundedSemaphore{Semaphore{proxyCore[semaphoreType](h)}}, nil
}

// OpenBoundedSemaphore returns a proxy to the shared bounded semaphore
// named name, creating it with value free permits if there is none
// (value is ignored otherwise). It lives until Client.Delete(name) or the
// manager's shutdown. A name taken by an object of another type gives an
// error satisfying errors.Is(err, ErrWrongType). It blocks for one round
// trip.
func OpenBoundedSemaphore(ctx context.Context, s Session, name string, value int) (*BoundedSemaphore, error) {
	h, err := newObject[boundedSemaphoreType](ctx, s, name, true, value)
	if err != nil {
		return nil, err
	}
	return &BoundedSemaphore{Semaphore{proxyCore[semaphoreType](h)}}, nil
}

// DecodeMsgpack decodes a proxy reference to a BoundedSemaphore; a
// reference to any other type gives an error satisfying
// errors.Is(err, ErrWrongType). It implements msgpack.CustomDecoder.
func (s *BoundedSemaphore) DecodeMsgpack(dec *msgpack.Decoder) error {
	return s.decodeAs(dec, builtin.TypeBoundedSemaphore)
}

// core returns the proxy's proxyCore, or nil when s is nil (see proxyCore).
func (s *Semaphore) core() *proxyCore[semaphoreType] {
	if s == nil {
		return nil
	}
	return &s.proxyCore
}

// Proxy returns the untyped proxy underneath, for Call and for passing
// the object around untyped. It is nil for a nil or zero Semaphore.
func (s *Semaphore) Proxy() *Proxy { return s.core().proxy() }

// Close gives back this proxy's reference to the shared semaphore; an
// unnamed object is freed once no proxy in any process refers to it (a
// named one lives until Client.Delete). Calls through the proxy fail
// afterwards. Close blocks for at most one round trip to the manager, may
// be called more than once, and is safe for concurrent use. On a nil or
// zero Semaphore it returns an error satisfying errors.Is(err, ErrNilProxy).
func (s *Semaphore) Close() error { return s.core().close() }

// core returns the proxy's proxyCore, or nil when s is nil (see proxyCore).
func (s *BoundedSemaphore) core() *proxyCore[semaphoreType] {
	if s == nil {
		return nil
	}
	return &s.Semaphore.proxyCore
}

// Proxy returns the untyped proxy underneath, for Call and for passing
// the object around untyped. It is nil for a nil or zero BoundedSemaphore.
func (s *BoundedSemaphore) Proxy() *Proxy { return s.core().proxy() }

// Close gives back this proxy's reference to the shared semaphore; an
// unnamed object is freed once no proxy in any process refers to it (a
// named one lives until Client.Delete). Calls through the proxy fail
// afterwards. Close blocks for at most one round trip to the manager, may
// be called more than once, and is safe for concurrent use. On a nil or
// zero BoundedSemaphore it returns an error satisfying errors.Is(err, ErrNilProxy).
func (s *BoundedSemaphore) Close() error { return s.core().close() }

// semaphore returns s's Semaphore, or nil when s is nil, so that the
// Semaphore methods below return ErrNilProxy on a nil BoundedSemaphore (a
// promoted method would dereference it).
func (s *BoundedSemaphore) semaphore() *Semaphore {
	if s == nil {
		return nil
	}
	return &s.Semaphore
}

// Acquire is Semaphore.Acquire.
func (s *BoundedSemaphore) Acquire(ctx context.Context) error { return s.semaphore().Acquire(ctx) }

// TryAcquire is Semaphore.TryAcquire.
func (s *BoundedSemaphore) TryAcquire(ctx context.Context) (bool, error) {
	return s.semaphore().TryAcquire(ctx)
}

// Release is Semaphore.Release: releasing above the initial value returns
// an error satisfying errors.Is(err, ErrOverReleased).
func (s *BoundedSemaphore) Release(ctx context.Context) error { return s.semaphore().Release(ctx) }

// Value is Semaphore.Value.
func (s *BoundedSemaphore) Value(ctx context.Context) (int, error) { return s.semaphore().Value(ctx) }

// proxyTypeIDs: a BoundedSemaphore proxy decodes only a BoundedSemaphore
// reference (see DecodeMsgpack).
func (s *BoundedSemaphore) proxyTypeIDs() []string { return []string{builtin.TypeBoundedSemaphore} }
