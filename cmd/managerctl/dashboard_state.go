package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/goproc/manager"
)

// sample is one tick of the calls-per-second plot.
type sample struct {
	at     time.Time
	ok     bool   // the manager answered
	pid    int    // the manager's pid: a restarted manager counts from 0 again
	calls  uint64 // object calls served so far (control operations left out)
	errors uint64 // of which failed
}

// sampler asks the manager for its state once per interval and keeps
// the last answer, and a ring of samples for the plot: memory is bounded
// by history/interval samples and one Stats and Objects snapshot.
type sampler struct {
	ep       endpoint
	interval time.Duration
	timeout  time.Duration // bounds each connect and each poll
	log      io.Writer     // the manager going away and coming back
	c        inspector     // a manager's Client or a RedisSession

	mu       sync.Mutex // guards the fields below, written by poll, read by view
	stats    manager.Stats
	objects  []manager.ObjectInfo
	at       time.Time // when stats and objects were read
	err      error     // the last poll's error; nil when the manager answered
	errSince time.Time // when the polls began to fail
	ring     []sample  // the last len(ring) ticks, the oldest at next
	next     int
}

// maxSamples bounds the ring whatever -history and -interval say.
const maxSamples = 100_000

func newSampler(ep endpoint, interval, history, timeout time.Duration, log io.Writer) *sampler {
	n := min(max(int(history/interval), 2), maxSamples)
	return &sampler{ep: ep, interval: interval, timeout: timeout, log: log, ring: make([]sample, n)}
}

// connect opens a session with the manager, within s.timeout.
func (s *sampler) connect(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	c, err := dial(ctx, s.ep)
	if err != nil {
		return err
	}
	s.c = c
	return nil
}

// close ends the session; the sampler must not run any more.
func (s *sampler) close() {
	if s.c != nil {
		s.c.Close()
		s.c = nil
	}
}

// run polls once per interval until ctx ends.
func (s *sampler) run(ctx context.Context) {
	tick := time.NewTicker(s.interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			s.poll(ctx)
		}
	}
}

// poll reads the manager's state and adds a sample, reconnecting first
// if the manager went away. A poll that fails leaves the last state in
// place (the page shows it, marked as old) and a gap in the plot.
func (s *sampler) poll(ctx context.Context) {
	now := time.Now()
	st, objs, err := s.fetch(ctx)
	if ctx.Err() != nil {
		return // stopping: not the manager's doing
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	smp := sample{at: now}
	if err != nil {
		if s.err == nil {
			s.errSince = now
			fmt.Fprintf(s.log, "dashboard: manager at %s unreachable: %v; retrying every %s\n", s.ep.address, err, s.interval)
		}
		s.err = err
	} else {
		if s.err != nil && s.ep.redis() {
			fmt.Fprintf(s.log, "dashboard: Redis at %s answers again\n", s.ep.address)
		} else if s.err != nil {
			fmt.Fprintf(s.log, "dashboard: manager at %s answers again (pid %d)\n", s.ep.address, st.ManagerPid)
		}
		s.err = nil
		s.stats, s.objects, s.at = st, objs, now
		smp.ok, smp.pid = true, st.ManagerPid
		smp.calls, smp.errors = objectCalls(st)
	}
	s.ring[s.next] = smp
	s.next = (s.next + 1) % len(s.ring)
}

func (s *sampler) fetch(ctx context.Context) (st manager.Stats, objs []manager.ObjectInfo, err error) {
	if s.c == nil {
		if err := s.connect(ctx); err != nil {
			return st, nil, err
		}
	}
	pctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	if st, err = s.c.Stats(pctx); err == nil {
		objs, err = s.c.Objects(pctx)
	}
	if err != nil && s.c.Err() != nil {
		// The session is over (the manager exited or restarted): the
		// next poll opens a new one. A manager that is only slow keeps
		// its session.
		s.close()
	}
	return st, objs, err
}

// objectCalls sums the calls and errors of the objects' methods. The
// control operations ("manager.stats", "manager.objects", ...) are left
// out: the dashboard's own polls would otherwise draw a floor under the
// plot.
func objectCalls(st manager.Stats) (calls, errors uint64) {
	for name, m := range st.Methods {
		if !strings.HasPrefix(name, "manager.") {
			calls += m.Calls
			errors += m.Errors
		}
	}
	return calls, errors
}

// view is the page's content: the HTML template renders it and
// /api/state sends it as JSON, so the page and its script show the same
// things. Every field is display-ready text.
type view struct {
	OK       bool    `json:"ok"`     // the last poll answered and is recent
	Status   string  `json:"status"` // what the banner says
	Address  string  `json:"address"`
	Interval int64   `json:"interval_ms"` // how often the script polls
	Summary  []item  `json:"summary"`
	Plot     plot    `json:"plot"`
	Tables   []table `json:"tables"`
}

type item struct {
	Label string `json:"label"`
	Value string `json:"value"`
}

// table is one section of the page. More counts the rows left out:
// a table shows at most maxRows.
type table struct {
	ID      string     `json:"id"`
	Title   string     `json:"title"`
	Columns []string   `json:"columns"`
	Rows    [][]string `json:"rows"`
	More    int        `json:"more"`
}

// plot is the calls-per-second plot as SVG path data in a Width×Height
// box: time runs left to right over Span, ending now.
type plot struct {
	Width   int    `json:"width"`
	Height  int    `json:"height"`
	ViewBox string `json:"view_box"` // the box with a margin for the labels
	LabelY  int    `json:"label_y"`  // the baseline of the time axis's labels
	Calls   string `json:"calls"`    // the path of calls/s
	Errors  string `json:"errors"`   // the path of failed calls/s
	Max     string `json:"max"`      // the value at the top
	Last    string `json:"last"`     // the newest rate
	Span    string `json:"span"`
}

const (
	maxRows    = 200
	plotWidth  = 600
	plotHeight = 150
)

// view returns what the page shows at now.
func (s *sampler) view(now time.Time) view {
	s.mu.Lock()
	defer s.mu.Unlock()
	v := view{Address: s.ep.address, Interval: s.interval.Milliseconds()}
	age := now.Sub(s.at)
	switch {
	case s.err != nil:
		v.Status = fmt.Sprintf("manager unreachable since %s (%s): %v; retrying every %s; the tables show its last answer",
			s.errSince.Format(time.TimeOnly), now.Sub(s.errSince).Round(time.Second), s.err, s.interval)
	case age > 3*s.interval+2*time.Second:
		v.Status = fmt.Sprintf("the manager has not answered for %s; the tables show its last answer", age.Round(time.Second))
	case s.ep.redis():
		v.OK = true
		v.Status = fmt.Sprintf("live: Redis, updated %s", s.at.Format(time.TimeOnly))
	default:
		v.OK = true
		v.Status = fmt.Sprintf("live: manager pid %d, updated %s", s.stats.ManagerPid, s.at.Format(time.TimeOnly))
	}
	v.Summary = summary(s.stats, s.ep.redis())
	v.Plot = s.plot(now)
	if s.ep.redis() {
		v.Plot.Last = "— (calls are not counted on Redis)"
	}
	v.Tables = tables(s.stats, s.objects, s.ep.redis())
	return v
}

// summary is the row of figures above the plot. On Redis (onRedis) it
// has only what Redis keeps, and a note saying what is missing, rather
// than a manager's zeros.
func summary(st manager.Stats, onRedis bool) []item {
	if onRedis {
		return []item{
			{"sessions", fmt.Sprint(len(st.Sessions))},
			{"objects", fmt.Sprint(st.Objects)},
			{"blocked", fmt.Sprint(st.Blocked)},
			{"on Redis", strings.TrimPrefix(onRedisNote, "on Redis: ")},
		}
	}
	m := st.Memory
	return []item{
		{"manager pid", fmt.Sprint(st.ManagerPid)},
		{"uptime", st.Uptime.Round(time.Second).String()},
		{"sessions", fmt.Sprint(len(st.Sessions))},
		{"objects", fmt.Sprint(st.Objects)},
		{"calls", fmt.Sprint(st.Calls)},
		{"errors", fmt.Sprint(st.Errors)},
		{"in flight", fmt.Sprint(st.InFlight)},
		{"blocked", fmt.Sprint(st.Blocked)},
		{"bytes in / out", fmt.Sprintf("%d / %d", st.BytesIn, st.BytesOut)},
		{"memory rss / heap", mib(m.RSS) + " / " + mib(m.HeapAlloc)},
		{"goroutines", fmt.Sprint(m.Goroutines)},
	}
}

// plot draws the rates between consecutive samples that both answered
// from the same manager; anything else leaves a gap.
func (s *sampler) plot(now time.Time) plot {
	span := time.Duration(len(s.ring)) * s.interval
	p := plot{Width: plotWidth, Height: plotHeight, ViewBox: fmt.Sprintf("-4 -16 %d %d", plotWidth+8, plotHeight+34), LabelY: plotHeight + 14,
		Span: span.String(), Max: "1 calls/s", Last: "-"}
	type point struct {
		at           time.Time
		calls, errs  float64
		continuation bool // draw a line from the previous point
	}
	var pts []point
	top := 1.0
	var prev sample
	joined := false
	for i := range s.ring {
		cur := s.ring[(s.next+i)%len(s.ring)]
		dt := cur.at.Sub(prev.at).Seconds()
		if !cur.ok || !prev.ok || cur.pid != prev.pid || cur.calls < prev.calls || cur.errors < prev.errors || dt <= 0 {
			prev, joined = cur, false
			continue
		}
		pt := point{at: cur.at, calls: float64(cur.calls-prev.calls) / dt, errs: float64(cur.errors-prev.errors) / dt, continuation: joined}
		pts = append(pts, pt)
		top = max(top, pt.calls)
		prev, joined = cur, true
	}
	if len(pts) == 0 {
		return p
	}
	top = niceCeil(top)
	p.Max = fmt.Sprintf("%g calls/s", top)
	p.Last = fmt.Sprintf("%.1f calls/s", pts[len(pts)-1].calls)
	var calls, errs strings.Builder
	for _, pt := range pts {
		x := plotWidth * (1 - now.Sub(pt.at).Seconds()/span.Seconds())
		op := "M"
		if pt.continuation {
			op = "L"
		}
		fmt.Fprintf(&calls, "%s%.1f,%.1f ", op, max(x, 0), plotHeight*(1-pt.calls/top))
		fmt.Fprintf(&errs, "%s%.1f,%.1f ", op, max(x, 0), plotHeight*(1-min(pt.errs/top, 1)))
	}
	p.Calls, p.Errors = strings.TrimSpace(calls.String()), strings.TrimSpace(errs.String())
	return p
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten.
func niceCeil(v float64) float64 {
	step := 1.0
	for step*10 <= v {
		step *= 10
	}
	for _, f := range []float64{1, 2, 5, 10} {
		if f*step >= v {
			return f * step
		}
	}
	return 10 * step
}

// tables returns the page's tables, each one capped at maxRows.
// On Redis (onRedis), the sessions table has no counts of calls and
// connections and there is no table of calls by method: Redis keeps
// neither.
func tables(st manager.Stats, objs []manager.ObjectInfo, onRedis bool) []table {
	sessions := table{ID: "sessions", Title: "Sessions",
		Columns: []string{"PID", "HOST", "SESSION", "CONNS", "OBJECTS", "IN FLIGHT", "BLOCKED", "CALLS", "ERRORS"}}
	if onRedis {
		sessions.Columns = []string{"PID", "HOST", "SESSION", "OBJECTS"}
	}
	for _, s := range st.Sessions {
		if onRedis {
			sessions.Rows = append(sessions.Rows, []string{fmt.Sprint(s.Pid), s.Host, s.ID[:min(8, len(s.ID))], fmt.Sprint(s.Objects)})
			continue
		}
		sessions.Rows = append(sessions.Rows, []string{fmt.Sprint(s.Pid), s.Host, s.ID[:min(8, len(s.ID))], fmt.Sprint(s.Connections),
			fmt.Sprint(s.Objects), fmt.Sprint(s.InFlight), fmt.Sprint(s.Blocked), fmt.Sprint(s.Calls), fmt.Sprint(s.Errors)})
	}

	byType := table{ID: "types", Title: "Objects by type", Columns: []string{"TYPE", "LIVE"}}
	for _, typ := range sortedKeys(st.ObjectsByType) {
		byType.Rows = append(byType.Rows, []string{typ, fmt.Sprint(st.ObjectsByType[typ])})
	}

	named := table{ID: "named", Title: "Named objects", Columns: []string{"NAME", "TYPE", "ID", "REFS"}}
	locks := table{ID: "locks", Title: "Locks and semaphores",
		Columns: []string{"NAME", "TYPE", "HELD BY (PID×LEVELS FOR)", "WAITERS (PID)"}}
	queues := table{ID: "queues", Title: "Queues",
		Columns: []string{"NAME", "TYPE", "LEN", "BLOCKED GETTERS (PID)", "BLOCKED PUTTERS (PID)", "UNACKED (PID×ITEMS)"}}
	for _, o := range objs {
		name := o.Name
		if name == "" {
			name = fmt.Sprintf("#%d", o.ID)
		} else {
			named.Rows = append(named.Rows, []string{o.Name, o.Type, fmt.Sprint(o.ID), fmt.Sprint(o.Refs)})
		}
		switch {
		case isLock(o.Type):
			locks.Rows = append(locks.Rows, []string{name, o.Type, holders(o.Holders), parties(o.Waiters)})
		case isQueue(o.Type):
			queues.Rows = append(queues.Rows, []string{name, o.Type, fmt.Sprint(o.Len), parties(o.Getters), parties(o.Putters), holders(o.Unacked)})
		}
	}
	slices.SortFunc(named.Rows, func(a, b []string) int { return cmp.Compare(a[0], b[0]) })

	methods := table{ID: "methods", Title: "Calls by method", Columns: []string{"METHOD", "CALLS", "ERRORS"}}
	names := sortedKeys(st.Methods)
	slices.SortStableFunc(names, func(a, b string) int { return cmp.Compare(st.Methods[b].Calls, st.Methods[a].Calls) })
	for _, n := range names {
		methods.Rows = append(methods.Rows, []string{n, fmt.Sprint(st.Methods[n].Calls), fmt.Sprint(st.Methods[n].Errors)})
	}

	ts := []table{sessions, locks, queues, named, byType, methods}
	if onRedis {
		ts = ts[:len(ts)-1]
	}
	for i := range ts {
		if n := len(ts[i].Rows); n > maxRows {
			ts[i].Rows, ts[i].More = ts[i].Rows[:maxRows], n-maxRows
		}
		if ts[i].Rows == nil {
			ts[i].Rows = [][]string{} // JSON [] rather than null
		}
	}
	return ts
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
