package manager_test

import (
	"context"
	"fmt"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/goproc/manager"
)

func init() {
	manager.RegisterTask("pool.square", func(ctx context.Context, c *manager.Client, args manager.Args) (any, error) {
		var n int
		if err := args.Decode(&n); err != nil {
			return nil, err
		}
		return n * n, nil
	})
	manager.RegisterTask("pool.pid", func(ctx context.Context, c *manager.Client, args manager.Args) (any, error) {
		return os.Getpid(), nil
	})
	manager.RegisterTask("pool.fail", func(ctx context.Context, c *manager.Client, args manager.Args) (any, error) {
		return nil, fmt.Errorf("no such thing: %w", manager.ErrNotFound)
	})
	manager.RegisterTask("pool.panic", func(ctx context.Context, c *manager.Client, args manager.Args) (any, error) {
		panic("task exploded")
	})
	manager.RegisterTask("pool.exit", func(ctx context.Context, c *manager.Client, args manager.Args) (any, error) {
		os.Exit(3)
		return nil, nil
	})
	manager.RegisterTask("pool.kill", func(ctx context.Context, c *manager.Client, args manager.Args) (any, error) {
		return nil, syscall.Kill(os.Getpid(), syscall.SIGKILL)
	})
	// pool.block waits for the end of its ctx (a terminated pool).
	manager.RegisterTask("pool.block", func(ctx context.Context, c *manager.Client, args manager.Args) (any, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	})
	// pool.add adds to the Counter it is given and returns the new total.
	manager.RegisterTask("pool.add", func(ctx context.Context, c *manager.Client, args manager.Args) (any, error) {
		var p *manager.Proxy
		var n int64
		if err := args.Decode(&p, &n); err != nil {
			return nil, err
		}
		return manager.Call[int64](ctx, p, "Add", n)
	})
}

// newPool starts a pool that is terminated when the test ends.
func newPool(t testing.TB, m *manager.Manager, n int) *manager.Pool {
	t.Helper()
	p, err := manager.NewPool(testContext(t), m, n)
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		assert.NoError(t, p.Terminate(ctx))
	})
	return p
}

func TestPoolMapKeepsOrder(t *testing.T) {
	ctx := testContext(t)
	m := startManager(t, manager.InProcess())
	p := newPool(t, m, 3)
	inputs := make([]int, 50)
	want := make([]int, 50)
	for i := range inputs {
		inputs[i], want[i] = i, i*i
	}
	got, err := manager.PoolMap[int](ctx, p, "pool.square", inputs)
	require.NoError(t, err)
	assert.Equal(t, want, got)
}

func TestPoolSubmitAndCloseWait(t *testing.T) {
	ctx := testContext(t)
	m := startManager(t)
	counter, err := manager.New(ctx, m, "Counter")
	require.NoError(t, err)
	p := newPool(t, m, 2)
	var results []*manager.AsyncResult
	for i := 1; i <= 10; i++ {
		r, err := p.Submit(ctx, "pool.add", counter, int64(i))
		require.NoError(t, err)
		results = append(results, r)
	}
	require.NoError(t, p.Close())
	_, err = p.Submit(ctx, "pool.square", 1)
	assert.ErrorIs(t, err, manager.ErrClosed)
	require.NoError(t, p.Wait(ctx), "the queued tasks run to the end")
	for _, r := range results {
		var n int64
		assert.NoError(t, r.Get(ctx, &n))
	}
	total, err := manager.Call[int64](ctx, counter, "Get")
	require.NoError(t, err)
	assert.Equal(t, int64(55), total)
}

func TestPoolTaskErrors(t *testing.T) {
	ctx := testContext(t)
	m := startManager(t, manager.InProcess())
	p := newPool(t, m, 1)

	r, err := p.Submit(ctx, "pool.fail")
	require.NoError(t, err)
	err = r.Wait(ctx)
	var remote *manager.RemoteError
	require.ErrorAs(t, err, &remote)
	assert.ErrorIs(t, err, manager.ErrNotFound, "sentinels survive the pipe")
	assert.Contains(t, err.Error(), "no such thing")

	r, err = p.Submit(ctx, "pool.panic")
	require.NoError(t, err)
	err = r.Wait(ctx)
	require.ErrorAs(t, err, &remote)
	assert.Equal(t, "panic", remote.Type)
	assert.Contains(t, remote.Message, "task exploded")

	_, err = p.Submit(ctx, "pool.nonesuch")
	assert.ErrorIs(t, err, manager.ErrNotRegistered)
	_, err = p.Submit(ctx, "pool.square", make(chan int))
	assert.ErrorContains(t, err, "encode argument 1")
	var n int
	r, err = p.Submit(ctx, "pool.square", "not a number")
	require.NoError(t, err)
	assert.Error(t, r.Get(ctx, &n))

	r, err = p.Submit(ctx, "pool.square", 7)
	require.NoError(t, err)
	require.NoError(t, r.Get(ctx, &n), "the worker survives its tasks' errors")
	assert.Equal(t, 49, n)

	assert.ErrorIs(t, p.Wait(ctx), manager.ErrBadArguments, "Wait on an open pool")
	_, err = manager.NewPool(ctx, m, 0)
	assert.ErrorIs(t, err, manager.ErrBadArguments)
}

func TestPoolWorkerCrash(t *testing.T) {
	tests := []struct {
		name       string
		task       string
		wantCode   int
		wantSignal os.Signal
	}{
		{name: "os.Exit", task: "pool.exit", wantCode: 3},
		{name: "SIGKILL", task: "pool.kill", wantCode: -1, wantSignal: syscall.SIGKILL},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := testContext(t)
			m := startManager(t, manager.InProcess())
			p := newPool(t, m, 1)
			first, err := p.Submit(ctx, "pool.pid")
			require.NoError(t, err)
			crash, err := p.Submit(ctx, tt.task)
			require.NoError(t, err)
			var after []*manager.AsyncResult
			for i := range 3 {
				r, err := p.Submit(ctx, "pool.square", i)
				require.NoError(t, err)
				after = append(after, r)
			}
			last, err := p.Submit(ctx, "pool.pid")
			require.NoError(t, err)

			err = crash.Wait(ctx)
			var crashErr *manager.WorkerCrashError
			require.ErrorAs(t, err, &crashErr)
			assert.ErrorIs(t, err, manager.ErrProcessExited)
			assert.Equal(t, tt.task, crashErr.Task)
			var exit *manager.ExitError
			require.ErrorAs(t, err, &exit)
			assert.Equal(t, tt.wantCode, exit.ExitCode)
			assert.Equal(t, tt.wantSignal, exit.Signal)

			for i, r := range after {
				var n int
				require.NoError(t, r.Get(ctx, &n), "queued tasks run on")
				assert.Equal(t, i*i, n)
			}
			var pid1, pid2 int
			require.NoError(t, first.Get(ctx, &pid1))
			require.NoError(t, last.Get(ctx, &pid2))
			assert.Equal(t, crashErr.Pid, pid1)
			assert.NotEqual(t, pid1, pid2, "the worker was replaced")
		})
	}
}

func TestPoolTerminateWithTasksInFlight(t *testing.T) {
	ctx := testContext(t)
	m := startManager(t, manager.InProcess())
	p, err := manager.NewPool(ctx, m, 2)
	require.NoError(t, err)
	var results []*manager.AsyncResult
	for range 5 { // two run, three wait in the queue
		r, err := p.Submit(ctx, "pool.block")
		require.NoError(t, err)
		results = append(results, r)
	}
	require.NoError(t, p.Terminate(ctx))
	for _, r := range results {
		assert.ErrorIs(t, r.Wait(ctx), manager.ErrClosed)
	}
	assert.NoError(t, p.Terminate(ctx), "a second Terminate")
	assert.NoError(t, p.Wait(ctx))
	_, err = p.Submit(ctx, "pool.square", 1)
	assert.ErrorIs(t, err, manager.ErrClosed)
}

func TestPoolContextEndsPool(t *testing.T) {
	ctx := testContext(t)
	m := startManager(t, manager.InProcess())
	pctx, cancel := context.WithCancel(ctx)
	p, err := manager.NewPool(pctx, m, 1)
	require.NoError(t, err)
	r, err := p.Submit(ctx, "pool.block")
	require.NoError(t, err)
	cancel()
	assert.ErrorIs(t, r.Wait(ctx), manager.ErrClosed)
	assert.NoError(t, p.Wait(ctx))
}
