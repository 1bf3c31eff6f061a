package manager

import (
	"sync/atomic"
	"time"
)

// PoolStats describes a client's connections to its manager, like
// go-redis's PoolStats or database/sql's DBStats: returned by
// [Client.PoolStats]. Counters (Dials … SharedCalls) count from Connect;
// the rest is the state at the time of the call.
//
// A lone caller takes an idle connection, or dials one, and has it to
// itself for its round trip. Calls made while other calls are in flight
// share one multiplexed connection instead of each dialing its own.
type PoolStats struct {
	Open   int // connections open: idle, in use and the multiplexed one (not the session's watch connection)
	Idle   int // connections waiting in the pool for a call
	InUse  int // connections held by one call, a Batch, or a withdrawn call awaiting its reply
	Shared int // 1 while the multiplexed connection is open, else 0

	InFlight int64 // requests sent on the multiplexed connection and not answered yet

	Dials        uint64        // connections dialed, the watch connection included
	DialErrors   uint64        // dials that failed (the manager unreachable, no descriptors left…)
	Waits        uint64        // calls that found no connection free and waited for one to be dialed
	WaitDuration time.Duration // the total time calls spent in those waits
	SharedCalls  uint64        // calls sent on the multiplexed connection
}

// poolCounters are a client's connection counters: atomics, so that
// counting costs a call no lock.
type poolCounters struct {
	dials, dialErrors, waits, sharedCalls atomic.Uint64
	waitNanos                             atomic.Int64
}

// PoolStats returns a snapshot of the client's connections and their
// counters. It is safe for concurrent use and does not block on calls in
// flight; a nil *Client's is the zero PoolStats.
func (c *Client) PoolStats() PoolStats {
	if c == nil {
		return PoolStats{}
	}
	var s PoolStats
	c.mu.Lock()
	s.Open, s.Idle = len(c.conns), len(c.idle)
	if c.anchor != nil && c.err == nil {
		s.Open-- // the watch connection, in conns until the client ends
	}
	c.mu.Unlock()
	if m := c.shared.current(); m != nil {
		s.Shared = 1
		s.InFlight = m.inflight.Load()
	}
	s.InUse = max(s.Open-s.Idle-s.Shared, 0)
	p := &c.pool
	s.Dials, s.DialErrors = p.dials.Load(), p.dialErrors.Load()
	s.Waits, s.WaitDuration = p.waits.Load(), time.Duration(p.waitNanos.Load())
	s.SharedCalls = p.sharedCalls.Load()
	return s
}
