package manager_test

// Helpers of the process tests here. waitUntil, waitDone, checkNoFDLeak
// and requireErrorIsOrNil are copies of the system suites'
// (systest/faults_helpers_test.go): a test package cannot import another's.

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/goproc/manager"
)

// Slow is the part of systest's Slow that the fork-cause tests use: Hold
// is a call blocked in the manager.
type Slow struct {
	holding atomic.Int64
}

// Hold blocks until its caller gives up: a call blocked in the manager.
func (s *Slow) Hold(ctx context.Context) error {
	s.holding.Add(1)
	defer s.holding.Add(-1)
	<-ctx.Done()
	return ctx.Err()
}

// Holding returns the number of Hold calls waiting now.
func (s *Slow) Holding() int64 { return s.holding.Load() }

func init() {
	manager.Register[*Slow]("FaultsSlow", func() *Slow { return &Slow{} }, manager.ConcurrentSafe())
}

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

// checkNoFDLeak fails the test if, once it and its cleanups are over, this
// process has more open descriptors than when checkNoFDLeak was called.
// Call it first in a test, so that its check runs after every cleanup
// registered later (a manager's Shutdown among them).
func checkNoFDLeak(t testing.TB) {
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

// waitUntil polls cond every millisecond until it holds, and fails the
// test if it does not within d.
func waitUntil(t testing.TB, d time.Duration, what string, cond func() bool) {
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

// processGone reports whether pid names no live process (a zombie counts
// as gone: it has exited and only waits to be reaped).
func processGone(pid int) bool {
	if err := syscall.Kill(pid, 0); err != nil {
		return true
	}
	return !processAlive(pid)
}

// timeUntilGone waits (up to limit) for pid to exit and returns how long
// that took from start, and whether it did.
func timeUntilGone(pid int, start time.Time, limit time.Duration) (time.Duration, bool) {
	tick := time.NewTicker(100 * time.Microsecond)
	defer tick.Stop()
	for !processGone(pid) {
		if time.Since(start) > limit {
			return time.Since(start), false
		}
		<-tick.C
	}
	return time.Since(start), true
}

// waitDone waits for p to exit within ctx, killing it if ctx ends first,
// and returns how it ended (as Process.Wait).
func waitDone(ctx context.Context, p *manager.Process) error {
	select {
	case <-p.Done():
	case <-ctx.Done():
		p.Signal(syscall.SIGKILL)
		<-p.Done()
	}
	return p.Wait()
}

// requireErrorIsOrNil requires err to match want, or to be nil when want
// is nil.
func requireErrorIsOrNil(t testing.TB, want, err error) {
	t.Helper()
	if want == nil {
		require.NoError(t, err)
		return
	}
	require.ErrorIs(t, err, want)
}
