package main

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/goproc/manager"
)

// printer prints tables for people, or JSON for scripts.
type printer struct {
	w     io.Writer
	json  bool
	redis bool // the Redis engine: what only a manager counts is not shown
}

func (p printer) encode(v any) error {
	enc := json.NewEncoder(p.w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func (p printer) table(header string, rows [][]string) error {
	tw := tabwriter.NewWriter(p.w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, header)
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}

// info prints the manager's statistics and its objects.
func (p printer) info(st manager.Stats, objs []manager.ObjectInfo) error {
	if p.json {
		return p.encode(struct {
			Stats   manager.Stats
			Objects []manager.ObjectInfo
		}{st, objs})
	}
	if p.redis {
		fmt.Fprintf(p.w, "sessions %d, objects %d, blocked %d\n%s\n\n", len(st.Sessions), st.Objects, st.Blocked, onRedisNote)
		return p.objects("objects", objs)
	}
	m := st.Memory
	fmt.Fprintf(p.w, "manager pid %d, up %s\n", st.ManagerPid, st.Uptime.Round(time.Second))
	fmt.Fprintf(p.w, "sessions %d, objects %d, calls %d (errors %d), in flight %d, blocked %d\n",
		len(st.Sessions), st.Objects, st.Calls, st.Errors, st.InFlight, st.Blocked)
	fmt.Fprintf(p.w, "bytes in %d, out %d; memory rss %s, heap %s, goroutines %d\n\n",
		st.BytesIn, st.BytesOut, mib(m.RSS), mib(m.HeapAlloc), m.Goroutines)
	if err := p.objects("objects", objs); err != nil {
		return err
	}
	var names []string
	for n := range st.Methods {
		names = append(names, n)
	}
	sort.Strings(names)
	var rows [][]string
	for _, n := range names {
		ms := st.Methods[n]
		rows = append(rows, []string{n, fmt.Sprint(ms.Calls), fmt.Sprint(ms.Errors)})
	}
	fmt.Fprintln(p.w)
	return p.table("METHOD\tCALLS\tERRORS", rows)
}

func mib(n uint64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

// sessions prints the client sessions.
func (p printer) sessions(ss []manager.SessionStats) error {
	if p.json {
		return p.encode(ss)
	}
	var rows [][]string
	if p.redis { // connections and calls are not counted there
		for _, s := range ss {
			rows = append(rows, []string{fmt.Sprint(s.Pid), s.Host, s.ID[:min(8, len(s.ID))], fmt.Sprint(s.Objects)})
		}
		return p.table("PID\tHOST\tSESSION\tOBJECTS", rows)
	}
	for _, s := range ss {
		rows = append(rows, []string{fmt.Sprint(s.Pid), s.Host, s.ID[:8], fmt.Sprint(s.Connections), fmt.Sprint(s.Objects),
			fmt.Sprint(s.InFlight), fmt.Sprint(s.Blocked), fmt.Sprint(s.Calls), fmt.Sprint(s.Errors)})
	}
	return p.table("PID\tHOST\tSESSION\tCONNS\tOBJECTS\tIN FLIGHT\tBLOCKED\tCALLS\tERRORS", rows)
}

// objects prints the objects (cmd "objects"), the locks and semaphores
// ("locks") or the queues ("queues").
func (p printer) objects(cmd string, objs []manager.ObjectInfo) error {
	var sel []manager.ObjectInfo
	for _, o := range objs {
		if cmd == "objects" || cmd == "locks" && isLock(o.Type) || cmd == "queues" && isQueue(o.Type) {
			sel = append(sel, o)
		}
	}
	if p.json {
		if sel == nil {
			sel = []manager.ObjectInfo{}
		}
		return p.encode(sel)
	}
	var rows [][]string
	for _, o := range sel {
		name := o.Name
		if name == "" {
			name = "-"
		}
		switch cmd {
		case "locks":
			rows = append(rows, []string{fmt.Sprint(o.ID), name, o.Type, holders(o.Holders), parties(o.Waiters)})
		case "queues":
			rows = append(rows, []string{fmt.Sprint(o.ID), name, o.Type, fmt.Sprint(o.Len), parties(o.Getters), parties(o.Putters), holders(o.Unacked)})
		default:
			rows = append(rows, []string{fmt.Sprint(o.ID), name, o.Type, fmt.Sprint(o.Refs)})
		}
	}
	switch cmd {
	case "locks":
		return p.table("ID\tNAME\tTYPE\tHELD BY (PID LEVELS FOR)\tWAITERS (PID)", rows)
	case "queues":
		return p.table("ID\tNAME\tTYPE\tLEN\tGETTERS (PID)\tPUTTERS (PID)\tUNACKED (PID ITEMS)", rows)
	}
	return p.table("ID\tNAME\tTYPE\tREFS", rows)
}

func isLock(t string) bool {
	switch t {
	case "Lock", "RLock", "Semaphore", "BoundedSemaphore":
		return true
	}
	return false
}

func isQueue(t string) bool { return t == "Queue" || t == "JoinableQueue" }

func holders(hs []manager.Holder) string {
	if len(hs) == 0 {
		return "-"
	}
	var parts []string
	for _, h := range hs {
		s := fmt.Sprintf("%d×%d", h.Pid, h.Count)
		if h.HeldFor > 0 {
			s += " " + h.HeldFor.Round(time.Millisecond).String()
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, ", ")
}

func parties(ps []manager.Party) string {
	if len(ps) == 0 {
		return "-"
	}
	var parts []string
	for _, p := range ps {
		parts = append(parts, fmt.Sprint(p.Pid))
	}
	return strings.Join(parts, " ")
}
