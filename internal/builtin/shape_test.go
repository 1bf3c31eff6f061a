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

// stringShape is the encoded shape of a Go string.
var stringShape = msgpack.RawMessage(wire.AppendShape(nil, &wire.Shape{Kind: wire.KindString, Name: "string"}))

// TestQueueGetAsRejectsAtHandOff: an item put while a GetAs of another
// shape waits goes to the next getter that can take it, or into the
// queue; the rejected getter gets ErrWrongType and nothing is lost, on a
// Queue and on a JoinableQueue (whose unfinished count must not move).
func TestQueueGetAsRejectsAtHandOff(t *testing.T) {
	for _, joinable := range []bool{false, true} {
		name := "Queue"
		if joinable {
			name = "JoinableQueue"
		}
		t.Run(name, func(t *testing.T) {
			ctx := syncTestCtx(t)
			q, err := NewQueue(0)
			require.NoError(t, err)
			if joinable {
				jq, err := NewJoinableQueue(0)
				require.NoError(t, err)
				q = &jq.Queue
			}
			wrong := syncErrChan(func() error {
				_, err := q.GetAs(syncAs(ctx, 1, 0), stringShape)
				return err
			})
			syncEventually(t, func() bool { n, _ := q.testWaiting(); return n == 1 }, "GetAs is waiting")
			right := queueGetAsync(t, syncAs(ctx, 2, 0), q)

			require.NoError(t, q.Put(ctx, queueItem(t, 42)))
			err = syncRecv(t, ctx, wrong)
			require.ErrorIs(t, err, errs.WrongType)
			assert.Contains(t, err.Error(), "int 42")
			assert.Contains(t, err.Error(), "string")
			assert.Equal(t, 42, queueInt(t, syncRecv(t, ctx, right)))

			// With no other getter, the item stays in the queue.
			wrong = syncErrChan(func() error {
				_, err := q.GetAs(syncAs(ctx, 1, 0), stringShape)
				return err
			})
			syncEventually(t, func() bool { n, _ := q.testWaiting(); return n == 1 }, "GetAs is waiting")
			require.NoError(t, q.Put(ctx, queueItem(t, 7)))
			require.ErrorIs(t, syncRecv(t, ctx, wrong), errs.WrongType)
			assert.Equal(t, []int{7}, queueDrain(t, ctx, q))
			if joinable {
				assert.Equal(t, 2, q.testUnfinished(), "got twice, acknowledged never")
			}
		})
	}
}

// TestShapeMethodsLeaveValues: every *As method given a shape the value
// does not fit errs with ErrWrongType and changes nothing.
func TestShapeMethodsLeaveValues(t *testing.T) {
	ctx := context.Background()
	item := queueItem(t, 42)
	key := queueItem(t, 1)

	d, err := NewDict(ctx, nil)
	require.NoError(t, err)
	d.Store(ctx, key, item)
	_, err = d.LoadAndDeleteAs(ctx, key, stringShape)
	assert.ErrorIs(t, err, errs.WrongType)
	_, err = d.SwapAs(ctx, key, stringShape, stringShape)
	assert.ErrorIs(t, err, errs.WrongType)
	_, err = d.PopItemAs(ctx, nil, stringShape)
	assert.ErrorIs(t, err, errs.WrongType)
	_, err = d.PopItemAs(ctx, stringShape, nil)
	assert.ErrorIs(t, err, errs.WrongType)
	assert.Equal(t, LoadResult{Value: item, OK: true}, d.Load(key))

	l, err := NewList(ctx, []msgpack.RawMessage{item})
	require.NoError(t, err)
	_, err = l.PopAs(ctx, -1, stringShape)
	assert.ErrorIs(t, err, errs.WrongType)
	assert.Equal(t, 1, l.Len())

	v, err := NewValue(ctx, item)
	require.NoError(t, err)
	_, err = v.SwapAs(ctx, stringShape, stringShape)
	assert.ErrorIs(t, err, errs.WrongType)
	assert.Equal(t, item, v.Load())

	_, err = v.SwapAs(ctx, item, msgpack.RawMessage{0x92, 0x01})
	assert.ErrorIs(t, err, errs.BadArguments, "a malformed shape")
}
