package builtin

import (
	"context"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func (e *Event) testWaiting() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.ch != nil
}

func TestEventSetClear(t *testing.T) {
	ctx := &syncDoneCounter{Context: syncTestCtx(t)}
	e, err := NewEvent()
	require.NoError(t, err)
	assert.False(t, e.IsSet())
	e.Set()
	assert.True(t, e.IsSet())
	e.Set()
	assert.True(t, e.IsSet())
	ok, err := e.Wait(ctx)
	assert.NoError(t, err)
	assert.True(t, ok, "Wait on a set event returns at once")
	assert.Equal(t, int32(0), ctx.calls.Load(), "and never touches Done")
	e.Clear()
	assert.False(t, e.IsSet())
}

func TestEventWaitWakesAll(t *testing.T) {
	ctx := syncTestCtx(t)
	e, err := NewEvent()
	require.NoError(t, err)
	const n = 8
	results := make(chan bool, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, err := e.Wait(syncAs(ctx, byte(i), 0))
			assert.NoError(t, err)
			results <- ok
		}()
	}
	syncEventually(t, e.testWaiting, "waiters are waiting")
	e.Set() // late waiters see the flag set
	wg.Wait()
	close(results)
	for ok := range results {
		assert.True(t, ok)
	}
}

func TestEventSetThenClearStillWakes(t *testing.T) {
	ctx := syncTestCtx(t)
	e, err := NewEvent()
	require.NoError(t, err)
	got := make(chan bool, 1)
	go func() {
		ok, err := e.Wait(ctx)
		assert.NoError(t, err)
		got <- ok
	}()
	// The channel exists once the only waiter has taken it.
	syncEventually(t, e.testWaiting, "Wait is waiting")
	e.Set()
	e.Clear() // as in Python, a waiter that was waiting when Set ran returns true
	assert.True(t, syncRecv(t, ctx, got))
	assert.False(t, e.IsSet())
}

func TestEventWaitCancel(t *testing.T) {
	ctx := syncTestCtx(t)
	e, err := NewEvent()
	require.NoError(t, err)
	wctx, cancel := context.WithCancel(ctx)
	type result struct {
		ok  bool
		err error
	}
	got := make(chan result, 1)
	go func() {
		ok, err := e.Wait(wctx)
		got <- result{ok, err}
	}()
	syncEventually(t, e.testWaiting, "Wait is waiting")
	cancel()
	r := syncRecv(t, ctx, got)
	assert.False(t, r.ok)
	assert.ErrorIs(t, r.err, context.Canceled)
	assert.False(t, e.IsSet())
}
