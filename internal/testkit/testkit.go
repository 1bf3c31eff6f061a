// Package testkit holds the test helpers and the small shared types that
// both the root package's tests and the system suites (systest) use. A
// test package cannot import another's, so they live here, in non-test
// files that only tests import. Each test package still registers the
// types it uses under the names it chooses (in its init, so that parent
// and children share the registry).
package testkit

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/goproc/manager"
)

// Timeout bounds every test: a bug fails it instead of hanging CI.
const Timeout = 30 * time.Second

// Context returns a context that ends with the test or after Timeout.
func Context(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	t.Cleanup(cancel)
	return ctx
}

// StartManager starts a manager process (or an in-process one with
// manager.InProcess()) and shuts it down when the test ends.
func StartManager(t testing.TB, opts ...manager.StartOption) *manager.Manager {
	t.Helper()
	ctx := Context(t)
	m, err := manager.Start(ctx, opts...)
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		require.NoError(t, m.Shutdown(ctx))
	})
	return m
}

// WaitProcess waits for p within ctx; a process still running when ctx
// ends is killed, and the error says it did not exit in time.
func WaitProcess(ctx context.Context, t testing.TB, p *manager.Process) error {
	t.Helper()
	select {
	case <-p.Done():
		return p.Wait()
	case <-ctx.Done():
		p.Signal(syscall.SIGKILL)
		<-p.Done()
		return errors.New("worker did not exit in time")
	}
}

// WaitDone waits for p to exit within ctx, killing it if ctx ends first,
// and returns how it ended (as Process.Wait).
func WaitDone(ctx context.Context, p *manager.Process) error {
	select {
	case <-p.Done():
	case <-ctx.Done():
		p.Signal(syscall.SIGKILL)
		<-p.Done()
	}
	return p.Wait()
}

// ManagerModes are the two ways to run a manager; tests of behaviour
// that must hold for both run once per mode.
var ManagerModes = []struct {
	Name string
	Opts []manager.StartOption
}{
	{"process", nil},
	{"in-process", []manager.StartOption{manager.InProcess()}},
}

// ForkReportingPid forks worker with a new object of the type registered
// as "Counter" (a Counter), to which the worker adds the pid of a
// process it starts, and waits for that pid.
func ForkReportingPid(ctx context.Context, t testing.TB, m *manager.Manager, worker string) (*manager.Process, int64) {
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

// Counter is the custom type most tests share.
type Counter struct {
	mu sync.Mutex
	n  int64
}

// Add adds d and returns the new count.
func (c *Counter) Add(d int64) int64 { c.mu.Lock(); defer c.mu.Unlock(); c.n += d; return c.n }

// Get returns the count.
func (c *Counter) Get() int64 { c.mu.Lock(); defer c.mu.Unlock(); return c.n }

// Gate blocks callers of Wait until Open is called.
type Gate struct {
	once sync.Once
	ch   chan struct{}
}

// NewGate returns a closed gate.
func NewGate() *Gate { return &Gate{ch: make(chan struct{})} }

// Open lets every Wait, now and later, return.
func (g *Gate) Open() { g.once.Do(func() { close(g.ch) }) }

// Wait blocks until Open or ctx's end.
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

// Panic panics.
func (Faulty) Panic() { panic("boom") }

// Fail returns a plain error.
func (Faulty) Fail() error { return errors.New("plain failure") }

// Empty returns one of the library's sentinels.
func (Faulty) Empty() error { return manager.ErrEmpty }

// Echo returns s.
func (Faulty) Echo(s string) string { return s }

// Sum returns a+b and no error.
func (Faulty) Sum(a, b int) (int, error) { return a + b, nil }

// fdWarmUp makes the runtime open the descriptors it keeps for good (the
// network poller's), so that they are not counted as a test's leak.
func fdWarmUp(t testing.TB) {
	t.Helper()
	r, w, err := os.Pipe()
	require.NoError(t, err)
	r.Close()
	w.Close()
}

// openFDs returns this process's open descriptors and what each names.
func openFDs(t testing.TB) map[int]string {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	require.NoError(t, err)
	fds := map[int]string{}
	for _, e := range entries {
		fd, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		target, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name()))
		if err != nil {
			continue // the descriptor ReadDir itself used, now closed
		}
		fds[fd] = target
	}
	return fds
}

// CheckNoFDLeak fails the test if, once it and its cleanups are over,
// this process has more open descriptors than when CheckNoFDLeak was
// called. Call it first in a test, so that its check runs after every
// cleanup registered later (a manager's Shutdown among them).
func CheckNoFDLeak(t testing.TB) {
	t.Helper()
	fdWarmUp(t)
	before := openFDs(t)
	t.Cleanup(func() {
		// A worker's pipes are closed by the goroutine that reaps it,
		// just after the process exits: give them a moment.
		var after map[int]string
		deadline := time.Now().Add(5 * time.Second)
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			after = openFDs(t)
			if len(after) <= len(before) || time.Now().After(deadline) {
				break
			}
			<-tick.C
		}
		var leaked []string
		for fd, target := range after {
			if before[fd] != target {
				leaked = append(leaked, fmt.Sprintf("%d→%s", fd, target))
			}
		}
		slices.Sort(leaked)
		if len(after) > len(before) {
			t.Errorf("descriptor leak: %d open before the test, %d after; new: %v", len(before), len(after), leaked)
		}
	})
}

// WaitUntil polls cond every millisecond until it holds, and fails the
// test if it does not within d.
func WaitUntil(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			require.FailNowf(t, "timed out", "after %v: %s", d, what)
		}
		<-tick.C
	}
}

// RequireErrorIsOrNil requires err to match want, or to be nil when want
// is nil.
func RequireErrorIsOrNil(t testing.TB, want, err error) {
	t.Helper()
	if want == nil {
		require.NoError(t, err)
		return
	}
	require.ErrorIs(t, err, want)
}

// Stop SIGSTOPs process pid (a child of this process: a manager, a
// redis-server) and waits until every thread of it has stopped; the
// returned func, also run at Cleanup so that it never stays stopped,
// SIGCONTs it. A stopped peer is the hostile case of a frozen one: it
// accepts bytes on its sockets and never answers.
func Stop(t testing.TB, pid int) (resume func()) {
	t.Helper()
	require.NoError(t, syscall.Kill(pid, syscall.SIGSTOP))
	// The stop is asynchronous: wait for it, leaving the event for the
	// child's real waiter (WNOWAIT).
	var info unix.Siginfo
	require.NoError(t, unix.Waitid(unix.P_PID, pid, &info, unix.WSTOPPED|unix.WNOWAIT, nil))
	var once sync.Once
	resume = func() { once.Do(func() { require.NoError(t, syscall.Kill(pid, syscall.SIGCONT)) }) }
	t.Cleanup(resume)
	return resume
}
