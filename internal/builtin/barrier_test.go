package builtin

import (
	"context"
	"sort"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/goproc/manager/internal/errs"
)

type barrierResult struct {
	index int
	err   error
}

// barrierWaitAsync starts a Wait and waits until it is counted as
// waiting.
func barrierWaitAsync(tb testing.TB, ctx context.Context, b *Barrier) <-chan barrierResult {
	tb.Helper()
	before := b.NWaiting()
	ch := make(chan barrierResult, 1)
	go func() {
		i, err := b.Wait(ctx)
		ch <- barrierResult{i, err}
	}()
	syncEventually(tb, func() bool { return b.NWaiting() == before+1 }, "Wait is waiting")
	return ch
}

func TestNewBarrier(t *testing.T) {
	_, err := NewBarrier(0)
	assert.ErrorIs(t, err, errs.BadArguments)
	b, err := NewBarrier(1)
	require.NoError(t, err)
	assert.Equal(t, 1, b.Parties())
	ctx := &syncDoneCounter{Context: syncTestCtx(t)}
	i, err := b.Wait(ctx)
	assert.NoError(t, err)
	assert.Equal(t, 0, i)
	assert.Equal(t, int32(0), ctx.calls.Load(), "the last party never touches Done")
}

func TestBarrierIndexes(t *testing.T) {
	ctx := syncTestCtx(t)
	b, err := NewBarrier(3)
	require.NoError(t, err)
	for round := range 2 {
		first := barrierWaitAsync(t, syncAs(ctx, 1, 0), b)
		second := barrierWaitAsync(t, syncAs(ctx, 2, 0), b)
		assert.Equal(t, 2, b.NWaiting())
		last, err := b.Wait(syncAs(ctx, 3, 0))
		require.NoError(t, err, "round %d", round)
		assert.Equal(t, 2, last)
		assert.Equal(t, barrierResult{index: 0}, syncRecv(t, ctx, first), "first arrival gets 0")
		assert.Equal(t, barrierResult{index: 1}, syncRecv(t, ctx, second))
		assert.Equal(t, 0, b.NWaiting())
		assert.False(t, b.Broken())
	}
}

func TestBarrierConcurrent(t *testing.T) {
	ctx := syncTestCtx(t)
	const parties, rounds = 6, 20
	b, err := NewBarrier(parties)
	require.NoError(t, err)
	indexes := make(chan int, parties*rounds)
	var wg sync.WaitGroup
	for p := range parties {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range rounds {
				i, err := b.Wait(syncAs(ctx, byte(p), 0))
				if !assert.NoError(t, err) {
					return
				}
				indexes <- i
			}
		}()
	}
	wg.Wait()
	close(indexes)
	var got []int
	for i := range indexes {
		got = append(got, i)
	}
	sort.Ints(got)
	var want []int
	for i := range parties {
		for range rounds {
			want = append(want, i)
		}
	}
	assert.Equal(t, want, got, "each round hands out 0..parties-1 once")
}

func TestBarrierBreaks(t *testing.T) {
	tests := []struct {
		name string
		// breakIt breaks the barrier while parties of sessions 1 and 2
		// wait; the one of session 1 waits on cancel's ctx.
		breakIt   func(b *Barrier, cancel context.CancelFunc)
		wantFirst error
	}{
		{
			name:      "ctx ends",
			breakIt:   func(_ *Barrier, cancel context.CancelFunc) { cancel() },
			wantFirst: context.Canceled,
		},
		{
			name:      "Abort",
			breakIt:   func(b *Barrier, _ context.CancelFunc) { b.Abort() },
			wantFirst: errs.BrokenBarrier,
		},
		{
			name:      "waiting party's session ends",
			breakIt:   func(b *Barrier, _ context.CancelFunc) { b.ReleaseSession(syncSession(1)) },
			wantFirst: errs.BrokenBarrier,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := syncTestCtx(t)
			b, err := NewBarrier(3)
			require.NoError(t, err)
			wctx, cancel := context.WithCancel(syncAs(ctx, 1, 0))
			defer cancel()
			first := barrierWaitAsync(t, wctx, b)
			second := barrierWaitAsync(t, syncAs(ctx, 2, 0), b)

			b.ReleaseSession(syncSession(9)) // no party of it waits: no effect
			assert.False(t, b.Broken())

			tt.breakIt(b, cancel)
			assert.ErrorIs(t, syncRecv(t, ctx, first).err, tt.wantFirst)
			assert.ErrorIs(t, syncRecv(t, ctx, second).err, errs.BrokenBarrier)
			assert.True(t, b.Broken())
			assert.Equal(t, 0, b.NWaiting())
			_, err = b.Wait(ctx)
			assert.ErrorIs(t, err, errs.BrokenBarrier, "broken until Reset")

			b.Reset()
			assert.False(t, b.Broken())
			w := barrierWaitAsync(t, syncAs(ctx, 1, 0), b)
			_ = barrierWaitAsync(t, syncAs(ctx, 2, 0), b)
			i, err := b.Wait(ctx)
			assert.NoError(t, err)
			assert.Equal(t, 2, i)
			assert.Equal(t, barrierResult{index: 0}, syncRecv(t, ctx, w))
		})
	}
}

func TestBarrierReset(t *testing.T) {
	ctx := syncTestCtx(t)
	b, err := NewBarrier(2)
	require.NoError(t, err)
	b.Reset() // nobody waiting: nothing to break
	assert.False(t, b.Broken())

	w := barrierWaitAsync(t, ctx, b)
	b.Reset()
	assert.ErrorIs(t, syncRecv(t, ctx, w).err, errs.BrokenBarrier, "waiting parties are failed")
	assert.False(t, b.Broken(), "and the barrier is usable again")
	w = barrierWaitAsync(t, ctx, b)
	i, err := b.Wait(ctx)
	assert.NoError(t, err)
	assert.Equal(t, 1, i)
	assert.Equal(t, barrierResult{index: 0}, syncRecv(t, ctx, w))
}

// TestBarrierMemberEnds ends a session while sessions 1 and 2 wait at a
// barrier of 3 parties: the barrier breaks when that session is a member
// (it joined, or waited in an earlier round), whether or not it waits
// now, and for good until Reset.
func TestBarrierMemberEnds(t *testing.T) {
	tests := []struct {
		name string
		// before runs before sessions 1 and 2 wait; session 3 ends after.
		before     func(t *testing.T, ctx context.Context, b *Barrier)
		wantBroken bool
	}{
		{
			name:   "never took part",
			before: func(*testing.T, context.Context, *Barrier) {},
		},
		{
			name:       "joined",
			before:     func(_ *testing.T, ctx context.Context, b *Barrier) { b.Join(syncAs(ctx, 3, 0)) },
			wantBroken: true,
		},
		{
			name: "waited in an earlier round",
			before: func(t *testing.T, ctx context.Context, b *Barrier) {
				first := barrierWaitAsync(t, syncAs(ctx, 1, 0), b)
				second := barrierWaitAsync(t, syncAs(ctx, 2, 0), b)
				_, err := b.Wait(syncAs(ctx, 3, 0))
				require.NoError(t, err)
				require.NoError(t, syncRecv(t, ctx, first).err)
				require.NoError(t, syncRecv(t, ctx, second).err)
			},
			wantBroken: true,
		},
		{
			name: "joined, then left",
			before: func(_ *testing.T, ctx context.Context, b *Barrier) {
				b.Join(syncAs(ctx, 3, 0))
				b.Join(syncAs(ctx, 3, 0))
				b.Leave(syncAs(ctx, 3, 0))
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := syncTestCtx(t)
			b, err := NewBarrier(3)
			require.NoError(t, err)
			tt.before(t, ctx, b)
			first := barrierWaitAsync(t, syncAs(ctx, 1, 0), b)
			second := barrierWaitAsync(t, syncAs(ctx, 2, 0), b)

			b.ReleaseSession(syncSession(3))
			assert.Equal(t, tt.wantBroken, b.Broken())
			b.Abort() // ends the waits of a barrier left unbroken
			assert.ErrorIs(t, syncRecv(t, ctx, first).err, errs.BrokenBarrier)
			assert.ErrorIs(t, syncRecv(t, ctx, second).err, errs.BrokenBarrier)
		})
	}
}

// TestBarrierMemberEndsBeforeOthersWait ends a member that joined and
// never waited before anyone else waits: the next Wait fails at once
// instead of waiting for it, until Reset; Reset keeps the live members.
func TestBarrierMemberEndsBeforeOthersWait(t *testing.T) {
	ctx := syncTestCtx(t)
	b, err := NewBarrier(2)
	require.NoError(t, err)
	b.Join(syncAs(ctx, 1, 0))
	b.Join(syncAs(ctx, 2, 0))
	b.ReleaseSession(syncSession(2))
	_, err = b.Wait(syncAs(ctx, 1, 0))
	assert.ErrorIs(t, err, errs.BrokenBarrier, "the dead member is not waited for")

	b.Reset()
	b.ReleaseSession(syncSession(2)) // ended already: a member no more
	assert.False(t, b.Broken())
	w := barrierWaitAsync(t, syncAs(ctx, 3, 0), b)
	b.ReleaseSession(syncSession(1))
	assert.True(t, b.Broken(), "session 1 is still a member after Reset, needed by session 3's round")
	assert.ErrorIs(t, syncRecv(t, ctx, w).err, errs.BrokenBarrier)
}

// TestBarrierMemberEndsBetweenRounds ends members that are not needed:
// the barrier stays usable as long as the live members (and newcomers
// taking the place of the departed) can complete the rounds.
func TestBarrierMemberEndsBetweenRounds(t *testing.T) {
	tests := []struct {
		name string
		// run ends members of a barrier of 2 parties whose sessions 1
		// and 2 passed a round, and passes another round.
		run func(t *testing.T, ctx context.Context, b *Barrier)
	}{
		{
			name: "another member is left to wait with",
			run: func(t *testing.T, ctx context.Context, b *Barrier) {
				b.Join(syncAs(ctx, 3, 0))
				b.ReleaseSession(syncSession(2))
				w := barrierWaitAsync(t, syncAs(ctx, 1, 0), b)
				_, err := b.Wait(syncAs(ctx, 3, 0))
				require.NoError(t, err)
				require.NoError(t, syncRecv(t, ctx, w).err)
			},
		},
		{
			name: "a newcomer takes the place of the departed",
			run: func(t *testing.T, ctx context.Context, b *Barrier) {
				b.ReleaseSession(syncSession(2))
				w := barrierWaitAsync(t, syncAs(ctx, 3, 0), b)
				_, err := b.Wait(syncAs(ctx, 1, 0))
				require.NoError(t, err)
				require.NoError(t, syncRecv(t, ctx, w).err)
			},
		},
		{
			name: "every member ended",
			run: func(t *testing.T, ctx context.Context, b *Barrier) {
				b.ReleaseSession(syncSession(2))
				b.ReleaseSession(syncSession(1))
				w := barrierWaitAsync(t, syncAs(ctx, 3, 0), b)
				_, err := b.Wait(syncAs(ctx, 4, 0))
				require.NoError(t, err)
				require.NoError(t, syncRecv(t, ctx, w).err)
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := syncTestCtx(t)
			b, err := NewBarrier(2)
			require.NoError(t, err)
			w := barrierWaitAsync(t, syncAs(ctx, 1, 0), b)
			_, err = b.Wait(syncAs(ctx, 2, 0))
			require.NoError(t, err)
			require.NoError(t, syncRecv(t, ctx, w).err)

			tt.run(t, ctx, b)
			assert.False(t, b.Broken())
		})
	}
}

// TestBarrierLeaveWhileWaiting checks that Leave does not hide a party
// still waiting: its session's end breaks the barrier.
func TestBarrierLeaveWhileWaiting(t *testing.T) {
	ctx := syncTestCtx(t)
	b, err := NewBarrier(2)
	require.NoError(t, err)
	w := barrierWaitAsync(t, syncAs(ctx, 1, 0), b)
	b.Leave(syncAs(ctx, 1, 0))
	b.ReleaseSession(syncSession(1))
	assert.ErrorIs(t, syncRecv(t, ctx, w).err, errs.BrokenBarrier)
}
