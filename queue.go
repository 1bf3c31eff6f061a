package manager

import (
	"context"
	"errors"
	"iter"

	"github.com/vmihailenco/msgpack/v5"
)

type queueKind struct{}

func (queueKind) typeID() string { return typeQueue }

type joinableQueueKind struct{}

func (joinableQueueKind) typeID() string { return typeJoinableQueue }

// A Queue is a proxy to a shared FIFO queue of T in a manager, Python's
// manager.Queue(maxsize). Waiting callers are served in arrival order.
//
// Get and Put block (Get while the queue is empty, Put while it is full)
// until ctx ends; a call that gives up is withdrawn in the manager, so a
// cancelled Get never consumes an item and a cancelled Put never adds
// one. TryGet and TryPut never block.
//
// Delivery is at most once: an item returned by Get is gone, even if the
// process that got it dies before using it (JoinableQueue gives at least
// once).
//
// Shutdown stops a queue without sentinel items, as Python 3.13's
// Queue.shutdown: producers get ErrShutDown, consumers get what is left
// and then ErrShutDown, and Iter ends. See Shutdown.
//
// A Queue is safe for concurrent use, and can be passed to Fork or stored
// in another shared object. A proxy to a JoinableQueue decodes into a
// Queue too.
type Queue[T any] struct {
	handle[queueKind]
}

// NewQueue creates a shared queue holding at most maxsize items (any
// number when maxsize <= 0) and returns a proxy to it. The queue is freed
// once every proxy to it, in every process, is closed (or its process has
// exited). It blocks for one round trip.
func NewQueue[T any](ctx context.Context, s Session, maxsize int) (*Queue[T], error) {
	h, err := newObject[queueKind](ctx, s, "", false, maxsize)
	if err != nil {
		return nil, err
	}
	return &Queue[T]{h}, nil
}

// OpenQueue returns a proxy to the shared queue named name, creating it
// with maxsize if there is none (maxsize is ignored otherwise). It lives
// until Client.Delete(name) or the manager's shutdown. A name taken by an
// object of another type gives an error satisfying
// errors.Is(err, ErrWrongType). It blocks for one round trip.
func OpenQueue[T any](ctx context.Context, s Session, name string, maxsize int) (*Queue[T], error) {
	h, err := newObject[queueKind](ctx, s, name, true, maxsize)
	if err != nil {
		return nil, err
	}
	return &Queue[T]{h}, nil
}

// Put appends item, blocking while the queue is full (Python's
// q.put(item, timeout=...); ctx's deadline is the timeout). When ctx ends
// first it returns an error satisfying errors.Is(err, ctx.Err()) and the
// item is not in the queue. On a shut-down queue, or one shut down while
// Put waits, it returns an error satisfying errors.Is(err, ErrShutDown)
// and the item is not in the queue.
func (q *Queue[T]) Put(ctx context.Context, item T) error {
	arg, err := encodeValue(item)
	if err != nil {
		return err
	}
	return q.h().call(ctx, "Put", nil, arg)
}

// TryPut appends item if the queue is not full, and never blocks
// (Python's q.put_nowait(item)). A full queue gives an error satisfying
// errors.Is(err, ErrFull), a shut-down one (full or not) ErrShutDown.
func (q *Queue[T]) TryPut(ctx context.Context, item T) error {
	arg, err := encodeValue(item)
	if err != nil {
		return err
	}
	return q.h().call(ctx, "TryPut", nil, arg)
}

// Get removes and returns the item at the front, blocking while the
// queue is empty (Python's q.get(timeout=...); ctx's deadline is the
// timeout). When ctx ends first it returns an error satisfying
// errors.Is(err, ctx.Err()) and consumes nothing. A shut-down queue gives
// the items left in it, then an error satisfying
// errors.Is(err, ErrShutDown) at once; a Get waiting when the queue is
// shut down returns that error too.
func (q *Queue[T]) Get(ctx context.Context) (T, error) {
	return q.get(ctx, "Get")
}

// TryGet removes and returns the item at the front, and never blocks
// (Python's q.get_nowait()). An empty queue gives an error satisfying
// errors.Is(err, ErrEmpty), or ErrShutDown when it is shut down.
//
// An item that does not decode into T (put through a proxy of another
// type), or that T cannot hold without changing it (300 in a
// Queue[uint8]), makes Get and TryGet return an error satisfying
// errors.Is(err, ErrWrongType) that names both types; the item stays at
// the front of the queue.
func (q *Queue[T]) TryGet(ctx context.Context) (T, error) {
	return q.get(ctx, "TryGet")
}

// get calls Get or TryGet, or, when not every value decodes into T,
// GetAs or TryGetAs with T's shape, so that an item of another type stays
// in the queue (see typedshape.go).
func (q *Queue[T]) get(ctx context.Context, method string) (T, error) {
	var item T
	var err error
	if ts := shapeFor[T](); ts.any() {
		err = q.h().call(ctx, method, &item)
	} else {
		err = q.h().call(ctx, method+"As", &item, ts.arg)
	}
	if err != nil {
		var zero T
		return zero, err
	}
	return item, nil
}

// Shutdown shuts the queue down (Python 3.13's q.shutdown(immediate)):
// from now on Put and TryPut fail with an error satisfying
// errors.Is(err, ErrShutDown), and Get and TryGet give the items left in
// the queue and then fail with ErrShutDown instead of waiting (so Iter
// ends). Every Get and Put blocked on the queue, in any process, is woken
// with ErrShutDown; a woken Put's item is not in the queue.
//
// With immediate set the items left are discarded as well, so every Get
// fails at once; a JoinableQueue counts each discarded item as done, so
// Join returns once the items already got are acknowledged with TaskDone.
//
// An item a Get took just as its caller gave up (its ctx ended while the
// reply was on the way) goes back to the front of a queue shut down
// without immediate, where the next Get finds it, and is discarded from a
// queue shut down with immediate, like the items that were in it. An item
// a JoinableQueue's consumer got and did not acknowledge when its process
// died is handled the same way.
//
// Shutdown may be called more than once, from any process; a later call
// with immediate set discards what an earlier one left. There is no way
// to open a shut-down queue again. It does not block on other callers.
func (q *Queue[T]) Shutdown(ctx context.Context, immediate bool) error {
	return q.h().call(ctx, "Shutdown", nil, immediate)
}

// IsShutDown reports whether the queue was shut down (Python 3.13's
// q.is_shutdown). It does not block.
func (q *Queue[T]) IsShutDown(ctx context.Context) (bool, error) {
	var ok bool
	err := q.h().call(ctx, "IsShutDown", &ok)
	return ok, err
}

// Iter returns an iterator that consumes the queue: each step is a Get,
// and the iteration ends cleanly when the queue is shut down and empty
// (ErrShutDown is the normal end, never yielded). Any other error —
// ctx ended, the manager gone, an item that does not decode into T — is
// yielded once, with the zero T, as the last pair:
//
//	for job, err := range q.Iter(ctx) {
//		if err != nil {
//			return err
//		}
//		handle(job)
//	}
//
// The error is the loop's second variable rather than a method to call
// after the loop (bufio.Scanner's Err) because the compiler then makes
// the caller write something for it: an unused err does not compile, and
// "_" is a visible choice to drop it. A forgotten Err call compiles and
// silently turns a lost manager into a short iteration.
//
// Breaking out of the loop consumes nothing more. An item of a
// JoinableQueue got through Iter must be acknowledged with TaskDone, as
// after Get. The iterator may be used more than once; each use consumes
// from where the queue is then.
func (q *Queue[T]) Iter(ctx context.Context) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		for {
			item, err := q.Get(ctx)
			if errors.Is(err, ErrShutDown) {
				return
			}
			if err != nil {
				var zero T
				yield(zero, err)
				return
			}
			if !yield(item, nil) {
				return
			}
		}
	}
}

// Len returns the number of items in the queue (Python's q.qsize()). It
// does not block.
func (q *Queue[T]) Len(ctx context.Context) (int, error) {
	var n int
	err := q.h().call(ctx, "Len", &n)
	return n, err
}

// Empty reports whether the queue holds no item (Python's q.empty()). It
// does not block.
func (q *Queue[T]) Empty(ctx context.Context) (bool, error) {
	var ok bool
	err := q.h().call(ctx, "Empty", &ok)
	return ok, err
}

// Full reports whether the queue is bounded and full (Python's
// q.full()). It does not block.
func (q *Queue[T]) Full(ctx context.Context) (bool, error) {
	var ok bool
	err := q.h().call(ctx, "Full", &ok)
	return ok, err
}

// Cap returns the maxsize the queue was created with (0 or less:
// unbounded). It does not block.
func (q *Queue[T]) Cap(ctx context.Context) (int, error) {
	var n int
	err := q.h().call(ctx, "Cap", &n)
	return n, err
}

// A JoinableQueue is a Queue that counts unfinished items, Python's
// manager.JoinableQueue(maxsize): every item got must be acknowledged
// with TaskDone, and Join waits until all are.
//
// Delivery is at least once: the items a process got and did not
// acknowledge go back to the front of the queue when that process exits
// or its session closes, so another consumer gets them (an item may so be
// delivered twice, if a process dies after the work but before TaskDone).
//
// A JoinableQueue has every method of Queue, is safe for concurrent use,
// and can be passed to Fork or stored in another shared object.
type JoinableQueue[T any] struct {
	Queue[T]
}

// NewJoinableQueue creates a shared joinable queue holding at most
// maxsize items (any number when maxsize <= 0) and returns a proxy to it.
// The queue is freed once every proxy to it, in every process, is closed
// (or its process has exited). It blocks for one round trip.
func NewJoinableQueue[T any](ctx context.Context, s Session, maxsize int) (*JoinableQueue[T], error) {
	h, err := newObject[joinableQueueKind](ctx, s, "", false, maxsize)
	if err != nil {
		return nil, err
	}
	return &JoinableQueue[T]{Queue[T]{handle[queueKind](h)}}, nil
}

// OpenJoinableQueue returns a proxy to the shared joinable queue named
// name, creating it with maxsize if there is none (maxsize is ignored
// otherwise). It lives until Client.Delete(name) or the manager's
// shutdown. A name taken by an object of another type gives an error
// satisfying errors.Is(err, ErrWrongType). It blocks for one round trip.
func OpenJoinableQueue[T any](ctx context.Context, s Session, name string, maxsize int) (*JoinableQueue[T], error) {
	h, err := newObject[joinableQueueKind](ctx, s, name, true, maxsize)
	if err != nil {
		return nil, err
	}
	return &JoinableQueue[T]{Queue[T]{handle[queueKind](h)}}, nil
}

// TaskDone acknowledges one item got from the queue (Python's
// q.task_done()): the oldest unacknowledged item this process got, or
// else the oldest of any process, so an item may be got in one process
// and finished in another. It does not block. With no item to
// acknowledge it returns an error satisfying
// errors.Is(err, ErrBadArguments).
func (q *JoinableQueue[T]) TaskDone(ctx context.Context) error {
	return q.h().call(ctx, "TaskDone", nil)
}

// Join blocks until every item put in the queue has been got and
// acknowledged with TaskDone (Python's q.join()). When ctx ends first it
// returns an error satisfying errors.Is(err, ctx.Err()).
func (q *JoinableQueue[T]) Join(ctx context.Context) error {
	return q.h().call(ctx, "Join", nil)
}

// DecodeMsgpack decodes a proxy reference to a JoinableQueue; a reference
// to any other type gives an error satisfying errors.Is(err,
// ErrWrongType). It implements msgpack.CustomDecoder.
func (q *JoinableQueue[T]) DecodeMsgpack(dec *msgpack.Decoder) error {
	return q.decodeAs(dec, typeJoinableQueue)
}

// h returns the proxy's handle, or nil when q is nil (see handle).
func (q *Queue[T]) h() *handle[queueKind] {
	if q == nil {
		return nil
	}
	return &q.handle
}

// Proxy returns the untyped proxy underneath, for Call and for passing
// the object around untyped. It is nil for a nil or zero Queue.
func (q *Queue[T]) Proxy() *Proxy { return q.h().proxy() }

// Close gives back this proxy's reference to the shared queue; an
// unnamed object is freed once no proxy in any process refers to it (a
// named one lives until Client.Delete). Calls through the proxy fail
// afterwards. Close blocks for at most one round trip to the manager, may
// be called more than once, and is safe for concurrent use. On a nil or
// zero Queue it returns an error satisfying errors.Is(err, ErrNilProxy).
func (q *Queue[T]) Close() error { return q.h().close() }

// h returns the proxy's handle, or nil when q is nil (see handle).
func (q *JoinableQueue[T]) h() *handle[queueKind] {
	if q == nil {
		return nil
	}
	return &q.Queue.handle
}

// Proxy returns the untyped proxy underneath, for Call and for passing
// the object around untyped. It is nil for a nil or zero JoinableQueue.
func (q *JoinableQueue[T]) Proxy() *Proxy { return q.h().proxy() }

// Close gives back this proxy's reference to the shared queue; an
// unnamed object is freed once no proxy in any process refers to it (a
// named one lives until Client.Delete). Calls through the proxy fail
// afterwards. Close blocks for at most one round trip to the manager, may
// be called more than once, and is safe for concurrent use. On a nil or
// zero JoinableQueue it returns an error satisfying errors.Is(err, ErrNilProxy).
func (q *JoinableQueue[T]) Close() error { return q.h().close() }

// queue returns q's Queue, or nil when q is nil, so that the Queue
// methods below return ErrNilProxy on a nil JoinableQueue (a promoted
// method would dereference it).
func (q *JoinableQueue[T]) queue() *Queue[T] {
	if q == nil {
		return nil
	}
	return &q.Queue
}

// Put is Queue.Put.
func (q *JoinableQueue[T]) Put(ctx context.Context, item T) error { return q.queue().Put(ctx, item) }

// TryPut is Queue.TryPut.
func (q *JoinableQueue[T]) TryPut(ctx context.Context, item T) error {
	return q.queue().TryPut(ctx, item)
}

// Get is Queue.Get; the item must be acknowledged with TaskDone.
func (q *JoinableQueue[T]) Get(ctx context.Context) (T, error) { return q.queue().Get(ctx) }

// TryGet is Queue.TryGet; the item must be acknowledged with TaskDone.
func (q *JoinableQueue[T]) TryGet(ctx context.Context) (T, error) { return q.queue().TryGet(ctx) }

// Shutdown is Queue.Shutdown.
func (q *JoinableQueue[T]) Shutdown(ctx context.Context, immediate bool) error {
	return q.queue().Shutdown(ctx, immediate)
}

// IsShutDown is Queue.IsShutDown.
func (q *JoinableQueue[T]) IsShutDown(ctx context.Context) (bool, error) {
	return q.queue().IsShutDown(ctx)
}

// Iter is Queue.Iter; every item it yields must be acknowledged with
// TaskDone.
func (q *JoinableQueue[T]) Iter(ctx context.Context) iter.Seq2[T, error] {
	return q.queue().Iter(ctx)
}

// Len is Queue.Len.
func (q *JoinableQueue[T]) Len(ctx context.Context) (int, error) { return q.queue().Len(ctx) }

// Empty is Queue.Empty.
func (q *JoinableQueue[T]) Empty(ctx context.Context) (bool, error) { return q.queue().Empty(ctx) }

// Full is Queue.Full.
func (q *JoinableQueue[T]) Full(ctx context.Context) (bool, error) { return q.queue().Full(ctx) }

// Cap is Queue.Cap.
func (q *JoinableQueue[T]) Cap(ctx context.Context) (int, error) { return q.queue().Cap(ctx) }

// proxyTypeIDs: a JoinableQueue proxy decodes only a JoinableQueue
// reference (see DecodeMsgpack).
func (q *JoinableQueue[T]) proxyTypeIDs() []string { return []string{typeJoinableQueue} }
