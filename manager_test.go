package manager_test

import (
	"context"
	"fmt"
	"os"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/goproc/manager"
)

var killSignal = syscall.SIGKILL

func init() {
	manager.Register[*Counter]("Counter", func() *Counter { return &Counter{} })
	manager.RegisterWorker("add", func(ctx context.Context, c *manager.Client, args manager.Args) error {
		var p *manager.Proxy
		var times int
		if err := args.Decode(&p, &times); err != nil {
			return err
		}
		for i := 0; i < times; i++ {
			if _, err := manager.Call[int64](ctx, p, "Add", int64(1)); err != nil {
				return err
			}
		}
		return nil
	})
	manager.RegisterWorker("fail", func(ctx context.Context, c *manager.Client, args manager.Args) error {
		return fmt.Errorf("worker says no")
	})
}

func TestMain(m *testing.M) {
	manager.Init()
	// Under -race every process sleeps 1 s at exit so that late race
	// reports can print; the children we start need not, and the
	// no-orphan tests time how fast they exit.
	if os.Getenv("GORACE") == "" {
		os.Setenv("GORACE", "atexit_sleep_ms=0")
	}
	goleak.VerifyTestMain(m)
}

func TestCounterAcrossProcesses(t *testing.T) {
	ctx := testContext(t)
	m := startManager(t)
	p, err := manager.New(ctx, m, "Counter")
	require.NoError(t, err)
	var procs []*manager.Process
	for i := 0; i < 4; i++ {
		w, err := m.Fork(ctx, "add", p, 25)
		require.NoError(t, err)
		procs = append(procs, w)
	}
	for _, w := range procs {
		require.NoError(t, waitProcess(ctx, t, w))
	}
	n, err := manager.Call[int64](ctx, p, "Get")
	require.NoError(t, err)
	assert.Equal(t, int64(100), n)
	assert.NotEqual(t, os.Getpid(), m.Pid())
}

func TestWorkerError(t *testing.T) {
	ctx := testContext(t)
	m := startManager(t, manager.InProcess())
	w, err := m.Fork(ctx, "fail")
	require.NoError(t, err)
	err = waitProcess(ctx, t, w)
	require.ErrorIs(t, err, manager.ErrProcessExited)
	assert.Contains(t, err.Error(), "worker says no")
}
