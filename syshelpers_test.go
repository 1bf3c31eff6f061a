package manager_test

// Helpers of the process tests here (those shared with the system suites
// are in internal/testkit).

import (
	"context"
	"sync/atomic"
	"syscall"
	"time"

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
