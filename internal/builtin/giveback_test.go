package builtin

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/goproc/manager/internal/errs"
)

func giveBackMarshal(tb testing.TB, v any) []byte {
	tb.Helper()
	b, err := msgpack.Marshal(v)
	require.NoError(tb, err)
	return b
}

// A late List.Pop goes back where it was popped from.
func TestListGiveBackPop(t *testing.T) {
	tests := []struct {
		name string
		give int64
		want []int64
	}{
		{"first", 0, []int64{0, 1, 2, 3}},
		{"middle", 2, []int64{0, 1, 2, 3}},
		{"last, as -1", -1, []int64{0, 1, 2, 3}},
		{"second to last, as -2", -2, []int64{0, 1, 2, 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newTestList(t, 0, 1, 2, 3)
			v, err := l.Pop(direct, tt.give)
			require.NoError(t, err)
			l.GiveBack(direct, "Pop", "", giveBackMarshal(t, []int64{tt.give}), v)
			assert.Equal(t, tt.want, listInts(t, l))
		})
	}
}

// A late LoadAndDelete restores the pair unless the key was stored since.
func TestDictGiveBackLoadAndDelete(t *testing.T) {
	key, old, newer := giveBackMarshal(t, "k"), giveBackMarshal(t, 1), giveBackMarshal(t, 2)
	args := giveBackMarshal(t, []msgpack.RawMessage{key})

	d, err := NewDict(direct, nil)
	require.NoError(t, err)
	d.Store(direct, key, old)
	r := d.LoadAndDelete(direct, key)
	d.GiveBack(direct, "LoadAndDelete", "", args, giveBackMarshal(t, r))
	assert.Equal(t, LoadResult{Value: old, OK: true}, d.Load(key), "restored")

	r = d.LoadAndDelete(direct, key)
	d.Store(direct, key, newer)
	d.GiveBack(direct, "LoadAndDelete", "", args, giveBackMarshal(t, r))
	assert.Equal(t, LoadResult{Value: newer, OK: true}, d.Load(key), "the newer value wins")
}

// A late Acquire that reported an abandoned lock gives the lock on with
// the news, to the next waiter.
func TestLockGiveBackKeepsAbandonment(t *testing.T) {
	ctx := syncTestCtx(t)
	l, err := NewLock()
	require.NoError(t, err)
	l.core.abandoned = true
	late := syncAs(ctx, 1, 0)
	require.ErrorIs(t, l.Acquire(late), errs.Abandoned)
	l.GiveBack(late, "Acquire", errs.Abandoned.Code(), nil, nil)
	assert.False(t, l.Locked(), "given back")

	ok, err := l.TryAcquire(syncAs(ctx, 2, 0))
	assert.True(t, ok)
	assert.ErrorIs(t, err, errs.Abandoned, "the next holder is told")

	l.GiveBack(late, "Acquire", "", nil, nil)
	assert.True(t, l.Locked(), "a give back by a session that does not hold the lock changes nothing")
}

// A late Get's item goes to a waiting Get, else to the front.
func TestQueueGiveBackGet(t *testing.T) {
	ctx := syncTestCtx(t)
	q, err := NewQueue(0)
	require.NoError(t, err)
	a, b := giveBackMarshal(t, "a"), giveBackMarshal(t, "b")
	require.NoError(t, q.Put(ctx, a))
	require.NoError(t, q.Put(ctx, b))
	got, err := q.Get(ctx)
	require.NoError(t, err)
	q.GiveBack(ctx, "Get", "", nil, got)
	got, err = q.TryGet(ctx)
	require.NoError(t, err)
	assert.Equal(t, a, []byte(got), "back at the front")

	q.GiveBack(ctx, "Len", "", nil, giveBackMarshal(t, 1))
	assert.Equal(t, 1, q.Len(), "other methods take nothing")
}

// A late Put is taken back while its item is in the queue, and a waiting
// Put takes its place.
func TestQueueGiveBackPut(t *testing.T) {
	ctx := syncTestCtx(t)
	q, err := NewQueue(1)
	require.NoError(t, err)
	a, b := giveBackMarshal(t, "a"), giveBackMarshal(t, "b")
	require.NoError(t, q.Put(ctx, a))
	waiting := syncErrChan(func() error { return q.Put(ctx, b) })
	syncEventually(t, func() bool { q.mu.Lock(); defer q.mu.Unlock(); return len(q.putters) == 1 }, "the second Put waits")
	q.GiveBack(ctx, "Put", "", giveBackMarshal(t, []msgpack.RawMessage{a}), nil)
	require.NoError(t, syncRecv(t, ctx, waiting))
	got, err := q.TryGet(ctx)
	require.NoError(t, err)
	assert.Equal(t, b, []byte(got), "only the waiting Put's item is left")

	q.GiveBack(ctx, "Put", "", giveBackMarshal(t, []msgpack.RawMessage{a}), nil)
	assert.Equal(t, 0, q.Len(), "an item no longer in the queue is not taken back")
}
