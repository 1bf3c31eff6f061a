package manager

import (
	"context"
	"os"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

// Stats is a snapshot of a manager's state and counters, like Redis's
// INFO or database/sql's DBStats: returned by [Client.Stats] and
// [Server.Stats]. Counters (calls, errors, bytes) count from the start
// of the manager; the rest is the state at the time of the call.
type Stats struct {
	Uptime        time.Duration          // since the server was made
	ManagerPid    int                    // the manager process's pid
	Sessions      []SessionStats         // the client sessions connected now, by pid
	Objects       int                    // live shared objects
	ObjectsByType map[string]int         // typeid → live objects of that type
	Named         map[string]string      // name → typeid of each named object (Open)
	Methods       map[string]MethodStats // "typeid.Method" (control operations: "manager.op") → calls
	Calls         uint64                 // calls served
	Errors        uint64                 // calls that failed
	InFlight      int64                  // calls executing or blocked now
	Blocked       int                    // calls waiting now (a Get on an empty Queue, an Acquire)
	BytesIn       uint64                 // bytes read from clients, frames whole
	BytesOut      uint64                 // bytes sent to clients
	Memory        MemoryStats            // the manager process's memory
}

// SessionStats describes one client session: one process's [Client]
// (a [Manager] is one too), across all its connections.
type SessionStats struct {
	ID          string // the session's random id, in hex
	Pid         int    // the client process's pid (0: it did not say)
	Host        string // the client process's host name
	Connections int    // connections open now
	Objects     int    // objects it holds references to
	InFlight    int64  // its calls executing or blocked now
	Blocked     int    // its calls waiting now
	Calls       uint64 // calls served on its open connections
	Errors      uint64 // of which failed
	BytesIn     uint64
	BytesOut    uint64
}

// MethodStats counts the calls of one method.
type MethodStats struct {
	Calls  uint64
	Errors uint64 // calls that failed, for whatever reason
}

// MemoryStats is the manager process's memory, from runtime.MemStats and
// /proc/self/statm.
type MemoryStats struct {
	RSS        uint64 // resident set size in bytes (0 where there is no /proc)
	HeapAlloc  uint64
	HeapInuse  uint64
	Sys        uint64
	NumGC      uint32
	Goroutines int
}

// Stats returns a snapshot of the manager's state and counters. It is
// safe for concurrent use and does not block on other calls; the
// manager reads runtime.MemStats for it, which pauses it briefly, so
// call it for monitoring (every second is fine), not per request.
//
// Counts per method are kept per manager process; a program that runs
// several InProcess servers sees their sum.
func (c *Client) Stats(ctx context.Context) (Stats, error) {
	var st Stats
	err := c.call(ctx, 0, 0, "stats", &st)
	return st, err
}

// Stats is Client.Stats through the manager's own session.
func (m *Manager) Stats(ctx context.Context) (Stats, error) {
	return m.session().Stats(ctx)
}

// Stats returns a snapshot of the server's state and counters; see
// [Client.Stats]. It is safe for concurrent use.
func (s *Server) Stats() Stats {
	// The engine's Stats has the same fields under the same names: its
	// msgpack encoding is what Client.Stats decodes, so converting through
	// it keeps the two from drifting apart.
	b, err := msgpack.Marshal(s.engine.Stats())
	if err != nil {
		panic("manager: encode stats: " + err.Error()) // plain fields: cannot happen
	}
	var st Stats
	if err := msgpack.Unmarshal(b, &st); err != nil {
		panic("manager: decode stats: " + err.Error())
	}
	return st
}

// hello tells the manager this session's process, for Stats and the
// introspection operations: one call when the client connects.
func (c *Client) hello(ctx context.Context) error {
	host, _ := os.Hostname()
	return c.call(ctx, 0, 0, "hello", nil, os.Getpid(), host)
}
