package manager_test

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/goproc/manager"
)

// TestErrorTexts walks the common failures and checks what their texts
// say: one "manager:" prefix, the method once, and nothing of msgpack's
// internals or the library's internal Go types. errors.Is keeps working.
func TestErrorTexts(t *testing.T) {
	m := startManager(t)
	setup := testContext(t)

	full, err := manager.NewQueue[int](setup, m, 1)
	require.NoError(t, err)
	require.NoError(t, full.TryPut(setup, 1))
	empty, err := manager.NewQueue[int](setup, m, 0)
	require.NoError(t, err)
	lock, err := manager.NewLock(setup, m)
	require.NoError(t, err)
	ints, err := manager.OpenDict[string, int](setup, m, "error-texts")
	require.NoError(t, err)
	err = ints.Store(setup, "k", 7)
	require.NoError(t, err)
	strs, err := manager.OpenDict[string, string](setup, m, "error-texts")
	require.NoError(t, err)
	counter, err := manager.New(setup, m, "Counter")
	require.NoError(t, err)
	closed, err := manager.NewQueue[int](setup, m, 0)
	require.NoError(t, err)
	require.NoError(t, closed.Close())
	faulty, err := manager.New(setup, m, "Faulty")
	require.NoError(t, err)
	queues, err := manager.NewDict[string, *manager.Queue[int]](setup, m)
	require.NoError(t, err)
	intItems, err := manager.OpenQueue[int](setup, m, "error-texts-queue", 0)
	require.NoError(t, err)
	require.NoError(t, intItems.Put(setup, 7))
	strItems, err := manager.OpenQueue[string](setup, m, "error-texts-queue", 0)
	require.NoError(t, err)
	sender, _ := newPipe(t)
	require.NoError(t, sender.Close())
	pipeIn, pipeOut := newPipe(t)
	require.NoError(t, pipeIn.Send(setup, "x"))

	tests := []struct {
		name       string
		call       func(ctx context.Context) error
		wantIs     error  // nil: only the text is checked
		wantMethod string // the method, named once
	}{
		{"TryPut on a full queue", func(ctx context.Context) error { return full.TryPut(ctx, 2) }, manager.ErrFull, "Queue.TryPut"},
		{"TryGet on an empty queue", func(ctx context.Context) error { _, err := empty.TryGet(ctx); return err }, manager.ErrEmpty, "Queue.TryGet"},
		{"Release of a lock not held", func(ctx context.Context) error { return lock.Release(ctx) }, manager.ErrNotHeld, "Lock.Release"},
		{"a value of another type", func(ctx context.Context) error { _, _, err := strs.Load(ctx, "k"); return err }, manager.ErrWrongType, "Dict.Load"},
		{"a queue item of another type", func(ctx context.Context) error { _, err := strItems.Get(ctx); return err }, manager.ErrWrongType, "Queue.Get"},
		{"an unknown method", func(ctx context.Context) error { _, err := manager.Call[int](ctx, counter, "Nope"); return err }, manager.ErrNoSuchMethod, "Counter.Nope"},
		{"too few arguments", func(ctx context.Context) error { _, err := manager.Call[int](ctx, counter, "Add"); return err }, manager.ErrBadArguments, "Counter.Add"},
		{"an argument of another type", func(ctx context.Context) error {
			_, err := manager.Call[string](ctx, faulty, "Echo", []int{1})
			return err
		}, manager.ErrBadArguments, "Faulty.Echo"},
		{"a constructor argument of another type", func(ctx context.Context) error { _, err := manager.New(ctx, m, "Restricted", "seven"); return err }, manager.ErrBadArguments, "New"},
		{"a closed proxy", func(ctx context.Context) error { return closed.TryPut(ctx, 1) }, manager.ErrClosed, "Queue.TryPut"},
		{"a result of another type", func(ctx context.Context) error { _, err := manager.Call[[]int](ctx, faulty, "Echo", "x"); return err }, nil, "Faulty.Echo"},
		{"a proxy never created, as an argument", func(ctx context.Context) error { return queues.Store(ctx, "k", &manager.Queue[int]{}) }, nil, "Dict.Store"},
		{"a closed pipe end", func(ctx context.Context) error { return sender.Send(ctx, 1) }, manager.ErrClosed, "PipeEnd.Send"},
		{"a message of another type", func(ctx context.Context) error { var n int; return pipeOut.Recv(ctx, &n) }, nil, "PipeEnd.Recv"},
		{"a sentinel a custom method returned", func(ctx context.Context) error { _, err := manager.Call[struct{}](ctx, faulty, "Empty"); return err }, manager.ErrEmpty, "Faulty.Empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call(testContext(t))
			require.Error(t, err)
			text := err.Error()
			t.Log(text)
			if tt.wantIs != nil {
				assert.ErrorIs(t, err, tt.wantIs)
			}
			assert.True(t, strings.HasPrefix(text, "manager: "), "the text starts with the package")
			assert.Equal(t, 1, strings.Count(text, "manager:"), "one \"manager:\" prefix")
			assert.Equal(t, 1, strings.Count(text, tt.wantMethod), "the method named once")
			assert.NotContains(t, text, "msgpack")
			assert.NotContains(t, text, "*manager.")
			assert.NotContains(t, text, "builtin.")
		})
	}
}
