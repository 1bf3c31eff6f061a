package builtin

import (
	"bytes"
	"context"
	"fmt"
	"sync"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/goproc/manager/internal/callctx"
	"github.com/goproc/manager/internal/errs"
	"github.com/goproc/manager/internal/wire"
)

// Queue is a shared FIFO queue, the server side of Python's
// Manager().Queue(maxsize). Items are stored as their msgpack encoding
// and returned as is. Waiting callers are served in arrival order: an
// item is handed straight to the longest-waiting Get, and a slot to the
// longest-waiting Put.
//
// Delivery is at most once: an item returned by Get is gone from the
// queue, even if the process that got it dies before using it. Use
// [JoinableQueue] for at-least-once delivery.
//
// An item given back by a Get that was withdrawn at the moment it
// received it goes back to the front; this may leave the queue above
// maxsize for a while, and Put waits until it is below again.
//
// An item that carries proxies keeps their objects alive from its Put
// until a Get hands it out (see callctx.Retain), so a proxy sent through
// the queue survives its sender's exit.
//
// Shutdown ends the queue as Python 3.13's Queue.shutdown does: Put fails
// with errs.ShutDown from then on, Get drains what is left and then fails
// with errs.ShutDown, and every blocked call is woken.
//
// Queue is safe for concurrent use.
type Queue struct {
	maxsize int // <= 0: unbounded

	mu      sync.Mutex // guards the fields below
	items   queueDeque
	getters []*queueWaiter // FIFO; only non-empty while items is empty (and never once shut down)
	putters []*queueWaiter // FIFO; only non-empty while the queue is full (and never once shut down)
	seq     uint64         // last number given to an entry or delivery
	tasks   *queueTasks    // JoinableQueue's bookkeeping; nil for a Queue
	// shutDown is set by Shutdown: no Put succeeds, and no Get waits.
	shutDown bool
	// discarding is set by Shutdown(immediate): an item that would go
	// back into the queue (a late or withdrawn Get's, a dead session's)
	// is discarded instead, as the items in the queue were.
	discarding bool
	// dropped holds items discarded where no call context was at hand
	// to release them (ReleaseSession); releaseDroppedLocked does.
	dropped []msgpack.RawMessage
}

// queueWaiter is a blocked Get or Put; its fields but ready are guarded
// by Queue.mu.
type queueWaiter struct {
	session  callctx.SessionID  // the getter's (or putter's) session
	shape    *wire.Shape        // what the getter can decode; nil: anything
	rejected error              // why the getter was woken without an item
	item     msgpack.RawMessage // a putter's item, or the item handed to a getter
	seq      uint64             // a putter's entry number
	delivery *queueDelivery     // JoinableQueue: the record of the item handed to a getter
	ready    chan struct{}      // closed when served
	served   bool
}

// NewQueue returns an empty Queue holding at most maxsize items, or any
// number when maxsize <= 0.
func NewQueue(maxsize int) (*Queue, error) {
	return &Queue{maxsize: maxsize}, nil
}

// Put appends item (one msgpack-encoded value), blocking while the queue
// is full. It returns nil once the item is in the queue or handed to a
// waiting Get. When ctx ends first, Put returns an error wrapping
// ctx.Err() and the item is not in the queue. On a shut-down queue, or
// when the queue is shut down while Put waits, it returns errs.ShutDown
// and the item is not in the queue.
func (q *Queue) Put(ctx context.Context, item msgpack.RawMessage) error {
	q.mu.Lock()
	if q.shutDown {
		q.mu.Unlock()
		return errs.ShutDown
	}
	// Held from now on, waiting or queued; released if the Put is
	// withdrawn.
	callctx.Retain(ctx, item)
	if !q.fullLocked() {
		q.insertLocked(item)
		q.mu.Unlock()
		return nil
	}
	q.seq++
	caller, _ := callctx.From(ctx)
	w := &queueWaiter{session: caller.Session, item: item, seq: q.seq, ready: make(chan struct{})}
	q.putters = append(q.putters, w)
	waitTurn(ctx, &q.mu, w.ready)
	defer q.mu.Unlock()
	if !w.served {
		q.putters = removeWaiter(q.putters, w)
		callctx.Release(ctx, item)
		return ctx.Err()
	}
	if w.rejected != nil { // shut down while waiting
		callctx.Release(ctx, item)
		return w.rejected
	}
	if ctx.Err() != nil && q.items.remove(w.seq) {
		// Admitted just as ctx ended, and nobody has got it yet: take
		// it out again, since the caller has given up on the reply.
		q.tasks.done()
		q.admitLocked()
		callctx.Release(ctx, item)
		return ctx.Err()
	}
	return nil
}

// TryPut appends item if the queue is not full, and never blocks. It
// returns an error wrapping errs.Full when the queue is full, and
// errs.ShutDown (full or not) when it is shut down.
func (q *Queue) TryPut(ctx context.Context, item msgpack.RawMessage) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.shutDown {
		return errs.ShutDown
	}
	if q.fullLocked() {
		return errs.Full
	}
	callctx.Retain(ctx, item)
	q.insertLocked(item)
	return nil
}

// Get removes and returns the item at the front of the queue (its
// msgpack encoding), blocking while the queue is empty. When ctx ends
// first, Get returns an error wrapping ctx.Err() and consumes nothing.
// A shut-down queue still gives the items left in it; once it is empty,
// Get returns errs.ShutDown at once, and a Get waiting when the queue is
// shut down returns errs.ShutDown.
func (q *Queue) Get(ctx context.Context) (msgpack.RawMessage, error) {
	return q.get(ctx, nil)
}

// GetAs is Get for a caller that decodes only values of shape (see
// shape.go): an item that does not fit, at the front or handed to the
// waiting call, gives an error wrapping errs.WrongType and stays at the
// front of the queue.
func (q *Queue) GetAs(ctx context.Context, shape msgpack.RawMessage) (msgpack.RawMessage, error) {
	s, err := parseShape(shape)
	if err != nil {
		return nil, err
	}
	return q.get(ctx, s)
}

func (q *Queue) get(ctx context.Context, s *wire.Shape) (msgpack.RawMessage, error) {
	c, _ := callctx.From(ctx)
	q.mu.Lock()
	if item, done, err := q.takeLocked(ctx, c.Session, s); done {
		q.mu.Unlock()
		return item, err
	}
	w := &queueWaiter{session: c.Session, shape: s, ready: make(chan struct{})}
	q.getters = append(q.getters, w)
	waitTurn(ctx, &q.mu, w.ready)
	defer q.mu.Unlock()
	if !w.served {
		q.getters = removeWaiter(q.getters, w)
		return nil, ctx.Err()
	}
	if w.rejected != nil {
		return nil, w.rejected
	}
	if ctx.Err() != nil {
		// Handed an item just as ctx ended: the caller has given up on
		// the reply, so the item goes back rather than being lost.
		q.ungetLocked(ctx, w)
		return nil, ctx.Err()
	}
	q.handedOutLocked(ctx, w.item)
	return w.item, nil
}

// TryGet removes and returns the item at the front of the queue, and
// never blocks. It returns an error wrapping errs.Empty when the queue
// is empty, or errs.ShutDown when it is empty and shut down (so that a
// consumer polling with TryGet learns that nothing more will come).
func (q *Queue) TryGet(ctx context.Context) (msgpack.RawMessage, error) {
	return q.tryGet(ctx, nil)
}

// TryGetAs is TryGet for a caller that decodes only values of shape (see
// shape.go): a front item that does not fit gives an error wrapping
// errs.WrongType and stays at the front.
func (q *Queue) TryGetAs(ctx context.Context, shape msgpack.RawMessage) (msgpack.RawMessage, error) {
	s, err := parseShape(shape)
	if err != nil {
		return nil, err
	}
	return q.tryGet(ctx, s)
}

func (q *Queue) tryGet(ctx context.Context, s *wire.Shape) (msgpack.RawMessage, error) {
	c, _ := callctx.From(ctx)
	q.mu.Lock()
	defer q.mu.Unlock()
	if item, done, err := q.takeLocked(ctx, c.Session, s); done {
		return item, err
	}
	return nil, errs.Empty
}

// takeLocked is what Get and TryGet do before Get waits: it hands out
// the front item (refusing one that does not fit s), or gives
// errs.ShutDown on an empty shut-down queue. done is false when the
// queue is empty and open: Get then waits, TryGet gives errs.Empty.
func (q *Queue) takeLocked(ctx context.Context, session callctx.SessionID, s *wire.Shape) (item msgpack.RawMessage, done bool, err error) {
	if front, ok := q.items.front(); ok {
		if err := fits(s, front.item, "it stays at the front of the queue"); err != nil {
			return nil, true, err
		}
	}
	if item, ok := q.popLocked(session); ok {
		q.handedOutLocked(ctx, item)
		return item, true, nil
	}
	if q.shutDown {
		q.releaseDroppedLocked(ctx)
		return nil, true, errs.ShutDown
	}
	return nil, false, nil
}

// GiveBack puts back the item a Get or TryGet returned to a caller that
// had given up before the reply reached it (see callctx.GiveBacker): at
// the front of the queue, or to the longest-waiting Get, as a withdrawn
// Get's item goes back. A JoinableQueue forgets the session's delivery of
// it, unless the item was acknowledged or put back meanwhile (then there
// is nothing to give back). It does not block.
//
// On a queue shut down with immediate set, the item is discarded instead
// (a JoinableQueue counts it finished), as Shutdown discarded the items
// in the queue; on a queue shut down without it, the item goes back, since
// that shutdown lets consumers drain what is left and the item was never
// received.
//
// A late Put or TryPut is taken back too, if its item is still in the
// queue (nobody has got it yet), as Put itself does when withdrawn just
// after its item went in: a Put that returned its ctx's error leaves no
// item behind, unless a Get took it first (an entry byte-equal to it
// counts as its item).
func (q *Queue) GiveBack(ctx context.Context, method, code string, args, result []byte) {
	if code != "" {
		return
	}
	if method == "Put" || method == "TryPut" {
		q.takeBackPut(ctx, args)
		return
	}
	switch method {
	case "Get", "TryGet", "GetAs", "TryGetAs":
	default:
		return
	}
	c, _ := callctx.From(ctx)
	item := msgpack.RawMessage(bytes.Clone(result))
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.tasks != nil {
		d := q.tasks.lastDelivery(c.Session, item)
		if d == nil {
			return
		}
		q.tasks.forget(d)
		item = d.item // still held: a JoinableQueue holds items until TaskDone
	} else {
		callctx.Retain(ctx, item) // handed out, it was released
	}
	q.putBackLocked(ctx, item)
}

// putBackLocked puts item, which a Get took and its caller never
// received, back: to the longest-waiting Get, else at the front. After an
// immediate shutdown it discards the item instead, counting it finished,
// and releases it.
func (q *Queue) putBackLocked(ctx context.Context, item msgpack.RawMessage) {
	if q.discarding {
		q.tasks.done()
		callctx.Release(ctx, item)
		return
	}
	if q.handLocked(item) {
		return
	}
	q.seq++
	q.items.pushFront(queueEntry{item: item, seq: q.seq})
}

// takeBackPut removes the newest entry byte-equal to the item of a late
// Put (args is its argument array), if it is still in the queue.
func (q *Queue) takeBackPut(ctx context.Context, args []byte) {
	var a []msgpack.RawMessage
	if msgpack.Unmarshal(args, &a) != nil || len(a) != 1 {
		return
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	e, ok := q.items.removeLast(a[0])
	if !ok {
		return // got by someone already, or never admitted
	}
	q.tasks.done()
	q.admitLocked()
	callctx.Release(ctx, e.item)
}

// handedOutLocked releases item, which a Get is returning: the getter's
// reply takes over keeping its proxies alive. A JoinableQueue holds the
// item until TaskDone instead, since it may have to deliver it again.
func (q *Queue) handedOutLocked(ctx context.Context, item msgpack.RawMessage) {
	if q.tasks == nil {
		callctx.Release(ctx, item)
	}
}

// Len returns the number of items in the queue (Python's qsize). It does
// not block.
func (q *Queue) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.items.len()
}

// Empty reports whether the queue holds no item. It does not block.
func (q *Queue) Empty() bool {
	return q.Len() == 0
}

// Full reports whether the queue is bounded and holds maxsize items or
// more. It does not block.
func (q *Queue) Full() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.fullLocked()
}

// Cap returns the maxsize the queue was created with (0 or less means
// unbounded). It does not block.
func (q *Queue) Cap() int {
	return q.maxsize
}

// Shutdown shuts the queue down, as Python 3.13's Queue.shutdown: from
// now on Put and TryPut fail with errs.ShutDown, and Get and TryGet give
// the items left and then fail with errs.ShutDown instead of waiting or
// reporting errs.Empty. Every blocked Put is woken with errs.ShutDown (its
// item is not in the queue), and so is every blocked Get (a Get only
// waits on an empty queue).
//
// With immediate set, the items in the queue are discarded too, so Gets
// fail at once; a JoinableQueue counts each discarded item finished, so
// that Join returns once the items already got are acknowledged. Items
// got and not yet acknowledged are not touched: TaskDone still works.
//
// Shutdown may be called more than once; a later call with immediate set
// discards what an earlier one left. It does not block.
func (q *Queue) Shutdown(ctx context.Context, immediate bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.releaseDroppedLocked(ctx)
	q.shutDown = true
	// Putters first: discarding below makes room, and a putter must
	// not be admitted into a queue that is shut down.
	for _, w := range q.putters {
		w.served, w.rejected = true, errs.ShutDown
		close(w.ready)
	}
	q.putters = nil
	for _, w := range q.getters {
		w.served, w.rejected = true, errs.ShutDown
		close(w.ready)
	}
	q.getters = nil
	if !immediate {
		return
	}
	q.discarding = true
	for {
		e, ok := q.items.popFront()
		if !ok {
			break
		}
		q.tasks.done()
		callctx.Release(ctx, e.item)
	}
}

// releaseDroppedLocked releases the items in q.dropped through ctx, a
// call on q (the holder is the queue's, whichever call it comes with).
func (q *Queue) releaseDroppedLocked(ctx context.Context) {
	for i, item := range q.dropped {
		callctx.Release(ctx, item)
		q.dropped[i] = nil
	}
	q.dropped = q.dropped[:0]
}

// IsShutDown reports whether Shutdown was called. It does not block.
func (q *Queue) IsShutDown() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.shutDown
}

func (q *Queue) fullLocked() bool {
	return q.maxsize > 0 && q.items.len() >= q.maxsize
}

// insertLocked adds a new item: to the longest-waiting getter, else at
// the back.
func (q *Queue) insertLocked(item msgpack.RawMessage) {
	q.tasks.added()
	if q.handLocked(item) {
		return
	}
	q.seq++
	q.items.pushBack(queueEntry{item: item, seq: q.seq})
}

// handLocked gives item to the longest-waiting getter, and reports
// whether there was one to take it. A getter that cannot decode the item
// is woken with the error instead, and the next one is tried.
func (q *Queue) handLocked(item msgpack.RawMessage) bool {
	for len(q.getters) > 0 {
		w := q.getters[0]
		q.getters[0] = nil
		q.getters = q.getters[1:]
		w.served = true
		if err := fits(w.shape, item, "it stays in the queue"); err != nil {
			w.rejected = err
			close(w.ready)
			continue
		}
		w.item = item
		w.delivery = q.deliverLocked(w.session, item)
		close(w.ready)
		return true
	}
	return false
}

// popLocked takes the front item for a Get by session s, and lets a
// waiting Put in.
func (q *Queue) popLocked(s callctx.SessionID) (msgpack.RawMessage, bool) {
	e, ok := q.items.popFront()
	if !ok {
		return nil, false
	}
	q.admitLocked()
	q.deliverLocked(s, e.item)
	return e.item, true
}

// admitLocked moves waiting putters' items in while there is room.
func (q *Queue) admitLocked() {
	for len(q.putters) > 0 && !q.fullLocked() {
		w := q.putters[0]
		q.putters[0] = nil
		q.putters = q.putters[1:]
		w.served = true
		q.tasks.added()
		q.items.pushBack(queueEntry{item: w.item, seq: w.seq})
		close(w.ready)
	}
}

func (q *Queue) deliverLocked(s callctx.SessionID, item msgpack.RawMessage) *queueDelivery {
	if q.tasks == nil {
		return nil
	}
	q.seq++
	return q.tasks.deliver(s, item, q.seq)
}

// ungetLocked puts back the item handed to getter w, which is giving up:
// to the next getter, else at the front (see putBackLocked).
func (q *Queue) ungetLocked(ctx context.Context, w *queueWaiter) {
	if d := w.delivery; d != nil {
		if d.requeued {
			return // ReleaseSession has put it back already
		}
		q.tasks.forget(d)
	}
	q.putBackLocked(ctx, w.item)
}

// JoinableQueue is a shared FIFO queue that counts unfinished tasks, the
// server side of Python's Manager().JoinableQueue(maxsize). It has every
// method of [Queue] plus TaskDone and Join.
//
// Delivery is at least once: the queue remembers, per session, the items
// the session took with Get or TryGet and has not acknowledged with
// TaskDone. When the session ends (its process died or closed), those
// items go back to the front of the queue in their original order, still
// counted as unfinished, so another consumer gets them and Join still
// completes. An item may so be delivered twice when a process dies after
// finishing the work but before TaskDone. For the same reason an item
// that carries proxies keeps their objects alive until its TaskDone, not
// only until its Get.
//
// JoinableQueue is safe for concurrent use.
type JoinableQueue struct {
	Queue
}

// NewJoinableQueue returns an empty JoinableQueue holding at most maxsize
// items, or any number when maxsize <= 0.
func NewJoinableQueue(maxsize int) (*JoinableQueue, error) {
	jq := &JoinableQueue{Queue: Queue{maxsize: maxsize}}
	jq.tasks = &queueTasks{taken: make(map[callctx.SessionID][]*queueDelivery)}
	return jq, nil
}

// TaskDone acknowledges one item got from the queue: the oldest item the
// caller's session got and has not acknowledged or, if it has none, the
// oldest unacknowledged item of any session (so an item may be got in one
// process and finished in another). It does not block. When no got item
// is unacknowledged it returns an error wrapping errs.BadArguments, like
// Python's "task_done() called too many times"; unlike Python, TaskDone
// counts against Gets rather than Puts, so a TaskDone before any Get is
// such an error rather than a silent miscount.
func (q *JoinableQueue) TaskDone(ctx context.Context) error {
	c, _ := callctx.From(ctx)
	q.mu.Lock()
	defer q.mu.Unlock()
	d := q.tasks.ack(c.Session)
	if d == nil {
		return fmt.Errorf("%w: called more times than items were got (task_done() called too many times)", errs.BadArguments)
	}
	callctx.Release(ctx, d.item)
	q.releaseDroppedLocked(ctx)
	q.tasks.done()
	return nil
}

// Join blocks until every item put in the queue has been got and
// acknowledged with TaskDone. It returns at once when nothing is
// unfinished, and an error wrapping ctx.Err() when ctx ends first.
func (q *JoinableQueue) Join(ctx context.Context) error {
	q.mu.Lock()
	if q.tasks.unfinished == 0 {
		q.mu.Unlock()
		return nil
	}
	if q.tasks.joined == nil {
		q.tasks.joined = make(chan struct{})
	}
	joined := q.tasks.joined
	q.mu.Unlock()

	select {
	case <-joined:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// ReleaseSession puts the items session s got and did not acknowledge
// back at the front of the queue, in the order they were got, handing
// them to waiting Gets first. The unfinished count does not change. After
// Shutdown with immediate set they are discarded instead and counted
// finished, as the items in the queue were. It implements
// callctx.SessionReleaser and is meant for the server only.
func (q *JoinableQueue) ReleaseSession(s callctx.SessionID) {
	q.mu.Lock()
	defer q.mu.Unlock()
	ds := q.tasks.taken[s]
	delete(q.tasks.taken, s)
	for _, d := range ds {
		d.requeued = true
	}
	if q.discarding {
		for range ds {
			q.tasks.done()
		}
		// No call context here to release them through: the next call
		// that has one does (see releaseDroppedLocked).
		for _, d := range ds {
			q.dropped = append(q.dropped, d.item)
		}
		return
	}
	for len(ds) > 0 && q.handLocked(ds[0].item) {
		ds = ds[1:]
	}
	entries := make([]queueEntry, len(ds))
	for i, d := range ds {
		q.seq++
		entries[i] = queueEntry{item: d.item, seq: q.seq}
	}
	q.items.pushFront(entries...)
}

// queueTasks is JoinableQueue's bookkeeping, guarded by Queue.mu. Its
// methods do nothing on a nil receiver (a plain Queue). unfinished is the
// number of items in the queue plus the items got and not acknowledged.
type queueTasks struct {
	unfinished int
	taken      map[callctx.SessionID][]*queueDelivery // per session, oldest first
	joined     chan struct{}                          // closed when unfinished drops to 0; nil if no Join waits
}

// queueDelivery records an item got by a session and not acknowledged.
type queueDelivery struct {
	item     msgpack.RawMessage
	seq      uint64 // delivery order
	session  callctx.SessionID
	requeued bool // put back by ReleaseSession
}

func (t *queueTasks) added() {
	if t != nil {
		t.unfinished++
	}
}

func (t *queueTasks) done() {
	if t == nil {
		return
	}
	t.unfinished--
	if t.unfinished == 0 && t.joined != nil {
		close(t.joined)
		t.joined = nil
	}
}

func (t *queueTasks) deliver(s callctx.SessionID, item msgpack.RawMessage, seq uint64) *queueDelivery {
	d := &queueDelivery{item: item, seq: seq, session: s}
	t.taken[s] = append(t.taken[s], d)
	return d
}

// forget drops the record of d, whose item is being put back.
func (t *queueTasks) forget(d *queueDelivery) {
	ds := t.taken[d.session]
	for i, x := range ds {
		if x == d {
			ds = append(ds[:i], ds[i+1:]...)
			break
		}
	}
	if len(ds) == 0 {
		delete(t.taken, d.session)
		return
	}
	t.taken[d.session] = ds
}

// lastDelivery returns session s's latest unacknowledged delivery of
// item, or nil.
func (t *queueTasks) lastDelivery(s callctx.SessionID, item []byte) *queueDelivery {
	ds := t.taken[s]
	for i := len(ds) - 1; i >= 0; i-- {
		if bytes.Equal(ds[i].item, item) {
			return ds[i]
		}
	}
	return nil
}

// ack drops the oldest record of session s, or else the oldest record
// of any session, and returns it, or nil if there is none.
func (t *queueTasks) ack(s callctx.SessionID) *queueDelivery {
	if len(t.taken[s]) == 0 {
		var oldest *queueDelivery
		for _, ds := range t.taken {
			if oldest == nil || ds[0].seq < oldest.seq {
				oldest = ds[0]
			}
		}
		if oldest == nil {
			return nil
		}
		s = oldest.session
	}
	ds := t.taken[s]
	d := ds[0]
	ds[0] = nil
	if len(ds) == 1 {
		delete(t.taken, s)
	} else {
		t.taken[s] = ds[1:]
	}
	return d
}

// queueEntry is an item in the queue. seq identifies it, so that a Put
// withdrawn just after its item went in can find and remove it.
type queueEntry struct {
	item msgpack.RawMessage
	seq  uint64
}

// queueDeque is a double-ended queue of entries: buf[head:] in order.
type queueDeque struct {
	buf  []queueEntry
	head int
}

func (d *queueDeque) len() int { return len(d.buf) - d.head }

func (d *queueDeque) pushBack(e queueEntry) {
	if d.head > 0 && len(d.buf) == cap(d.buf) && d.head*2 >= len(d.buf) {
		// Reuse the consumed front half instead of growing.
		n := copy(d.buf, d.buf[d.head:])
		clear(d.buf[n:])
		d.buf, d.head = d.buf[:n], 0
	}
	d.buf = append(d.buf, e)
}

// pushFront puts es before the front entry, keeping their order.
func (d *queueDeque) pushFront(es ...queueEntry) {
	if len(es) <= d.head {
		d.head -= len(es)
		copy(d.buf[d.head:], es)
		return
	}
	buf := make([]queueEntry, 0, len(es)+d.len()+1)
	buf = append(buf, es...)
	buf = append(buf, d.buf[d.head:]...)
	d.buf, d.head = buf, 0
}

// front returns the front entry without removing it.
func (d *queueDeque) front() (queueEntry, bool) {
	if d.len() == 0 {
		return queueEntry{}, false
	}
	return d.buf[d.head], true
}

func (d *queueDeque) popFront() (queueEntry, bool) {
	if d.len() == 0 {
		return queueEntry{}, false
	}
	e := d.buf[d.head]
	d.buf[d.head] = queueEntry{}
	d.head++
	if d.head == len(d.buf) {
		d.buf, d.head = d.buf[:0], 0
	}
	return e, true
}

// removeLast deletes the newest entry whose item is byte-equal to item,
// and returns it.
func (d *queueDeque) removeLast(item []byte) (queueEntry, bool) {
	for i := len(d.buf) - 1; i >= d.head; i-- {
		if bytes.Equal(d.buf[i].item, item) {
			e := d.buf[i]
			copy(d.buf[i:], d.buf[i+1:])
			d.buf[len(d.buf)-1] = queueEntry{}
			d.buf = d.buf[:len(d.buf)-1]
			return e, true
		}
	}
	return queueEntry{}, false
}

// remove deletes the entry numbered seq, searching from the back, where
// a just-admitted item is, and reports whether it was there.
func (d *queueDeque) remove(seq uint64) bool {
	for i := len(d.buf) - 1; i >= d.head; i-- {
		if d.buf[i].seq == seq {
			copy(d.buf[i:], d.buf[i+1:])
			d.buf[len(d.buf)-1] = queueEntry{}
			d.buf = d.buf[:len(d.buf)-1]
			return true
		}
	}
	return false
}

// Inspect returns the queue's length, its blocked getters and putters
// and, for a JoinableQueue, the items got and not acknowledged per
// session.
func (q *Queue) Inspect() Inspection {
	q.mu.Lock()
	defer q.mu.Unlock()
	in := Inspection{Len: q.items.len()}
	for _, w := range q.getters {
		in.Getters = append(in.Getters, w.session)
	}
	for _, w := range q.putters {
		in.Putters = append(in.Putters, w.session)
	}
	if q.tasks != nil {
		for id, ds := range q.tasks.taken {
			if len(ds) > 0 {
				in.Unacked = append(in.Unacked, Holding{Session: id, Count: len(ds)})
			}
		}
	}
	return in
}
