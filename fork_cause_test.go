package manager_test

// The fault tests that check which cause ends a worker's ctx: the causes are
// unexported (fork_export_test.go), so these stay beside the code while the
// rest of the fault suite lives in systest/faults_test.go.

import (
	"context"
	"errors"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/goproc/manager"
)

func init() {
	manager.RegisterWorker("faults.forker", func(ctx context.Context, c *manager.Client, args manager.Args) error {
		var pids *manager.Dict[string, int]
		var slow *manager.Proxy
		var kinds []string
		if err := args.Decode(&pids, &slow, &kinds); err != nil {
			return err
		}
		for _, k := range kinds {
			if _, err := c.Fork(ctx, "faults.orphan", pids, slow, k); err != nil {
				return err
			}
		}
		<-ctx.Done() // until killed
		return nil
	})
	manager.RegisterWorker("faults.orphan", func(ctx context.Context, c *manager.Client, args manager.Args) error {
		var pids *manager.Dict[string, int]
		var slow *manager.Proxy
		var kind string
		if err := args.Decode(&pids, &slow, &kind); err != nil {
			return err
		}
		if err := pids.Store(ctx, kind, os.Getpid()); err != nil {
			return err
		}
		switch kind {
		case "obedient": // returns when its ctx ends, saying why it ended
			<-ctx.Done()
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 500*time.Millisecond)
			defer cancel()
			told := 0
			if errors.Is(context.Cause(ctx), manager.ErrWorkerParentExited) {
				told = 1
			}
			return pids.Store(rctx, "obedient told", told)
		case "calling": // has a call blocked in the manager, bound by its ctx
			_, err := manager.Call[struct{}](ctx, slow, "Hold")
			return err
		case "stubborn": // ignores its ctx
			<-time.After(time.Minute) // sleep-ok: a worker that never looks at its ctx
		}
		return nil
	})
}

// TestForkedWorkersExitWithTheirParent kills a worker that forked workers
// of its own (one that watches its ctx, one blocked in a call, one that
// ignores its ctx): all three exit within 2 s, and the ctx of the one that
// watches it says its parent exited. (TestManagerExitsWithItsParent
// checks the same for a manager process.)
func TestForkedWorkersExitWithTheirParent(t *testing.T) {
	checkNoFDLeak(t)
	ctx := testContext(t)
	m := startManager(t)
	pids, err := manager.NewDict[string, int](ctx, m)
	require.NoError(t, err)
	slow, err := manager.New(ctx, m, "FaultsSlow")
	require.NoError(t, err)
	kinds := []string{"obedient", "calling", "stubborn"}
	parent, err := m.Fork(ctx, "faults.forker", pids, slow, kinds)
	require.NoError(t, err)

	waitUntil(t, 10*time.Second, "the grandchildren run", func() bool {
		n, err := pids.Len(ctx)
		held, err2 := manager.Call[int64](ctx, slow, "Holding")
		return err == nil && err2 == nil && n == len(kinds) && held == 1
	})
	byKind, err := pids.Copy(ctx)
	require.NoError(t, err)

	require.NoError(t, parent.Signal(syscall.SIGKILL))
	<-parent.Done()
	killed := time.Now()
	for _, k := range kinds {
		took, gone := timeUntilGone(byKind[k], killed, 2*time.Second)
		assert.True(t, gone, "the %s grandchild (pid %d) outlived its parent by %v", k, byKind[k], took)
		t.Logf("detect: the %s grandchild exited %v after its parent was killed", k, took)
	}
	waitUntil(t, 2*time.Second, "the dead grandchild's call is withdrawn", func() bool {
		held, err := manager.Call[int64](ctx, slow, "Holding")
		return err == nil && held == 0
	})
	told, ok, err := pids.Load(ctx, "obedient told")
	require.NoError(t, err)
	require.True(t, ok, "the obedient grandchild reported why its ctx ended")
	assert.Equal(t, 1, told, "context.Cause(ctx) is ErrWorkerParentExited")
}

func init() {
	manager.RegisterWorker("faults.cause", func(ctx context.Context, c *manager.Client, args manager.Args) error {
		var started *manager.Event
		var told *manager.Value[bool]
		if err := args.Decode(&started, &told); err != nil {
			return err
		}
		if err := started.Set(ctx); err != nil {
			return err
		}
		<-ctx.Done()
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		return told.Store(rctx, errors.Is(context.Cause(ctx), manager.ErrWorkerTerminated))
	})
}

// TestWorkerContextCauseOnSIGTERM ends a worker's ctx with SIGTERM, sent
// directly or by the end of its Fork context: context.Cause(ctx) says so.
// (TestForkedWorkersExitWithTheirParent and TestManagerGoneInEveryProcess
// check the other causes.)
func TestWorkerContextCauseOnSIGTERM(t *testing.T) {
	tests := []struct {
		name    string
		stop    func(p *manager.Process, cancel context.CancelFunc) error
		wantErr error // Process.Wait's
	}{
		{
			name: "Signal",
			stop: func(p *manager.Process, _ context.CancelFunc) error { return p.Signal(syscall.SIGTERM) },
		},
		{
			name: "Fork context ends",
			// The worker returned nil and exited 0: it stopped cleanly, so
			// Wait reports success (os/exec would report the cancellation).
			stop: func(_ *manager.Process, cancel context.CancelFunc) error { cancel(); return nil },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := testContext(t)
			m := startManager(t, manager.InProcess())
			started, err := manager.NewEvent(ctx, m)
			require.NoError(t, err)
			told, err := manager.NewValue(ctx, m, false)
			require.NoError(t, err)
			forkCtx, cancel := context.WithCancel(ctx)
			defer cancel()
			p, err := m.Fork(forkCtx, "faults.cause", started, told)
			require.NoError(t, err)
			require.NoError(t, started.Wait(ctx))

			require.NoError(t, tt.stop(p, cancel))
			requireErrorIsOrNil(t, tt.wantErr, waitDone(ctx, p))
			got, err := told.Load(ctx)
			require.NoError(t, err)
			assert.True(t, got, "context.Cause(ctx) is ErrWorkerTerminated")
		})
	}
}

// TestForkOnDeadClient forks through a client that can no longer make
// calls: Fork says why at once, instead of starting a worker that cannot
// connect.
func TestForkOnDeadClient(t *testing.T) {
	tests := []struct {
		name string
		// kill makes m, or a client of it, unusable, and returns it.
		kill func(ctx context.Context, t *testing.T, m *manager.Manager) *manager.Client
		want error
	}{
		{
			name: "client closed",
			kill: func(ctx context.Context, t *testing.T, m *manager.Manager) *manager.Client {
				c, err := manager.Connect(ctx, m.Addr().Network(), m.Addr().String(), m.AuthKey())
				require.NoError(t, err)
				require.NoError(t, c.Close())
				return c
			},
			want: manager.ErrClosed,
		},
		{
			name: "manager shut down",
			kill: func(ctx context.Context, t *testing.T, m *manager.Manager) *manager.Client {
				require.NoError(t, m.Shutdown(ctx))
				return m.Client
			},
			want: manager.ErrClosed,
		},
		{
			name: "manager killed",
			kill: func(ctx context.Context, t *testing.T, m *manager.Manager) *manager.Client {
				require.NoError(t, syscall.Kill(m.Pid(), syscall.SIGKILL))
				select {
				case <-m.Done():
				case <-ctx.Done():
					require.FailNow(t, "the manager's death went unnoticed")
				}
				return m.Client
			},
			want: manager.ErrManagerGone,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := testContext(t)
			m := startManager(t)
			c := tt.kill(ctx, t, m)
			p, err := c.Fork(ctx, "faults.cause")
			assert.ErrorIs(t, err, tt.want)
			assert.Nil(t, p, "no worker started")
		})
	}
}
