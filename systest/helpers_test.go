package systest

// Copies of the root package's test helpers (helpers_test.go, core_test.go):
// a test package cannot import another's.

import (
	"context"
	"errors"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/goproc/manager"
)

var killSignal = syscall.SIGKILL

// testTimeout bounds every test: a bug fails it instead of hanging CI.
const testTimeout = 30 * time.Second

// testContext returns a context that ends with the test or after
// testTimeout.
func testContext(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

// startManager starts a manager process (or an in-process one with
// manager.InProcess()) and shuts it down when the test ends.
func startManager(t testing.TB, opts ...manager.StartOption) *manager.Manager {
	t.Helper()
	ctx := testContext(t)
	m, err := manager.Start(ctx, opts...)
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		require.NoError(t, m.Shutdown(ctx))
	})
	return m
}

// waitProcess waits for p within ctx.
func waitProcess(ctx context.Context, t testing.TB, p *manager.Process) error {
	t.Helper()
	select {
	case <-p.Done():
		return p.Wait()
	case <-ctx.Done():
		p.Signal(killSignal)
		<-p.Done()
		return errors.New("worker did not exit in time")
	}
}

// Counter is the custom type most tests share.
type Counter struct {
	mu sync.Mutex
	n  int64
}

func (c *Counter) Add(d int64) int64 { c.mu.Lock(); defer c.mu.Unlock(); c.n += d; return c.n }
func (c *Counter) Get() int64        { c.mu.Lock(); defer c.mu.Unlock(); return c.n }

// managerModes are the two ways to run a manager; tests of behaviour that
// must hold for both run once per mode.
var managerModes = []struct {
	name string
	opts []manager.StartOption
}{
	{"process", nil},
	{"in-process", []manager.StartOption{manager.InProcess()}},
}

// forkReportingPid forks worker with a Counter to which it adds the pid of
// a process it starts, and waits for that pid.
func forkReportingPid(ctx context.Context, t testing.TB, m *manager.Manager, worker string) (*manager.Process, int64) {
	t.Helper()
	report, err := manager.New(ctx, m, "Counter")
	require.NoError(t, err)
	w, err := m.Fork(ctx, worker, report)
	require.NoError(t, err)
	var pid int64
	require.Eventually(t, func() bool {
		pid, err = manager.Call[int64](ctx, report, "Get")
		return err == nil && pid != 0
	}, 10*time.Second, time.Millisecond, "the worker never reported a pid")
	return w, pid
}

// Gate blocks Wait callers until Open.
type Gate struct {
	once sync.Once
	ch   chan struct{}
}

func newGate() *Gate { return &Gate{ch: make(chan struct{})} }

func (g *Gate) Open() { g.once.Do(func() { close(g.ch) }) }

func (g *Gate) Wait(ctx context.Context) error {
	select {
	case <-g.ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Faulty panics or fails on request.
type Faulty struct{}

func (Faulty) Panic()                    { panic("boom") }
func (Faulty) Fail() error               { return errors.New("plain failure") }
func (Faulty) Empty() error              { return manager.ErrEmpty }
func (Faulty) Echo(s string) string      { return s }
func (Faulty) Sum(a, b int) (int, error) { return a + b, nil }
