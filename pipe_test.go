package manager_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/goproc/manager"
)

func init() {
	// pipe.echo answers every int it receives with int+1 until EOF.
	manager.RegisterWorker("pipe.echo", func(ctx context.Context, c *manager.Client, args manager.Args) error {
		var end *manager.PipeEnd
		if err := args.Decode(&end); err != nil {
			return err
		}
		defer end.Close()
		for {
			var n int
			if err := end.Recv(ctx, &n); err == io.EOF {
				return nil
			} else if err != nil {
				return err
			}
			if err := end.Send(ctx, n+1); err != nil {
				return err
			}
		}
	})
	// pipe.send sends the strings it is given, then closes its end.
	manager.RegisterWorker("pipe.send", func(ctx context.Context, c *manager.Client, args manager.Args) error {
		var end *manager.PipeEnd
		var msgs []string
		if err := args.Decode(&end, &msgs); err != nil {
			return err
		}
		for _, m := range msgs {
			if err := end.Send(ctx, m); err != nil {
				return err
			}
		}
		return end.Close()
	})
}

// newPipe makes a pipe whose ends are closed when the test ends.
func newPipe(t testing.TB, opts ...manager.PipeOption) (*manager.PipeEnd, *manager.PipeEnd) {
	t.Helper()
	a, b, err := manager.Pipe(opts...)
	require.NoError(t, err)
	t.Cleanup(func() {
		a.Close()
		b.Close()
	})
	return a, b
}

func TestPipeBothWaysAcrossProcesses(t *testing.T) {
	ctx := testContext(t)
	m := startManager(t, manager.InProcess())
	mine, theirs := newPipe(t)
	p, err := m.Fork(ctx, "pipe.echo", theirs)
	require.NoError(t, err)
	require.NoError(t, theirs.Close(), "the child has its own copy")
	for i := range 100 {
		require.NoError(t, mine.Send(ctx, i))
		var got int
		require.NoError(t, mine.Recv(ctx, &got))
		assert.Equal(t, i+1, got)
	}
	require.NoError(t, mine.Close())
	assert.NoError(t, waitProcess(ctx, t, p), "the worker saw io.EOF and returned")
}

func TestPipeEOFFromProcess(t *testing.T) {
	tests := []struct {
		name string
		opts []manager.PipeOption
	}{
		{name: "duplex"},
		{name: "one-way", opts: []manager.PipeOption{manager.OneWay()}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := testContext(t)
			m := startManager(t, manager.InProcess())
			r, w := newPipe(t, tt.opts...)
			want := []string{"a", "b", "c"}
			p, err := m.Fork(ctx, "pipe.send", w, want)
			require.NoError(t, err)
			require.NoError(t, w.Close())
			var got []string
			for {
				var s string
				err := r.Recv(ctx, &s)
				if err == io.EOF {
					break
				}
				require.NoError(t, err)
				got = append(got, s)
			}
			assert.Equal(t, want, got)
			assert.NoError(t, waitProcess(ctx, t, p))
		})
	}
}

func TestPipeOneWayDirections(t *testing.T) {
	ctx := testContext(t)
	r, w := newPipe(t, manager.OneWay())
	assert.ErrorIs(t, r.Send(ctx, 1), errors.ErrUnsupported)
	assert.ErrorIs(t, w.Recv(ctx, nil), errors.ErrUnsupported)
}

func TestPipeRecvContext(t *testing.T) {
	ctx := testContext(t)
	a, b := newPipe(t)
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	var s string
	assert.ErrorIs(t, a.Recv(short, &s), context.DeadlineExceeded)
	// The end still works after a timed-out Recv.
	require.NoError(t, b.Send(ctx, "late"))
	require.NoError(t, a.Recv(ctx, &s))
	assert.Equal(t, "late", s)

	cancelled, cancel2 := context.WithCancel(ctx)
	errc := make(chan error, 1)
	go func() { errc <- a.Recv(cancelled, nil) }()
	cancel2()
	assert.ErrorIs(t, <-errc, context.Canceled)
}

func TestPipeLargeMessage(t *testing.T) {
	ctx := testContext(t)
	a, b := newPipe(t)
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB: many pipe buffers
	errc := make(chan error, 1)
	go func() { errc <- a.Send(ctx, big) }()
	var got []byte
	require.NoError(t, b.Recv(ctx, &got))
	require.NoError(t, <-errc)
	assert.Equal(t, big, got)
}

func TestPipeErrors(t *testing.T) {
	ctx := testContext(t)
	t.Run("message too large", func(t *testing.T) {
		a, _ := newPipe(t, manager.WithPipeMaxMessage(1024))
		assert.ErrorIs(t, a.Send(ctx, make([]byte, 2048)), manager.ErrFrameTooLarge)
		assert.NoError(t, a.Send(ctx, make([]byte, 100)), "a refused message breaks nothing")
	})
	t.Run("send to a closed end", func(t *testing.T) {
		a, b := newPipe(t)
		require.NoError(t, b.Close())
		assert.ErrorIs(t, a.Send(ctx, 1), syscall.EPIPE)
	})
	t.Run("use after close", func(t *testing.T) {
		a, _ := newPipe(t)
		require.NoError(t, a.Close())
		assert.ErrorIs(t, a.Send(ctx, 1), manager.ErrClosed)
		assert.ErrorIs(t, a.Recv(ctx, nil), manager.ErrClosed)
		assert.NoError(t, a.Close(), "a second Close")
	})
	t.Run("close interrupts a blocked Recv", func(t *testing.T) {
		a, _ := newPipe(t)
		errc := make(chan error, 1)
		go func() { errc <- a.Recv(ctx, nil) }()
		// Close may come before or during the Recv: both give ErrClosed.
		require.NoError(t, a.Close())
		assert.ErrorIs(t, <-errc, manager.ErrClosed)
	})
	t.Run("not a pipe end", func(t *testing.T) {
		a, _ := newPipe(t)
		_, err := manager.New(ctx, startManager(t, manager.InProcess()), "Counter", a)
		assert.ErrorContains(t, err, "direct argument of Fork")
	})
	t.Run("wrong type of message", func(t *testing.T) {
		a, b := newPipe(t)
		require.NoError(t, a.Send(ctx, "text"))
		require.NoError(t, a.Send(ctx, 7))
		var n int
		assert.Error(t, b.Recv(ctx, &n))
		require.NoError(t, b.Recv(ctx, &n), "the end stays usable")
		assert.Equal(t, 7, n)
	})
}
