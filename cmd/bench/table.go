package main

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// A getter reads one figure of one round, if it was measured.
type getter func(rd trial) (float64, bool)

// A metric is one line of the ratio table: a figure of ours and the same
// figure of each comparison program.
type metric struct {
	workload, what string
	lowerBetter    bool
	ours           getter
	python         getter
	redis          getter
	floor          getter
}

// metrics are the lines of the ratio table. The floor of a sequential
// workload is the raw Unix-socket round trip (L1: one op = one round
// trip, a lock pair = two); W8's is 8 goroutines on 8 raw connections.
// Redis INCR (its W2 row) is the Redis peer of an atomic add in W5 too.
var metrics = []metric{
	{"W1", "ops/s", false, ours("W1", "", "ops_per_s"), py("W1", "ops_per_s"), anchor("L4.redis.W1.dict-rtt.seq", "ops_per_s", 1), anchor("L1.uds.seq", "rt_per_s", 1)},
	{"W1", "p50 µs", true, ours("W1", "", "p50_us"), py("W1", "p50_us"), anchor("L4.redis.W1.dict-rtt.seq", "p50_us", 1), anchor("L1.uds.seq", "p50_us", 1)},
	{"W1", "p50 µs, floor interleaved", true, ours("W1", "", "p50_us"), nil, nil, ours("W1", "", "floor_p50_us")},
	{"W1", "p99 µs", true, ours("W1", "", "p99_us"), py("W1", "p99_us"), anchor("L4.redis.W1.dict-rtt.seq", "p99_us", 1), anchor("L1.uds.seq", "p99_us", 1)},
	{"W2", "lock pattern incr/s", false, ours("W2", "lock", "increments_per_s"), py("W2", "increments_per_s"), anchor("L4.redis.W2.contended.lockincr", "incr_per_s", 1), nil},
	{"W2", "atomic add incr/s", false, ours("W2", "atomic", "increments_per_s"), nil, anchor("L4.redis.W2.contended.incr", "incr_per_s", 1), nil},
	{"W3", "items/s", false, ours("W3", "", "items_per_s"), py("W3", "items_per_s"), anchor("L4.redis.W3.queue", "items_per_s", 1), nil},
	{"W4", "pairs/s", false, ours("W4", "", "pairs_per_s"), py("W4", "pairs_per_s"), anchor("L4.redis.W4.lock", "pairs_per_s", 1), anchor("L1.uds.seq", "rt_per_s", 0.5)},
	{"W4", "pair p50 µs", true, ours("W4", "", "pair_p50_us"), py("W4", "pair_p50_us"), anchor("L4.redis.W4.lock", "pair_p50_us", 1), anchor("L1.uds.seq", "p50_us", 2)},
	{"W5", "manager adds/s", false, ours("W5", "manager", "adds_per_s"), py("W5", "b_mgrvalue_mgrlock", "adds_per_s"), anchor("L4.redis.W2.contended.incr", "incr_per_s", 1), nil},
	{"W5", "shared memory adds/s", false, ours("W5", "shm", "adds_per_s"), py("W5", "a_mpvalue_getlock", "adds_per_s"), nil, anchor("L5.shm.atomic.25000", "adds_per_s", 1)},
	{"W5", "shared memory + lock adds/s", false, ours("W5", "shm-locked", "adds_per_s"), py("W5", "a_mpvalue_getlock", "adds_per_s"), nil, nil},
	{"W6", "MB/s", false, ours("W6", "", "mb_per_s"), py("W6", "MB_per_s"), anchor("L4.redis.W6.large", "both_MB_per_s", 1), nil},
	{"W7", "start + first op ms", true, ours("W7", "", "manager_start_plus_first_op_ms"), py("W7", "manager_start_plus_first_op_ms"), nil, anchor("L6.spawn.server-ready", "median_ms", 1)},
	{"W7", "fork 4 + wait ms", true, ours("W7", "", "start_join_4_procs_ms"), py("W7", "start_join_4_procs_ms"), nil, anchor("L6.spawn.4", "median_ms", 1)},
	{"W8", "8 goroutines ops/s", false, ours("W8", "", "ops_per_s"), nil, nil, anchor("L1.uds.conn8", "rt_per_s", 1)},
}

// A target is one of the project's performance goals, checked on each
// round's figures. bound, where there is one, is the same figure for what
// bounds ours (the raw socket instead of us, the bare re-exec of a
// process, or for W6 Redis's C server), measured in the same round: a
// target the bound itself misses is out of reach on that machine at that
// moment.
type target struct {
	what  string
	value getter
	max   bool // the value must be at most limit (else at least)
	limit float64
	unit  string // "×" for ratios
	bound getter
}

var targets = []target{
	{"W1 p50 ≤ 1.25× the raw socket floor (L1 seq)", ratio(ours("W1", "", "p50_us"), anchor("L1.uds.seq", "p50_us", 1)), true, 1.25, "×", nil},
	{"W1 p50 ≤ 1.25× the raw socket floor, interleaved in W1", ours("W1", "", "p50_vs_floor"), true, 1.25, "×", nil},
	{"W1 ops/s ≥ 2× Python", ratio(ours("W1", "", "ops_per_s"), py("W1", "ops_per_s")), false, 2, "×", ratio(anchor("L1.uds.seq", "rt_per_s", 1), py("W1", "ops_per_s"))},
	{"W1 ops/s ≥ 1.1× Redis", ratio(ours("W1", "", "ops_per_s"), anchor("L4.redis.W1.dict-rtt.seq", "ops_per_s", 1)), false, 1.1, "×", ratio(anchor("L1.uds.seq", "rt_per_s", 1), anchor("L4.redis.W1.dict-rtt.seq", "ops_per_s", 1))},
	{"W8 ops/s ≥ 3× our W1 ops/s", ratio(ours("W8", "", "ops_per_s"), ours("W1", "", "ops_per_s")), false, 3, "×", ratio(anchor("L1.uds.conn8", "rt_per_s", 1), anchor("L1.uds.seq", "rt_per_s", 1))},
	{"W2 atomic add ≥ Redis INCR", ratio(ours("W2", "atomic", "increments_per_s"), anchor("L4.redis.W2.contended.incr", "incr_per_s", 1)), false, 1, "×", nil},
	{"W2 lock pattern ≥ 2× Python", ratio(ours("W2", "lock", "increments_per_s"), py("W2", "increments_per_s")), false, 2, "×", nil},
	{"W3 ≥ 2× Python", ratio(ours("W3", "", "items_per_s"), py("W3", "items_per_s")), false, 2, "×", nil},
	{"W3 ≥ Redis", ratio(ours("W3", "", "items_per_s"), anchor("L4.redis.W3.queue", "items_per_s", 1)), false, 1, "×", nil},
	{"W4 ≥ 3× Python", ratio(ours("W4", "", "pairs_per_s"), py("W4", "pairs_per_s")), false, 3, "×", ratio(anchor("L1.uds.seq", "rt_per_s", 0.5), py("W4", "pairs_per_s"))},
	{"W6 ≥ 2× Python MB/s", ratio(ours("W6", "", "mb_per_s"), py("W6", "MB_per_s")), false, 2, "×", ratio(anchor("L4.redis.W6.large", "both_MB_per_s", 1), py("W6", "MB_per_s"))},
	{"W7 manager start + first op ≤ 5 ms", ours("W7", "", "manager_start_plus_first_op_ms"), true, 5, " ms", anchor("L6.spawn.server-ready", "median_ms", 1)},
	{"W7 4 workers forked and waited ≤ 12 ms", ours("W7", "", "start_join_4_procs_ms"), true, 12, " ms", anchor("L6.spawn.4", "median_ms", 1)},
	{"W1 client allocations per op ≤ 4", ours("W1", "", "client_allocs_per_op"), true, 4, "", nil},
}

// ours reads field of our row of workload (and variant, if given).
func ours(workload, variant, field string) getter {
	return func(rd trial) (float64, bool) {
		for _, r := range rd.ours {
			if r.vals["workload"] == workload && (variant == "" || r.vals["variant"] == variant) {
				return r.num(field)
			}
		}
		return 0, false
	}
}

// py reads a field of Python's row of workload, following nested objects.
func py(workload string, path ...string) getter {
	return func(rd trial) (float64, bool) {
		for _, r := range rd.python {
			if r["workload"] == workload {
				return lookup(r, path)
			}
		}
		return 0, false
	}
}

// anchor reads field of the Go anchors' row id, times scale.
func anchor(id, field string, scale float64) getter {
	return func(rd trial) (float64, bool) {
		for _, r := range rd.anchor {
			if r["id"] == id {
				v, ok := lookup(r, []string{field})
				return v * scale, ok
			}
		}
		return 0, false
	}
}

func lookup(m map[string]any, path []string) (float64, bool) {
	for i, k := range path {
		if i == len(path)-1 {
			return number(m[k])
		}
		next, ok := m[k].(map[string]any)
		if !ok {
			return 0, false
		}
		m = next
	}
	return 0, false
}

// ratio is a / b, measured in one round.
func ratio(a, b getter) getter {
	if b == nil {
		return nil
	}
	return func(rd trial) (float64, bool) {
		x, ok1 := a(rd)
		y, ok2 := b(rd)
		if !ok1 || !ok2 || y == 0 {
			return 0, false
		}
		return x / y, true
	}
}

// medianOf is g's median over the rounds that measured it.
func medianOf(rounds []trial, g getter) (float64, bool) {
	if g == nil {
		return 0, false
	}
	var xs []float64
	for _, rd := range rounds {
		if v, ok := g(rd); ok {
			xs = append(xs, v)
		}
	}
	if len(xs) == 0 {
		return 0, false
	}
	return median(xs), true
}

// printComparison prints the ratio table and the targets as Markdown.
// Every ratio is computed within one round, then the median taken.
func printComparison(w io.Writer, rounds []trial, sel []string) {
	fmt.Fprintln(w)
	note := ""
	if len(rounds) > 1 {
		note = fmt.Sprintf(" (medians of %d interleaved runs)", len(rounds))
	}
	fmt.Fprintf(w, "Ratios, ours ÷ theirs, measured in one invocation%s. ↑: higher is better; ↓: lower is better.\n\n", note)
	fmt.Fprintln(w, "| workload | metric | manager | Python | Redis | floor | ÷ Python | ÷ Redis | ÷ floor |")
	fmt.Fprintln(w, "|---|---|--:|--:|--:|--:|--:|--:|--:|")
	for _, m := range metrics {
		if !contains(sel, m.workload) {
			continue
		}
		arrow := "↑"
		if m.lowerBetter {
			arrow = "↓"
		}
		cells := []string{m.workload, m.what + " " + arrow}
		for _, g := range []getter{m.ours, m.python, m.redis, m.floor} {
			cells = append(cells, cell(medianOf(rounds, g)))
		}
		for _, g := range []getter{m.python, m.redis, m.floor} {
			cells = append(cells, ratioCell(medianOf(rounds, ratio(m.ours, g))))
		}
		fmt.Fprintf(w, "| %s |\n", strings.Join(cells, " | "))
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| target | measured | met | the same for the bound: raw socket, bare re-exec (W7), Redis (W6) |")
	fmt.Fprintln(w, "|---|--:|---|--:|")
	for _, t := range targets {
		if !contains(sel, t.what[:2]) {
			continue
		}
		v, ok := medianOf(rounds, t.value)
		if !ok {
			fmt.Fprintf(w, "| %s | — | not measured | |\n", t.what)
			continue
		}
		bound := ""
		if b, ok := medianOf(rounds, t.bound); ok {
			bound = short(b) + t.unit
		}
		met := v >= t.limit
		if t.max {
			met = v <= t.limit
		}
		verdict := "yes"
		if !met {
			verdict = "**no**"
		}
		fmt.Fprintf(w, "| %s | %s%s | %s | %s |\n", t.what, short(v), t.unit, verdict, bound)
	}
}

func cell(v float64, ok bool) string {
	if !ok {
		return "—"
	}
	return short(v)
}

func ratioCell(v float64, ok bool) string {
	if !ok {
		return "—"
	}
	return strconv.FormatFloat(v, 'f', 2, 64) + "×"
}

// short formats a figure for the table: thousands separated, three
// significant digits below 1,000.
func short(v float64) string {
	if math.Abs(v) >= 1000 {
		s := strconv.FormatInt(int64(math.Round(v)), 10)
		var b strings.Builder
		for i, c := range s {
			if i > 0 && (len(s)-i)%3 == 0 && s[i-1] != '-' {
				b.WriteByte(',')
			}
			b.WriteRune(c)
		}
		return b.String()
	}
	return strconv.FormatFloat(v, 'g', 3, 64)
}
