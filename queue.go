package manager

import (
	"context"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/goproc/manager/internal/builtin"
)

type queueKind struct{}

func (queueKind) typeID() string { return builtin.TypeQueue }

type joinableQueueKind struct{}

func (joinableQueueKind) typeID() string { return builtin.TypeJoinableQueue }

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
// item is not in the queue.
func (q *Queue[T]) Put(ctx context.Context, item T) error {
	arg, err := encodeValue(item)
	if err != nil {
		return err
	}
	return q.call(ctx, "Put", nil, arg)
}

// TryPut appends item if the queue is not full, and never blocks
// (Python's q.put_nowait(item)). A full queue gives an error satisfying
// errors.Is(err, ErrFull).
func (q *Queue[T]) TryPut(ctx context.Context, item T) error {
	arg, err := encodeValue(item)
	if err != nil {
		return err
	}
	return q.call(ctx, "TryPut", nil, arg)
}

// Get removes and returns the item at the front, blocking while the
// queue is empty (Python's q.get(timeout=...); ctx's deadline is the
// timeout). When ctx ends first it returns an error satisfying
// errors.Is(err, ctx.Err()) and consumes nothing.
func (q *Queue[T]) Get(ctx context.Context) (T, error) {
	return q.get(ctx, "Get")
}

// TryGet removes and returns the item at the front, and never blocks
// (Python's q.get_nowait()). An empty queue gives an error satisfying
// errors.Is(err, ErrEmpty).
func (q *Queue[T]) TryGet(ctx context.Context) (T, error) {
	return q.get(ctx, "TryGet")
}

func (q *Queue[T]) get(ctx context.Context, method string) (T, error) {
	var item T
	if err := q.call(ctx, method, &item); err != nil {
		var zero T
		return zero, err
	}
	return item, nil
}

// Len returns the number of items in the queue (Python's q.qsize()). It
// does not block.
func (q *Queue[T]) Len(ctx context.Context) (int, error) {
	var n int
	err := q.call(ctx, "Len", &n)
	return n, err
}

// Empty reports whether the queue holds no item (Python's q.empty()). It
// does not block.
func (q *Queue[T]) Empty(ctx context.Context) (bool, error) {
	var ok bool
	err := q.call(ctx, "Empty", &ok)
	return ok, err
}

// Full reports whether the queue is bounded and full (Python's
// q.full()). It does not block.
func (q *Queue[T]) Full(ctx context.Context) (bool, error) {
	var ok bool
	err := q.call(ctx, "Full", &ok)
	return ok, err
}

// Cap returns the maxsize the queue was created with (0 or less:
// unbounded). It does not block.
func (q *Queue[T]) Cap(ctx context.Context) (int, error) {
	var n int
	err := q.call(ctx, "Cap", &n)
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
	return q.call(ctx, "TaskDone", nil)
}

// Join blocks until every item put in the queue has been got and
// acknowledged with TaskDone (Python's q.join()). When ctx ends first it
// returns an error satisfying errors.Is(err, ctx.Err()).
func (q *JoinableQueue[T]) Join(ctx context.Context) error {
	return q.call(ctx, "Join", nil)
}

// DecodeMsgpack decodes a proxy reference to a JoinableQueue; a reference
// to any other type gives an error satisfying errors.Is(err,
// ErrWrongType). It implements msgpack.CustomDecoder.
func (q *JoinableQueue[T]) DecodeMsgpack(dec *msgpack.Decoder) error {
	return q.decodeAs(dec, builtin.TypeJoinableQueue)
}
