package server

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/vmihailenco/msgpack/v5"
	"github.com/vmihailenco/msgpack/v5/msgpcode"

	"github.com/goproc/manager/internal/callctx"
	"github.com/goproc/manager/internal/errs"
	"github.com/goproc/manager/internal/wire"
)

// A monitor is Redis's MONITOR: a client asks ("monitor") to be told of
// every call, then fetches what happened ("monitor.next", which waits
// until there is something). Nothing is recorded unless a monitor is
// attached, and a monitor never slows the calls it watches: each keeps a
// bounded buffer, and what does not fit is dropped and counted, the
// count reported with the next batch.

// Limits of monitoring: how many monitors a server has at once, how many
// events each holds for its reader, how many one "monitor.next" returns,
// and how long a rendering of a call's arguments may be.
const (
	maxMonitors       = 16
	monitorBuffer     = 4096
	monitorBatch      = 1024
	maxMonitorArgText = 256
)

// MonitorEvent is one call seen by a monitor. Its msgpack encoding (field
// names as keys) is what "monitor.next" returns.
type MonitorEvent struct {
	Time     int64 // when the call began, in Unix nanoseconds
	Session  string
	Pid      int
	Object   uint64
	Type     string // "" for a control operation
	Method   string
	Duration int64  // nanoseconds
	Code     string // the error code (PROTOCOL.md), or "" for success
	Args     string `msgpack:",omitempty"` // a bounded rendering, when asked for
}

// MonitorBatch is the result of "monitor.next": the events since the
// last batch, and how many were dropped because the buffer was full.
type MonitorBatch struct {
	Events  []MonitorEvent
	Dropped uint64
}

// monitorHub holds a server's monitors.
type monitorHub struct {
	mu     sync.Mutex // guards byID and nextID, and serialises writes to subs
	byID   map[uint64]*monitorSub
	nextID uint64
	// subs is the monitors attached (nil: none), read on every call
	// while any is: copied on write.
	subs atomic.Pointer[[]*monitorSub]
}

// monitorSub is one monitor.
type monitorSub struct {
	id      uint64
	session callctx.SessionID
	args    bool
	wake    chan struct{} // buffered 1: "events are waiting"
	stopped chan struct{} // closed when the monitor is detached

	mu      sync.Mutex // guards events and dropped
	events  []MonitorEvent
	dropped uint64
}

// The monitor's control operations are added by an init function: a
// monitor.next waits on its callContext, whose Done refers (through the
// connection's reader) back to controlOps, an initialisation cycle.
func init() {
	for name, op := range map[string]controlOp{"monitor": opMonitor, "monitor.next": opMonitorNext, "monitor.stop": opMonitorStop} {
		controlOps[name] = op
		if controlCounters != nil { // stats.go's init ran first
			controlCounters[name] = new(callCounter)
		}
	}
	for name := range controlOps {
		controlNames[name] = name
	}
}

// active reports whether a monitor is attached.
func (h *monitorHub) active() bool { return h.subs.Load() != nil }

// prepare reports whether the call described by info is to be recorded,
// and renders its arguments if a monitor wants them.
func (h *monitorHub) prepare(info *CallInfo, args []byte) (record bool, text string) {
	subs := h.subs.Load()
	if subs == nil || info.Object == 0 && isMonitorOp(info.Method) {
		return false, "" // a monitor does not watch itself fetch
	}
	for _, m := range *subs {
		if m.args {
			return true, renderArgs(args)
		}
	}
	return true, ""
}

func isMonitorOp(op string) bool {
	return op == "monitor" || op == "monitor.next" || op == "monitor.stop"
}

// record gives every monitor the event of a call that began at start and
// failed with fail (nil: it succeeded).
func (h *monitorHub) record(info *CallInfo, start time.Time, fail *wire.Failure, args string) {
	subs := h.subs.Load()
	if subs == nil {
		return
	}
	ev := MonitorEvent{
		Time: start.UnixNano(), Session: info.SessionText, Pid: info.Pid,
		Object: info.Object, Type: info.TypeID, Method: info.Method,
		Duration: int64(time.Since(start)),
	}
	if fail != nil {
		ev.Code = fail.Code
		if ev.Code == "" {
			ev.Code = "error"
		}
	}
	for _, m := range *subs {
		e := ev
		if m.args {
			e.Args = args
		}
		m.mu.Lock()
		if len(m.events) < monitorBuffer {
			m.events = append(m.events, e)
		} else {
			m.dropped++
		}
		m.mu.Unlock()
		select {
		case m.wake <- struct{}{}:
		default:
		}
	}
}

// attach adds a monitor for session and returns it.
func (s *Server) attachMonitor(session callctx.SessionID, args bool) (*monitorSub, error) {
	h := &s.monitors
	h.mu.Lock()
	if len(h.byID) >= maxMonitors {
		h.mu.Unlock()
		return nil, fmt.Errorf("%w: %d monitors are attached already", errs.Busy, maxMonitors)
	}
	if h.byID == nil {
		h.byID = map[uint64]*monitorSub{}
	}
	h.nextID++
	m := &monitorSub{id: h.nextID, session: session, args: args, wake: make(chan struct{}, 1), stopped: make(chan struct{})}
	h.byID[m.id] = m
	h.publishLocked()
	h.mu.Unlock()
	s.updateObserved()
	return m, nil
}

// detach removes the monitors for which drop is true.
func (s *Server) detachMonitors(drop func(*monitorSub) bool) {
	h := &s.monitors
	h.mu.Lock()
	n := len(h.byID)
	for id, m := range h.byID {
		if drop(m) {
			delete(h.byID, id)
			close(m.stopped) // a waiting "monitor.next" returns
		}
	}
	changed := len(h.byID) != n
	if changed {
		h.publishLocked()
	}
	h.mu.Unlock()
	if changed {
		s.updateObserved()
	}
}

// publishLocked makes subs the monitors in byID; h.mu must be held.
func (h *monitorHub) publishLocked() {
	if len(h.byID) == 0 {
		h.subs.Store(nil)
		return
	}
	subs := make([]*monitorSub, 0, len(h.byID))
	for _, m := range h.byID {
		subs = append(subs, m)
	}
	h.subs.Store(&subs)
}

// monitorOf returns the monitor id, which must be session's.
func (s *Server) monitorOf(session callctx.SessionID, id uint64) (*monitorSub, error) {
	s.monitors.mu.Lock()
	m := s.monitors.byID[id]
	s.monitors.mu.Unlock()
	if m == nil || m.session != session {
		return nil, fmt.Errorf("%w: no monitor %d of this session (it was stopped, or its session ended)", errs.BadArguments, id)
	}
	return m, nil
}

// take returns the events waiting, at most monitorBatch, and the count
// of those dropped since the last take.
func (m *monitorSub) take() MonitorBatch {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := min(len(m.events), monitorBatch)
	b := MonitorBatch{Events: append([]MonitorEvent(nil), m.events[:n]...), Dropped: m.dropped}
	m.events = append(m.events[:0], m.events[n:]...)
	m.dropped = 0
	if len(m.events) > 0 {
		select {
		case m.wake <- struct{}{}:
		default:
		}
	}
	return b
}

// opMonitor ["monitor", args] attaches a monitor to the calling session
// and returns its id; with args true its events carry a bounded rendering
// of each call's arguments.
func opMonitor(s *Server, _ *callContext, c *serverConn, a *controlArgs) (*result, error) {
	if a.n != 1 {
		return nil, errBadArgs(a.op, "takes 1 argument")
	}
	args, err := a.dec.DecodeBool()
	if err != nil {
		return nil, errBadArgs(a.op, err.Error())
	}
	m, err := s.attachMonitor(c.session, args)
	if err != nil {
		return nil, err
	}
	return &result{plain: m.id}, nil
}

// opMonitorNext ["monitor.next", id] waits until the monitor id has
// events (or the call's ctx ends) and returns them (a MonitorBatch).
func opMonitorNext(s *Server, cc *callContext, c *serverConn, a *controlArgs) (*result, error) {
	m, err := s.monitorArg(cc, c, a)
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	ready := len(m.events) > 0 || m.dropped > 0
	m.mu.Unlock()
	if !ready {
		select {
		case <-m.wake:
		case <-m.stopped:
			return nil, fmt.Errorf("%w: monitor %d was stopped", errs.Closed, m.id)
		case <-cc.Done():
			return nil, cc.Err()
		}
	}
	b := m.take()
	return &result{plain: &b}, nil
}

// opMonitorStop ["monitor.stop", id] detaches the monitor id.
func opMonitorStop(s *Server, cc *callContext, c *serverConn, a *controlArgs) (*result, error) {
	m, err := s.monitorArg(cc, c, a)
	if err != nil {
		return nil, err
	}
	s.detachMonitors(func(x *monitorSub) bool { return x == m })
	return nil, nil
}

// monitorArg decodes the one argument of monitor.next and monitor.stop:
// the id of one of the session's monitors.
func (s *Server) monitorArg(_ *callContext, c *serverConn, a *controlArgs) (*monitorSub, error) {
	if a.n != 1 {
		return nil, errBadArgs(a.op, "takes 1 argument")
	}
	id, err := a.dec.DecodeUint64()
	if err != nil {
		return nil, errBadArgs(a.op, err.Error())
	}
	return s.monitorOf(c.session, id)
}

// endMonitors detaches the monitors of a session that ended.
func (s *Server) endMonitors(session callctx.SessionID) {
	if !s.monitors.active() {
		return
	}
	s.detachMonitors(func(m *monitorSub) bool { return m.session == session })
}

// renderArgs renders an encoded argument array as text, for a monitor
// that asked for arguments: at most maxMonitorArgText bytes of it, then
// "…". It walks the msgpack codes itself, allocating nothing for the
// lengths a peer claims, and decodes no proxy (which would take
// references).
func renderArgs(args []byte) string {
	var b strings.Builder
	dec := msgpack.NewDecoder(bytes.NewReader(args))
	if err := renderValue(&b, dec, 0); err != nil && b.Len() <= maxMonitorArgText {
		return strings.TrimSuffix(b.String(), ", ") + " (malformed)"
	}
	if b.Len() > maxMonitorArgText {
		s := b.String()[:maxMonitorArgText]
		for !utf8.ValidString(s) {
			s = s[:len(s)-1] // do not cut a character in two
		}
		return s + "…"
	}
	return b.String()
}

// errRendered stops renderValue once the text is long enough.
var errRendered = errors.New("rendered enough")

// renderValue appends the next value of dec to b.
func renderValue(b *strings.Builder, dec *msgpack.Decoder, depth int) error {
	if b.Len() > maxMonitorArgText {
		return errRendered
	}
	c, err := dec.PeekCode()
	if err != nil {
		return err
	}
	switch {
	case depth > 8:
		b.WriteString("…")
		return dec.Skip()
	case c == msgpcode.Nil:
		b.WriteString("nil")
		return dec.Skip()
	case c == msgpcode.True || c == msgpcode.False:
		v, err := dec.DecodeBool()
		if err == nil {
			fmt.Fprint(b, v)
		}
		return err
	case msgpcode.IsFixedNum(c), c >= msgpcode.Uint8 && c <= msgpcode.Int64, c == msgpcode.Float, c == msgpcode.Double:
		v, err := dec.DecodeInterfaceLoose()
		if err == nil {
			fmt.Fprint(b, v)
		}
		return err
	case msgpcode.IsString(c):
		v, err := dec.DecodeString()
		if err != nil {
			return err
		}
		if len(v) > maxMonitorArgText {
			v = v[:maxMonitorArgText]
		}
		fmt.Fprintf(b, "%q", v)
		return nil
	case msgpcode.IsBin(c):
		v, err := dec.DecodeBytes()
		if err == nil {
			fmt.Fprintf(b, "<%d bytes>", len(v))
		}
		return err
	case msgpcode.IsFixedArray(c), c == msgpcode.Array16, c == msgpcode.Array32:
		n, err := dec.DecodeArrayLen()
		if err != nil {
			return err
		}
		return renderElems(b, dec, depth, n, "[", "]", 1)
	case msgpcode.IsFixedMap(c), c == msgpcode.Map16, c == msgpcode.Map32:
		n, err := dec.DecodeMapLen()
		if err != nil {
			return err
		}
		return renderElems(b, dec, depth, n, "{", "}", 2)
	default:
		b.WriteString("<ext>") // a proxy, a time…
		return dec.Skip()
	}
}

// renderElems appends n elements of a list (per 1) or n pairs of a map
// (per 2) between open and close.
func renderElems(b *strings.Builder, dec *msgpack.Decoder, depth, n int, open, close string, per int) error {
	b.WriteString(open)
	for i := 0; i < n*per; i++ {
		switch {
		case i%per == 1:
			b.WriteString(": ")
		case i > 0:
			b.WriteString(", ")
		}
		if err := renderValue(b, dec, depth+1); err != nil {
			return err
		}
	}
	b.WriteString(close)
	return nil
}
