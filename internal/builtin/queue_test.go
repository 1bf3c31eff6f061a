package builtin

import (
	"context"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/goproc/manager/internal/errs"
)

func (q *Queue) testWaiting() (getters, putters int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.getters), len(q.putters)
}

func (q *Queue) testUnfinished() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.tasks.unfinished
}

// queueItem encodes n as a queue item.
func queueItem(tb testing.TB, n int) msgpack.RawMessage {
	tb.Helper()
	b, err := msgpack.Marshal(n)
	require.NoError(tb, err)
	return b
}

// queueInt decodes a queue item.
func queueInt(tb testing.TB, item msgpack.RawMessage) int {
	tb.Helper()
	var n int
	require.NoError(tb, msgpack.Unmarshal(item, &n))
	return n
}

// queueDrain takes every item with TryGet.
func queueDrain(tb testing.TB, ctx context.Context, q *Queue) []int {
	tb.Helper()
	var got []int
	for {
		item, err := q.TryGet(ctx)
		if err != nil {
			assert.ErrorIs(tb, err, errs.Empty)
			return got
		}
		got = append(got, queueInt(tb, item))
	}
}

// queueGetAsync starts a Get and waits until it is blocked.
func queueGetAsync(tb testing.TB, ctx context.Context, q *Queue) <-chan msgpack.RawMessage {
	tb.Helper()
	g, _ := q.testWaiting()
	ch := make(chan msgpack.RawMessage, 1)
	go func() {
		item, err := q.Get(ctx)
		assert.NoError(tb, err)
		ch <- item
	}()
	syncEventually(tb, func() bool { n, _ := q.testWaiting(); return n == g+1 }, "Get is waiting")
	return ch
}

// queuePutAsync starts a Put and waits until it is blocked.
func queuePutAsync(tb testing.TB, ctx context.Context, q *Queue, item msgpack.RawMessage) <-chan error {
	tb.Helper()
	_, p := q.testWaiting()
	ch := syncErrChan(func() error { return q.Put(ctx, item) })
	syncEventually(tb, func() bool { _, n := q.testWaiting(); return n == p+1 }, "Put is waiting")
	return ch
}

func TestQueueBasics(t *testing.T) {
	tests := []struct {
		name     string
		give     int
		wantFull bool // after 3 puts
	}{
		{name: "unbounded", give: 0},
		{name: "negative is unbounded", give: -1},
		{name: "bounded, room left", give: 4},
		{name: "bounded, filled", give: 3, wantFull: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := syncTestCtx(t)
			q, err := NewQueue(tt.give)
			require.NoError(t, err)
			assert.Equal(t, tt.give, q.Cap())
			assert.True(t, q.Empty())
			assert.False(t, q.Full())
			_, err = q.TryGet(ctx)
			assert.ErrorIs(t, err, errs.Empty)

			require.NoError(t, q.Put(ctx, queueItem(t, 1)))
			require.NoError(t, q.TryPut(ctx, queueItem(t, 2)))
			require.NoError(t, q.Put(ctx, queueItem(t, 3)))
			assert.Equal(t, 3, q.Len())
			assert.False(t, q.Empty())
			assert.Equal(t, tt.wantFull, q.Full())
			if tt.wantFull {
				assert.ErrorIs(t, q.TryPut(ctx, queueItem(t, 4)), errs.Full)
			}

			item, err := q.Get(ctx)
			require.NoError(t, err)
			assert.Equal(t, 1, queueInt(t, item))
			assert.Equal(t, []int{2, 3}, queueDrain(t, ctx, q))
			assert.True(t, q.Empty())
		})
	}
}

func TestQueueFastPathDoesNotTouchDone(t *testing.T) {
	ctx := &syncDoneCounter{Context: syncTestCtx(t)}
	q, err := NewJoinableQueue(2)
	require.NoError(t, err)
	require.NoError(t, q.Join(ctx))
	require.NoError(t, q.Put(ctx, queueItem(t, 1)))
	_, err = q.Get(ctx)
	require.NoError(t, err)
	require.NoError(t, q.TaskDone(ctx))
	require.NoError(t, q.Join(ctx))
	assert.Equal(t, int32(0), ctx.calls.Load())
}

func TestQueueGettersFIFO(t *testing.T) {
	ctx := syncTestCtx(t)
	q, err := NewQueue(0)
	require.NoError(t, err)
	const n = 5
	waiting := make([]<-chan msgpack.RawMessage, n)
	for i := range n {
		waiting[i] = queueGetAsync(t, syncAs(ctx, byte(i), 0), q)
	}
	for i := range n {
		require.NoError(t, q.TryPut(ctx, queueItem(t, i)), "a Put never blocks while Gets wait")
	}
	for i := range n {
		assert.Equal(t, i, queueInt(t, syncRecv(t, ctx, waiting[i])), "getter %d", i)
	}
	assert.True(t, q.Empty())
}

func TestQueuePuttersFIFO(t *testing.T) {
	ctx := syncTestCtx(t)
	q, err := NewQueue(2)
	require.NoError(t, err)
	require.NoError(t, q.Put(ctx, queueItem(t, 0)))
	require.NoError(t, q.Put(ctx, queueItem(t, 1)))
	var puts []<-chan error
	for i := 2; i < 6; i++ {
		puts = append(puts, queuePutAsync(t, ctx, q, queueItem(t, i)))
	}
	assert.ErrorIs(t, q.TryPut(ctx, queueItem(t, 99)), errs.Full, "a newcomer does not overtake waiting Puts")

	var got []int
	for range 6 {
		item, err := q.Get(ctx)
		require.NoError(t, err)
		got = append(got, queueInt(t, item))
		assert.LessOrEqual(t, q.Len(), 2)
	}
	assert.Equal(t, []int{0, 1, 2, 3, 4, 5}, got)
	for _, p := range puts {
		assert.NoError(t, syncRecv(t, ctx, p))
	}
}

func TestQueueCancelGetWithdraws(t *testing.T) {
	ctx := syncTestCtx(t)
	q, err := NewQueue(0)
	require.NoError(t, err)
	gctx, cancel := context.WithCancel(ctx)
	got := syncErrChan(func() error { _, err := q.Get(gctx); return err })
	syncEventually(t, func() bool { g, _ := q.testWaiting(); return g == 1 }, "Get is waiting")
	cancel()
	assert.ErrorIs(t, syncRecv(t, ctx, got), context.Canceled)
	require.NoError(t, q.Put(ctx, queueItem(t, 7)))
	assert.Equal(t, []int{7}, queueDrain(t, ctx, q), "the withdrawn Get consumed nothing")
}

// TestQueueCancelGetAtHandOff hands an item to a Get whose ctx has just
// ended: the item must go back, not be lost.
func TestQueueCancelGetAtHandOff(t *testing.T) {
	tests := []struct {
		name       string
		otherGet   bool // a second Get waits behind the cancelled one
		wantQueued []int
	}{
		{name: "back to the front", wantQueued: []int{1, 2}},
		{name: "on to the next Get", otherGet: true, wantQueued: []int{2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := syncTestCtx(t)
			q, err := NewJoinableQueue(0)
			require.NoError(t, err)
			gctx, cancel := context.WithCancel(syncAs(ctx, 1, 0))
			first := syncErrChan(func() error { _, err := q.Get(gctx); return err })
			syncEventually(t, func() bool { g, _ := q.testWaiting(); return g == 1 }, "Get is waiting")
			var second <-chan msgpack.RawMessage
			if tt.otherGet {
				second = queueGetAsync(t, syncAs(ctx, 2, 0), &q.Queue)
			}

			q.mu.Lock()
			cancel()
			q.insertLocked(queueItem(t, 1))
			q.mu.Unlock()
			assert.ErrorIs(t, syncRecv(t, ctx, first), context.Canceled)
			require.NoError(t, q.Put(ctx, queueItem(t, 2)))
			if tt.otherGet {
				assert.Equal(t, 1, queueInt(t, syncRecv(t, ctx, second)))
			}
			assert.Equal(t, tt.wantQueued, queueDrain(t, syncAs(ctx, 3, 0), &q.Queue))
			assert.Equal(t, 2, q.testUnfinished())
			q.mu.Lock()
			_, tracked := q.tasks.taken[syncSession(1)]
			q.mu.Unlock()
			assert.False(t, tracked, "the cancelled Get holds no delivery")
		})
	}
}

func TestQueueCancelPutWithdraws(t *testing.T) {
	ctx := syncTestCtx(t)
	q, err := NewQueue(1)
	require.NoError(t, err)
	require.NoError(t, q.Put(ctx, queueItem(t, 1)))
	pctx, cancel := context.WithCancel(ctx)
	got := queuePutAsync(t, pctx, q, queueItem(t, 2))
	cancel()
	assert.ErrorIs(t, syncRecv(t, ctx, got), context.Canceled)
	assert.Equal(t, []int{1}, queueDrain(t, ctx, q), "the withdrawn Put inserted nothing")
}

// TestQueueCancelPutAtAdmission lets a Put's item in just as its ctx
// ends: the item must be taken out again.
func TestQueueCancelPutAtAdmission(t *testing.T) {
	ctx := syncTestCtx(t)
	q, err := NewJoinableQueue(1)
	require.NoError(t, err)
	require.NoError(t, q.Put(ctx, queueItem(t, 1)))
	pctx, cancel := context.WithCancel(ctx)
	cancelled := queuePutAsync(t, pctx, &q.Queue, queueItem(t, 2))
	next := queuePutAsync(t, ctx, &q.Queue, queueItem(t, 3))

	q.mu.Lock()
	cancel()
	item, ok := q.popLocked(syncSession(1))
	q.mu.Unlock()
	require.True(t, ok)
	assert.Equal(t, 1, queueInt(t, item))

	assert.ErrorIs(t, syncRecv(t, ctx, cancelled), context.Canceled)
	assert.NoError(t, syncRecv(t, ctx, next), "the freed slot goes to the next Put")
	assert.Equal(t, []int{3}, queueDrain(t, syncAs(ctx, 1, 0), &q.Queue))
	assert.Equal(t, 2, q.testUnfinished(), "items 1 and 3, not the withdrawn 2")
}

func TestQueueConcurrent(t *testing.T) {
	ctx := syncTestCtx(t)
	q, err := NewQueue(4)
	require.NoError(t, err)
	const producers, consumers, perProducer = 6, 5, 200
	results := make(chan int, producers*perProducer)

	var wg sync.WaitGroup
	for c := range consumers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			me := syncAs(ctx, byte(100+c), 0)
			for {
				item, err := q.Get(me)
				if !assert.NoError(t, err) {
					return
				}
				n := queueInt(t, item)
				if n < 0 {
					return
				}
				results <- n
			}
		}()
	}
	var pwg sync.WaitGroup
	for p := range producers {
		pwg.Add(1)
		go func() {
			defer pwg.Done()
			me := syncAs(ctx, byte(p), 0)
			for i := range perProducer {
				assert.NoError(t, q.Put(me, queueItem(t, p*perProducer+i)))
			}
		}()
	}
	pwg.Wait()
	for range consumers {
		require.NoError(t, q.Put(ctx, queueItem(t, -1)))
	}
	wg.Wait()
	close(results)

	seen := make(map[int]int)
	for n := range results {
		seen[n]++
	}
	assert.Len(t, seen, producers*perProducer)
	for n, times := range seen {
		assert.Equal(t, 1, times, "item %d", n)
	}
}

func TestJoinableQueueTaskDoneAndJoin(t *testing.T) {
	ctx := syncTestCtx(t)
	q, err := NewJoinableQueue(0)
	require.NoError(t, err)
	assert.NoError(t, q.Join(ctx), "nothing unfinished")
	assert.ErrorIs(t, q.TaskDone(ctx), errs.BadArguments)

	for i := range 3 {
		require.NoError(t, q.Put(ctx, queueItem(t, i)))
	}
	assert.ErrorIs(t, q.TaskDone(ctx), errs.BadArguments, "TaskDone counts against Gets")

	joined := syncErrChan(func() error { return q.Join(ctx) })
	jctx, cancel := context.WithCancel(ctx)
	cancelled := syncErrChan(func() error { return q.Join(jctx) })
	cancel()
	assert.ErrorIs(t, syncRecv(t, ctx, cancelled), context.Canceled)

	a, b := syncAs(ctx, 1, 0), syncAs(ctx, 2, 0)
	for _, c := range []context.Context{a, a, b} {
		_, err := q.Get(c)
		require.NoError(t, err)
	}
	require.NoError(t, q.TaskDone(b))
	require.NoError(t, q.TaskDone(a))
	select {
	case err := <-joined:
		require.Failf(t, "Join returned early", "err %v", err)
	default:
	}
	assert.Equal(t, 1, q.testUnfinished())
	require.NoError(t, q.TaskDone(b), "b has none of its own: acknowledges a's item")
	assert.NoError(t, syncRecv(t, ctx, joined))
	assert.ErrorIs(t, q.TaskDone(a), errs.BadArguments, "task_done() called too many times")
	assert.NoError(t, q.Join(ctx))
}

func TestJoinableQueueReleaseSession(t *testing.T) {
	ctx := syncTestCtx(t)
	q, err := NewJoinableQueue(0)
	require.NoError(t, err)
	for i := 1; i <= 5; i++ {
		require.NoError(t, q.Put(ctx, queueItem(t, i)))
	}
	dying, other := syncAs(ctx, 1, 0), syncAs(ctx, 2, 0)
	for _, c := range []context.Context{dying, dying, other, dying} {
		_, err := q.Get(c)
		require.NoError(t, err)
	}
	require.NoError(t, q.TaskDone(dying)) // acknowledges item 1
	joined := syncErrChan(func() error { return q.Join(ctx) })

	q.ReleaseSession(syncSession(1))
	assert.Equal(t, 4, q.testUnfinished(), "requeued items stay unfinished")
	assert.Equal(t, 3, q.Len())

	var got []int
	for range 3 {
		item, err := q.Get(other)
		require.NoError(t, err)
		got = append(got, queueInt(t, item))
	}
	assert.Equal(t, []int{2, 4, 5}, got, "unacknowledged items first, in order")
	for range 4 {
		require.NoError(t, q.TaskDone(other))
	}
	assert.NoError(t, syncRecv(t, ctx, joined))
	q.ReleaseSession(syncSession(2)) // nothing left: no change
	assert.True(t, q.Empty())
}

func TestJoinableQueueReleaseSessionFeedsWaitingGets(t *testing.T) {
	ctx := syncTestCtx(t)
	q, err := NewJoinableQueue(0)
	require.NoError(t, err)
	dying := syncAs(ctx, 1, 0)
	for i := range 3 {
		require.NoError(t, q.Put(ctx, queueItem(t, i)))
		_, err := q.Get(dying)
		require.NoError(t, err)
	}
	waiting := queueGetAsync(t, syncAs(ctx, 2, 0), &q.Queue)
	q.ReleaseSession(syncSession(1))
	assert.Equal(t, 0, queueInt(t, syncRecv(t, ctx, waiting)))
	assert.Equal(t, []int{1, 2}, queueDrain(t, syncAs(ctx, 2, 0), &q.Queue))
	for range 3 {
		require.NoError(t, q.TaskDone(syncAs(ctx, 2, 0)))
	}
	assert.NoError(t, q.Join(ctx))
}

// TestJoinableQueueConcurrent has consumers that die after taking items
// without acknowledging them; every item is still finished and Join
// completes.
func TestJoinableQueueConcurrent(t *testing.T) {
	ctx := syncTestCtx(t)
	q, err := NewJoinableQueue(8)
	require.NoError(t, err)
	const items, consumers, dying = 400, 6, 4
	var mu sync.Mutex
	done := make(map[int]bool) // guarded by mu

	cctx, stop := context.WithCancel(ctx)
	defer stop()
	var wg sync.WaitGroup
	for c := range dying {
		wg.Add(1)
		go func() {
			defer wg.Done()
			me := syncAs(ctx, byte(50+c), 0)
			for range 3 {
				_, err := q.Get(me)
				assert.NoError(t, err)
			}
			q.ReleaseSession(syncSession(byte(50 + c)))
		}()
	}
	for c := range consumers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			me := syncAs(cctx, byte(c), 0)
			for {
				item, err := q.Get(me)
				if err != nil {
					assert.ErrorIs(t, err, context.Canceled)
					return
				}
				mu.Lock()
				done[queueInt(t, item)] = true
				mu.Unlock()
				assert.NoError(t, q.TaskDone(me))
			}
		}()
	}
	var pwg sync.WaitGroup
	for p := range 4 {
		pwg.Add(1)
		go func() {
			defer pwg.Done()
			for i := p; i < items; i += 4 {
				assert.NoError(t, q.Put(ctx, queueItem(t, i)))
			}
		}()
	}
	pwg.Wait()
	require.NoError(t, q.Join(ctx))
	stop()
	wg.Wait()
	assert.Len(t, done, items)
	assert.True(t, q.Empty())
	assert.Equal(t, 0, q.testUnfinished())
}
