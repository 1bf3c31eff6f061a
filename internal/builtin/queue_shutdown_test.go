package builtin

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/goproc/manager/internal/errs"
	"github.com/goproc/manager/internal/wire"
)

// intShape is the encoded shape of a Go int.
var intShape = msgpack.RawMessage(wire.AppendShape(nil, &wire.Shape{Kind: wire.KindInt64, Name: "int"}))

// queueStr encodes s as a queue item; strings, unlike numbers, are
// counted by heldCounter.
func queueStr(tb testing.TB, s string) msgpack.RawMessage {
	tb.Helper()
	b, err := msgpack.Marshal(s)
	require.NoError(tb, err)
	return b
}

// queueGetErrAsync starts a Get and waits until it is blocked; the
// channel gets its error.
func queueGetErrAsync(tb testing.TB, ctx context.Context, q *Queue) <-chan error {
	tb.Helper()
	g, _ := q.testWaiting()
	ch := syncErrChan(func() error { _, err := q.Get(ctx); return err })
	syncEventually(tb, func() bool { n, _ := q.testWaiting(); return n == g+1 }, "Get is waiting")
	return ch
}

// After Shutdown, puts fail at once and gets drain what is left, then
// fail with ShutDown rather than Empty or waiting.
func TestQueueShutdownDrains(t *testing.T) {
	h, ctx := newHeldCounter(t)
	q, err := NewQueue(2)
	require.NoError(t, err)
	a, b := queueStr(t, "a"), queueStr(t, "b")
	require.NoError(t, q.Put(ctx, a))
	require.NoError(t, q.Put(ctx, b))
	assert.False(t, q.IsShutDown())

	q.Shutdown(ctx, false)
	assert.True(t, q.IsShutDown())
	assert.ErrorIs(t, q.Put(ctx, queueStr(t, "c")), errs.ShutDown)
	assert.ErrorIs(t, q.TryPut(ctx, queueStr(t, "c")), errs.ShutDown, "ShutDown, not Full")
	q.Shutdown(ctx, false) // twice is fine
	h.assertHolds(t, []msgpack.RawMessage{a, b}, "shutdown keeps the items")

	got, err := q.Get(ctx)
	require.NoError(t, err)
	assert.Equal(t, a, got)
	got, err = q.TryGet(ctx)
	require.NoError(t, err)
	assert.Equal(t, b, got)
	_, err = q.TryGet(ctx)
	assert.ErrorIs(t, err, errs.ShutDown, "ShutDown, not Empty")
	_, err = q.Get(ctx)
	assert.ErrorIs(t, err, errs.ShutDown, "no wait on an empty shut-down queue")
	_, err = q.GetAs(ctx, stringShape)
	assert.ErrorIs(t, err, errs.ShutDown)
	_, err = q.TryGetAs(ctx, stringShape)
	assert.ErrorIs(t, err, errs.ShutDown)
	h.assertHolds(t, nil, "drained")
}

// Every blocked Get and Put is woken with ShutDown, and a Put's item is
// not in the queue.
func TestQueueShutdownWakesWaiters(t *testing.T) {
	tests := []struct {
		name      string
		immediate bool
	}{
		{name: "drain", immediate: false},
		{name: "immediate", immediate: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, ctx := newHeldCounter(t)
			empty, err := NewQueue(1)
			require.NoError(t, err)
			getters := []<-chan error{
				queueGetErrAsync(t, ctx, empty),
				queueGetErrAsync(t, ctx, empty),
				queueGetErrAsync(t, syncAs(ctx, 2, 0), empty),
			}
			full, err := NewQueue(1)
			require.NoError(t, err)
			first := queueStr(t, "first")
			require.NoError(t, full.Put(ctx, first))
			var putters []<-chan error
			for _, s := range []string{"x", "y"} {
				_, p := full.testWaiting()
				putters = append(putters, syncErrChan(func() error { return full.Put(ctx, queueStr(t, s)) }))
				syncEventually(t, func() bool { _, n := full.testWaiting(); return n == p+1 }, "Put is waiting")
			}

			empty.Shutdown(ctx, tt.immediate)
			full.Shutdown(ctx, tt.immediate)
			for _, ch := range append(getters, putters...) {
				assert.ErrorIs(t, syncRecv(t, ctx, ch), errs.ShutDown)
			}
			g, p := full.testWaiting()
			assert.Equal(t, 0, g)
			assert.Equal(t, 0, p)
			if tt.immediate {
				assert.Equal(t, 0, full.Len())
				h.assertHolds(t, nil, "immediate shutdown discards")
				return
			}
			h.assertHolds(t, []msgpack.RawMessage{first}, "only the first item went in")
			got, err := full.Get(ctx)
			require.NoError(t, err)
			assert.Equal(t, first, got)
			_, err = full.Get(ctx)
			assert.ErrorIs(t, err, errs.ShutDown)
		})
	}
}

// Shutdown(immediate) discards the items in a JoinableQueue and counts
// them finished, so Join returns once the items got are acknowledged;
// TaskDone still works.
func TestJoinableQueueShutdownImmediate(t *testing.T) {
	h, ctx := newHeldCounter(t)
	q, err := NewJoinableQueue(0)
	require.NoError(t, err)
	items := []msgpack.RawMessage{queueStr(t, "a"), queueStr(t, "b"), queueStr(t, "c")}
	for _, it := range items {
		require.NoError(t, q.Put(ctx, it))
	}
	got, err := q.Get(ctx)
	require.NoError(t, err)
	assert.Equal(t, items[0], got)

	q.Shutdown(ctx, false)
	assert.Equal(t, 3, q.testUnfinished(), "a plain shutdown discards nothing")
	q.Shutdown(ctx, true)
	assert.Equal(t, 0, q.Len())
	assert.Equal(t, 1, q.testUnfinished(), "the two discarded items are finished")
	h.assertHolds(t, items[:1], "the unacknowledged item is held until TaskDone")
	_, err = q.TryGet(ctx)
	assert.ErrorIs(t, err, errs.ShutDown)

	joined := syncErrChan(func() error { return q.Join(ctx) })
	require.NoError(t, q.TaskDone(ctx))
	assert.NoError(t, syncRecv(t, ctx, joined))
	h.assertHolds(t, nil, "all done")
}

// A late Get's item goes back into a queue shut down without immediate
// (it was never received, and the queue drains), and is discarded from
// one shut down with immediate (as its items were).
func TestQueueShutdownGiveBack(t *testing.T) {
	tests := []struct {
		name      string
		joinable  bool
		immediate bool
		wantBack  bool
	}{
		{name: "queue, drain", immediate: false, wantBack: true},
		{name: "queue, immediate", immediate: true, wantBack: false},
		{name: "joinable, drain", joinable: true, immediate: false, wantBack: true},
		{name: "joinable, immediate", joinable: true, immediate: true, wantBack: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, ctx := newHeldCounter(t)
			q, err := NewQueue(0)
			require.NoError(t, err)
			if tt.joinable {
				jq, err := NewJoinableQueue(0)
				require.NoError(t, err)
				q = &jq.Queue
			}
			a := queueStr(t, "a")
			require.NoError(t, q.Put(ctx, a))
			got, err := q.Get(ctx)
			require.NoError(t, err)
			q.Shutdown(ctx, tt.immediate)

			q.GiveBack(ctx, "Get", "", nil, got)
			if !tt.wantBack {
				assert.Equal(t, 0, q.Len())
				h.assertHolds(t, nil, "discarded")
				if tt.joinable {
					assert.Equal(t, 0, q.testUnfinished(), "the discarded item is finished")
				}
				_, err = q.TryGet(ctx)
				assert.ErrorIs(t, err, errs.ShutDown)
				return
			}
			h.assertHolds(t, []msgpack.RawMessage{a}, "back in the queue")
			got, err = q.TryGet(ctx)
			require.NoError(t, err)
			assert.Equal(t, a, got)
			_, err = q.TryGet(ctx)
			assert.ErrorIs(t, err, errs.ShutDown)
		})
	}
}

// The unacknowledged items of a dead session are discarded and counted
// finished after an immediate shutdown, and released by the next call.
func TestJoinableQueueShutdownReleaseSession(t *testing.T) {
	h, ctx := newHeldCounter(t)
	q, err := NewJoinableQueue(0)
	require.NoError(t, err)
	a, b := queueStr(t, "a"), queueStr(t, "b")
	require.NoError(t, q.Put(ctx, a))
	require.NoError(t, q.Put(ctx, b))
	dying := syncAs(ctx, 1, 0)
	_, err = q.Get(dying)
	require.NoError(t, err)
	q.Shutdown(ctx, true)
	joined := syncErrChan(func() error { return q.Join(ctx) })

	q.ReleaseSession(syncSession(1))
	assert.NoError(t, syncRecv(t, ctx, joined))
	assert.Equal(t, 0, q.Len())
	_, err = q.TryGet(ctx)
	assert.ErrorIs(t, err, errs.ShutDown)
	h.assertHolds(t, nil, "released by the next call")
}

// A front item that does not fit a shape-checked Get stays in a
// shut-down queue, as in an open one.
func TestQueueShutdownGetAsWrongType(t *testing.T) {
	ctx := syncTestCtx(t)
	q, err := NewQueue(0)
	require.NoError(t, err)
	require.NoError(t, q.Put(ctx, queueStr(t, "a")))
	q.Shutdown(ctx, false)
	_, err = q.TryGetAs(ctx, intShape)
	assert.ErrorIs(t, err, errs.WrongType)
	_, err = q.GetAs(ctx, intShape)
	assert.ErrorIs(t, err, errs.WrongType)
	assert.Equal(t, 1, q.Len())
}
