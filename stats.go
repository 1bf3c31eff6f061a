package manager

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
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
	Limit      int64 // the soft memory limit (GOMEMLIMIT, WithMemoryLimit); math.MaxInt64: none
	GCPercent  int   // the GC target percentage (GOGC, WithGCPercent); -1: off
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

// ObjectInfo describes one live object in the manager, as
// [Client.Objects] and [Client.Inspect] return it. The fields after Refs
// are filled (Inspected) for the types whose state says who holds and
// who waits: Lock, RLock, Semaphore, BoundedSemaphore, Queue,
// JoinableQueue and Barrier.
type ObjectInfo struct {
	ID        uint64
	Name      string // empty for an unnamed object
	Type      string // the typeid: "Lock", "Queue", a registered type's
	Refs      int    // references held by sessions and containers
	Inspected bool
	Len       int      // a queue's items; a semaphore's free permits
	Parties   int      // a barrier's parties
	Holders   []Holder // a lock's holder; a semaphore's permit holders
	Waiters   []Party  // blocked Acquires; a barrier's waiting parties
	Getters   []Party  // a queue's blocked Gets
	Putters   []Party  // a queue's blocked Puts
	Unacked   []Holder // a JoinableQueue's items got and not yet acknowledged (TaskDone)
}

// Party is a client session taking part in an object, and its process.
type Party struct {
	Session string // the session's id, as in SessionStats
	Pid     int
	Host    string
}

// Holder is a session holding Count lock levels, permits or items; a
// lock's holder has held it for HeldFor. On a RedisSession, a lock's
// holder also carries its fencing token (see Lock.Token); a manager
// leaves Token zero.
type Holder struct {
	Party
	Count   int
	HeldFor time.Duration
	Token   uint64
}

// Objects returns every live object of the manager, in creation order,
// with who holds and who waits for the locks, queues and barriers among
// them: read-only, for debugging a program that hangs ("who holds that
// lock?"). It is safe for concurrent use; its cost grows with the
// number of objects.
func (c *Client) Objects(ctx context.Context) ([]ObjectInfo, error) {
	var objs []ObjectInfo
	err := c.call(ctx, 0, 0, "objects", &objs)
	return objs, err
}

// Inspect returns the object named name (see Open), as Objects does. An
// unknown name gives an error satisfying errors.Is(err, ErrNoSuchObject).
func (c *Client) Inspect(ctx context.Context, name string) (ObjectInfo, error) {
	var info ObjectInfo
	err := c.call(ctx, 0, 0, "inspect", &info, name)
	return info, err
}

// Objects is Client.Objects through the manager's own session.
func (m *Manager) Objects(ctx context.Context) ([]ObjectInfo, error) {
	return m.session().Objects(ctx)
}

// Inspect is Client.Inspect through the manager's own session.
func (m *Manager) Inspect(ctx context.Context, name string) (ObjectInfo, error) {
	return m.session().Inspect(ctx, name)
}

// WithInfoFile makes Start write the manager's address and key to the
// file at path (mode 0600, replaced if it exists), so that managerctl
// -info-file path, or ReadInfoFile and Connect, reach the manager from
// an unrelated process without copying the key by hand. The file holds
// a secret: put it where only its user can read it. By default no file
// is written.
func WithInfoFile(path string) StartOption {
	return startOption(func(o *options) { o.infoFile = path })
}

// InfoFile is what a file written by WithInfoFile holds: what Connect
// needs.
type InfoFile struct {
	Network string // "unix" or "tcp"
	Addr    string
	Key     []byte
	Pid     int // the manager process's pid
}

// infoFileJSON is InfoFile as stored: the key in hex.
type infoFileJSON struct {
	Network string `json:"network"`
	Addr    string `json:"addr"`
	Key     string `json:"key"`
	Pid     int    `json:"pid"`
}

// writeInfoFile writes m's address and key to path, mode 0600, through a
// temporary file so that a reader never sees half of it.
func writeInfoFile(path string, m *Manager) error {
	a := m.Addr()
	b, err := json.Marshal(infoFileJSON{Network: a.Network(), Addr: a.String(), Key: hex.EncodeToString(m.AuthKey()), Pid: m.Pid()})
	if err != nil {
		return fmt.Errorf("manager: write info file: %w", err)
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".manager-info-*")
	if err != nil {
		return fmt.Errorf("manager: write info file: %w", err)
	}
	defer os.Remove(f.Name()) // after the rename, a no-op
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("manager: write info file: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("manager: write info file: %w", err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("manager: write info file: %w", err)
	}
	return nil
}

// ReadInfoFile reads a file written by WithInfoFile.
func ReadInfoFile(path string) (InfoFile, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return InfoFile{}, fmt.Errorf("manager: read info file: %w", err)
	}
	var j infoFileJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return InfoFile{}, fmt.Errorf("manager: read info file %s: %w", path, err)
	}
	key, err := hex.DecodeString(j.Key)
	if err != nil {
		return InfoFile{}, fmt.Errorf("manager: read info file %s: the key is not hex: %w", path, err)
	}
	return InfoFile{Network: j.Network, Addr: j.Addr, Key: key, Pid: j.Pid}, nil
}
