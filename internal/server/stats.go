package server

import (
	"bytes"
	"cmp"
	"fmt"
	"os"
	"runtime"
	"runtime/metrics"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/goproc/manager/internal/builtin"
	"github.com/goproc/manager/internal/callctx"
	"github.com/goproc/manager/internal/errs"
)

// Statistics. Counting must cost nothing measurable per call, so every
// counter is an atomic add on memory the call touches anyway: a
// connection's own counters (one reader at a time writes them) and its
// method's. They are summed only when someone asks, by Stats.

// callCounter counts the calls of one method (or control operation) and
// how many of them failed. Method counters live in the type registry,
// which is per process: they count the calls of every Server of the
// process (one, in a manager process).
//
// Each is its own allocation, padded to a cache line, so that counting
// from several cores does not invalidate the method table they read.
type callCounter struct {
	calls  atomic.Uint64
	errors atomic.Uint64
	_      [48]byte
}

// connCounters are one connection's counters.
type connCounters struct {
	calls    atomic.Uint64
	errors   atomic.Uint64
	inFlight atomic.Int64
	blocked  atomic.Int64 // calls that waited and have no result yet
	bytesIn  atomic.Uint64
	bytesOut atomic.Uint64
}

// counts reads the connection's counters.
func (k *connCounters) counts() Counts {
	return Counts{
		InFlight: k.inFlight.Load(), Blocked: int(k.blocked.Load()),
		Calls: k.calls.Load(), Errors: k.errors.Load(),
		BytesIn: k.bytesIn.Load(), BytesOut: k.bytesOut.Load(),
	}
}

// controlCounters count the control operations, by name; built once, as
// controlOps is.
// (An init function: a variable initialised from controlOps would form
// an initialisation cycle through opStats.)
var controlCounters map[string]*callCounter

func init() {
	controlCounters = make(map[string]*callCounter, len(controlOps))
	for name := range controlOps {
		controlCounters[name] = new(callCounter)
	}
}

// sessionInfo is what a session told about its process (the "hello"
// control operation).
type sessionInfo struct {
	Pid  int
	Host string
}

// Stats is a snapshot of a server's state and counters. Its msgpack
// encoding (field names as keys) is what the "stats" control operation
// returns; the root package's Stats has the same fields.
type Stats struct {
	Uptime        time.Duration
	ManagerPid    int
	Sessions      []SessionStats
	Objects       int
	ObjectsByType map[string]int
	Named         map[string]string // name → typeid
	Methods       map[string]MethodStats
	Counts        // of every session, and of connections closed
	Memory        MemoryStats
}

// Counts are the call counters of a session, or of the whole server.
// Embedded, they encode as fields of the struct that embeds them.
type Counts struct {
	InFlight int64 // calls executing or blocked now
	Blocked  int   // calls waiting now
	Calls    uint64
	Errors   uint64
	BytesIn  uint64
	BytesOut uint64
}

// add adds o to c.
func (c *Counts) add(o Counts) {
	c.InFlight += o.InFlight
	c.Blocked += o.Blocked
	c.Calls += o.Calls
	c.Errors += o.Errors
	c.BytesIn += o.BytesIn
	c.BytesOut += o.BytesOut
}

// SessionStats describes one client session (one process's client).
type SessionStats struct {
	ID          string
	Pid         int
	Host        string
	Connections int
	Objects     int // objects it holds references to
	Counts          // of its open connections
}

// MethodStats counts the calls of one method.
type MethodStats struct {
	Calls  uint64
	Errors uint64
}

// MemoryStats is the manager process's memory.
type MemoryStats struct {
	RSS        uint64 // resident set size, from /proc (0 where unknown)
	HeapAlloc  uint64
	HeapInuse  uint64
	Sys        uint64
	NumGC      uint32
	Goroutines int
	Limit      int64 // the soft memory limit (GOMEMLIMIT); math.MaxInt64: none
	GCPercent  int   // the GC target percentage (GOGC); -1: off
}

// Stats returns a snapshot of the server's state and counters. It reads
// runtime.MemStats, which stops the world briefly: call it for
// monitoring, not per request.
func (s *Server) Stats() Stats {
	st := Stats{
		Uptime:     time.Since(s.started),
		ManagerPid: os.Getpid(),
		Methods:    map[string]MethodStats{},
	}
	byID := map[callctx.SessionID]*SessionStats{}
	s.mu.Lock()
	st.Calls, st.Errors = s.closedTotals.calls, s.closedTotals.errors
	st.BytesIn, st.BytesOut = s.closedTotals.bytesIn, s.closedTotals.bytesOut
	for c := range s.conns {
		ss := byID[c.session]
		if ss == nil {
			info := s.sessionInfo[c.session]
			ss = &SessionStats{ID: c.session.String(), Pid: info.Pid, Host: info.Host}
			byID[c.session] = ss
		}
		k := c.stats.counts()
		ss.Connections++
		ss.add(k)
		st.add(k)
	}
	s.mu.Unlock()

	refs, byType, named, n := s.objects.census()
	st.Objects, st.ObjectsByType, st.Named = n, byType, named
	for id, ss := range byID {
		ss.Objects = refs[id]
		st.Sessions = append(st.Sessions, *ss)
	}
	sortSessions(st.Sessions)

	registry.mu.RLock()
	for _, t := range registry.types {
		for _, mi := range t.methods {
			if c := mi.counter.calls.Load(); c > 0 {
				st.Methods[t.id+"."+mi.name] = MethodStats{Calls: c, Errors: mi.counter.errors.Load()}
			}
		}
	}
	registry.mu.RUnlock()
	for name, k := range controlCounters {
		if c := k.calls.Load(); c > 0 {
			st.Methods["manager."+name] = MethodStats{Calls: c, Errors: k.errors.Load()}
		}
	}

	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	st.Memory = MemoryStats{RSS: rss(), HeapAlloc: ms.HeapAlloc, HeapInuse: ms.HeapInuse, Sys: ms.Sys, NumGC: ms.NumGC, Goroutines: runtime.NumGoroutine()}
	gc := []metrics.Sample{{Name: "/gc/gomemlimit:bytes"}, {Name: "/gc/gogc:percent"}}
	metrics.Read(gc)
	// Both are signed settings reported as uint64 (GOGC=off is -1).
	st.Memory.Limit, st.Memory.GCPercent = int64(gc[0].Value.Uint64()), int(int64(gc[1].Value.Uint64()))
	return st
}

// sortSessions orders sessions by pid, then id, for stable output.
func sortSessions(ss []SessionStats) {
	for i := 1; i < len(ss); i++ {
		for j := i; j > 0 && lessSession(&ss[j], &ss[j-1]); j-- {
			ss[j], ss[j-1] = ss[j-1], ss[j]
		}
	}
}

func lessSession(a, b *SessionStats) bool {
	if a.Pid != b.Pid {
		return a.Pid < b.Pid
	}
	return a.ID < b.ID
}

// countClosed adds a closing connection's counters to the server's
// totals, so that they outlive it. Called with s.mu held.
func (s *Server) countClosed(c *serverConn) {
	t, k := &s.closedTotals, &c.stats
	t.calls += k.calls.Load()
	t.errors += k.errors.Load()
	t.bytesIn += k.bytesIn.Load()
	t.bytesOut += k.bytesOut.Load()
}

// totals are counters of connections that have closed.
type totals struct {
	calls, errors, bytesIn, bytesOut uint64
}

// rss returns the process's resident set size in bytes, read from
// /proc/self/statm (0 where there is no /proc).
func rss() uint64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := bytes.Fields(b)
	if len(f) < 2 {
		return 0
	}
	pages, err := strconv.ParseUint(string(f[1]), 10, 64)
	if err != nil {
		return 0
	}
	return pages * uint64(os.Getpagesize())
}

// opHello ["hello", pid, host] records who the calling session is: its
// process's pid and host name, shown by Stats and the introspection
// operations. The client sends it once, when it connects.
func opHello(s *Server, _ *callContext, c *serverConn, a *controlArgs) (*result, error) {
	if a.n != 2 {
		return nil, errBadArgs(a.op, "takes 2 arguments")
	}
	pid, err := a.dec.DecodeInt()
	if err != nil {
		return nil, errBadArgs(a.op, err.Error())
	}
	a.n--
	host, err := a.str()
	if err != nil {
		return nil, err
	}
	if len(host) > 255 {
		host = host[:255] // a hostile peer cannot grow the server's memory
	}
	s.mu.Lock()
	if _, ok := s.sessions[c.session]; ok {
		s.sessionInfo[c.session] = sessionInfo{Pid: pid, Host: host}
	}
	s.mu.Unlock()
	return nil, nil
}

// errBadArgs is the error of a control operation op's bad arguments.
func errBadArgs(op, why string) error {
	return fmt.Errorf("%w: %s: %s", errs.BadArguments, op, why)
}

// opStats ["stats"] returns the server's Stats.
func opStats(s *Server, _ *callContext, _ *serverConn, _ *controlArgs) (*result, error) {
	return &result{plain: s.Stats()}, nil
}

// census counts, under one read lock, the objects each session holds
// references to, the objects of each type, and the named objects with
// their types; n is the number of objects.
func (t *objectTable) census() (refs map[callctx.SessionID]int, byType map[string]int, named map[string]string, n int) {
	refs, byType, named = map[callctx.SessionID]int{}, map[string]int{}, map[string]string{}
	t.mu.RLock()
	defer t.mu.RUnlock()
	for _, o := range t.byID {
		byType[o.typ.id]++
		if o.name != "" {
			named[o.name] = o.typ.id
		}
		for own := range o.refs {
			if own.object == 0 {
				refs[own.session]++
			}
		}
	}
	return refs, byType, named, len(t.byID)
}

// Introspection: read-only views of the objects, for managerctl and
// Client.Objects/Inspect. Every control operation requires the key, as
// every connection does.

// inspector is implemented, server-only, by the built-in types that can
// say who holds and who waits (see builtin.Inspection).
type inspector interface {
	Inspect() builtin.Inspection
}

// ObjectInfo describes one live object; the fields after Refs are set
// for the types that implement an Inspect method (Inspected).
type ObjectInfo struct {
	ID        uint64
	Name      string // empty for an unnamed object
	Type      string
	Refs      int // references held by sessions and containers
	Inspected bool
	Len       int      // a queue's items; a semaphore's free permits
	Parties   int      // a barrier's parties
	Holders   []Holder // a lock's holder; a semaphore's permit holders
	Waiters   []Party  // blocked Acquires; a barrier's waiting parties
	Getters   []Party  // a queue's blocked Gets
	Putters   []Party  // a queue's blocked Puts
	Unacked   []Holder // a JoinableQueue's items got and not acknowledged
}

// Party is a session taking part in an object: its id and process.
type Party struct {
	Session string
	Pid     int
	Host    string
}

// Holder is a session holding Count levels, permits or items, for
// HeldFor (a lock's).
type Holder struct {
	Party
	Count   int
	HeldFor time.Duration
}

// Objects returns every live object, in id order, inspected.
func (s *Server) Objects() []ObjectInfo {
	type entry struct {
		o    *object
		name string
		refs int
	}
	t := s.objects
	t.mu.RLock()
	list := make([]entry, 0, len(t.byID))
	for _, o := range t.byID {
		n := 0
		for _, r := range o.refs {
			n += r
		}
		list = append(list, entry{o, o.name, n})
	}
	t.mu.RUnlock()
	slices.SortFunc(list, func(a, b entry) int { return cmp.Compare(a.o.id, b.o.id) })
	infos := make([]ObjectInfo, len(list))
	for i, e := range list {
		infos[i] = s.inspect(e.o, e.name, e.refs)
	}
	return infos
}

// Inspect returns the named object's description, or errs.NoSuchObject.
func (s *Server) Inspect(name string) (ObjectInfo, error) {
	t := s.objects
	t.mu.RLock()
	o := t.byName[name]
	n := 0
	if o != nil {
		for _, r := range o.refs {
			n += r
		}
	}
	t.mu.RUnlock()
	if o == nil {
		return ObjectInfo{}, fmt.Errorf("%w: no object is named %q", errs.NoSuchObject, name)
	}
	return s.inspect(o, name, n), nil
}

// inspect describes o, calling its Inspect method, outside the table's
// lock, when it has one.
func (s *Server) inspect(o *object, name string, refs int) ObjectInfo {
	info := ObjectInfo{ID: o.id, Name: name, Type: o.typ.id, Refs: refs}
	in, ok := o.val.(inspector)
	if !ok {
		return info
	}
	v := in.Inspect()
	s.mu.Lock()
	defer s.mu.Unlock()
	party := func(id callctx.SessionID) Party {
		si := s.sessionInfo[id]
		return Party{Session: id.String(), Pid: si.Pid, Host: si.Host}
	}
	parties := func(ids []callctx.SessionID) []Party {
		var ps []Party
		for _, id := range ids {
			ps = append(ps, party(id))
		}
		return ps
	}
	holders := func(hs []builtin.Holding) []Holder {
		var out []Holder
		for _, h := range hs {
			var d time.Duration
			if !h.Since.IsZero() {
				d = time.Since(h.Since)
			}
			out = append(out, Holder{Party: party(h.Session), Count: h.Count, HeldFor: d})
		}
		return out
	}
	info.Inspected = true
	info.Len, info.Parties = v.Len, v.Parties
	info.Holders, info.Unacked = holders(v.Holders), holders(v.Unacked)
	info.Waiters, info.Getters, info.Putters = parties(v.Waiters), parties(v.Getters), parties(v.Putters)
	return info
}

// opObjects ["objects"] returns every live object, inspected.
func opObjects(s *Server, _ *callContext, _ *serverConn, _ *controlArgs) (*result, error) {
	return &result{plain: s.Objects()}, nil
}

// opInspect ["inspect", name] returns the named object, inspected.
func opInspect(s *Server, _ *callContext, _ *serverConn, a *controlArgs) (*result, error) {
	name, err := a.str()
	if err != nil {
		return nil, err
	}
	info, err := s.Inspect(name)
	if err != nil {
		return nil, err
	}
	return &result{plain: info}, nil
}
