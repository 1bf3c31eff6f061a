package main

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
)

// A fig is one figure of one round: measured or not, and whether the row
// it comes from said its run was incorrect (a "correct" or
// "exactly_once" field that is false). An incorrect run's figure is never
// reported: a fast wrong answer is not a result.
type fig struct {
	v   float64
	ok  bool // measured
	bad bool // measured by a run that reported itself incorrect
}

// A getter reads one figure of one round.
type getter func(rd trial) fig

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
// W5 compares like with like: our Value under a Lock (4 round trips an
// add) with Python's manager Value under a manager Lock and Redis's
// lock + GET + SET + DEL; our atomic Value.Add (1 round trip) with Redis
// INCR only, since Python has no atomic add; shared memory under a lock
// with Python's mp.Value under get_lock(), and the atomic instruction
// with the memfd floor only.
var metrics = []metric{
	{"W1", "ops/s, interleaved (pooled)", false, ilW1Ops[ilOurs], ilW1Ops[ilPython], ilW1Ops[ilRedis], ilW1Ops[ilFloor]},
	{"W1", "p50 µs, interleaved (median of blocks)", true, ilW1P50[ilOurs], ilW1P50[ilPython], ilW1P50[ilRedis], ilW1P50[ilFloor]},
	{"W1", "p50 µs, floor inside W1", true, ilW1P50[ilOurs], nil, nil, ilW1InFloor},
	{"W1", "p99 µs, interleaved (median of blocks)", true, ilW1P99[ilOurs], ilW1P99[ilPython], ilW1P99[ilRedis], ilW1P99[ilFloor]},
	{"W2", "lock pattern incr/s", false, ours("W2", "lock", "increments_per_s"), py("W2", "increments_per_s"), anchor("L4.redis.W2.contended.lockincr", "incr_per_s", 1), nil},
	{"W2", "atomic add incr/s", false, ours("W2", "atomic", "increments_per_s"), nil, anchor("L4.redis.W2.contended.incr", "incr_per_s", 1), nil},
	{"W3", "items/s", false, ours("W3", "", "items_per_s"), py("W3", "items_per_s"), anchor("L4.redis.W3.queue", "items_per_s", 1), nil},
	{"W4", "pairs/s, interleaved (pooled)", false, ilW4Pairs[ilOurs], ilW4Pairs[ilPython], ilW4Pairs[ilRedis], ilW4Pairs[ilFloor]},
	{"W4", "pair p50 µs, interleaved (median of blocks)", true, ilW4P50[ilOurs], ilW4P50[ilPython], ilW4P50[ilRedis], ilW4P50[ilFloor]},
	{"W5", "Value under a Lock adds/s (4 RPCs, like for like)", false, ours("W5", "manager-locked", "adds_per_s"), py("W5", "b_mgrvalue_mgrlock", "adds_per_s"), anchor("L4.redis.W2.contended.lockincr", "incr_per_s", 1), nil},
	{"W5", "atomic Value.Add adds/s (1 RPC; Python has none)", false, ours("W5", "manager", "adds_per_s"), nil, anchor("L4.redis.W2.contended.incr", "incr_per_s", 1), nil},
	{"W5", "shared memory atomic adds/s", false, ours("W5", "shm", "adds_per_s"), nil, nil, anchor("L5.shm.atomic.25000", "adds_per_s", 1)},
	{"W5", "shared memory + lock adds/s (like for like)", false, ours("W5", "shm-locked", "adds_per_s"), py("W5", "a_mpvalue_getlock", "adds_per_s"), nil, nil},
	{"W6", "MB/s, interleaved (pooled)", false, ilW6MB[ilOurs], ilW6MB[ilPython], ilW6MB[ilRedis], nil},
	{"W7", "start + first op ms, interleaved with L6 (Python per section)", true, ilW7First, py("W7", "manager_start_plus_first_op_ms"), nil, ilL6Ready},
	{"W7", "fork 4 + wait ms, interleaved with L6 (Python per section)", true, ilW7Four, py("W7", "start_join_4_procs_ms"), nil, ilL6Four},
	{"W8", "8 goroutines ops/s", false, ours("W8", "", "ops_per_s"), nil, nil, conn8Floor},
	{"W9", "pipelines of 100 ops/s (Batch; Redis: go-redis pipelines in the same run)", false, ours("W9", "batch", "ops_per_s"), nil, ours("W9", "go-redis", "ops_per_s"), nil},
	{"W10", "fill entries/s (batches of 10,000)", false, ours("W10", "", "fill_entries_per_s"), scalingFill("python", "mem"), scalingFill("redis", "mem"), nil},
	{"W10", "RSS bytes per entry", true, ours("W10", "", "bytes_per_entry"), scaling("python", "mem", "bytes_per_entry"), scaling("redis", "mem", "bytes_per_entry"), nil},
	{"W10", "Store/Load p50 µs, random keys", true, ours("W10", "", "p50_us"), scaling("python", "size", "p50_us"), scaling("redis", "size", "p50_us"), nil},
	{"W10", "Store/Load p99 µs, random keys", true, ours("W10", "", "p99_us"), scaling("python", "size", "p99_us"), scaling("redis", "size", "p99_us"), nil},
}

// A target is one of the project's performance goals, checked on each
// round's figures. bound, where there is one, is the same figure for what
// bounds ours (the raw socket instead of us, Redis's C server for W6 and
// W10), measured in the same round: a target the bound itself misses is
// out of reach on that machine at that moment.
type target struct {
	workload string
	what     string
	value    getter
	max      bool // the value must be at most limit (else at least)
	limit    float64
	unit     string // "×" for ratios
	bound    getter
}

var targets = []target{
	{"W1", "W1 p50 ≤ 1.25× the raw socket floor (L1 seq, interleaved)", ratio(ilW1P50[ilOurs], ilW1P50[ilFloor]), true, 1.25, "×", nil},
	{"W1", "W1 p50 ≤ 1.25× the raw socket floor inside W1", ilW1VsFloor, true, 1.25, "×", nil},
	{"W1", "W1 p50 ≤ 0.85× the raw socket floor (interleaved; issue 13: a faster wake-up path)", ratio(ilW1P50[ilOurs], ilW1P50[ilFloor]), true, 0.85, "×", nil},
	{"W1", "W1 ops/s ≥ 2× Python (interleaved)", ratio(ilW1Ops[ilOurs], ilW1Ops[ilPython]), false, 2, "×", ratio(ilW1Ops[ilFloor], ilW1Ops[ilPython])},
	{"W1", "W1 ops/s ≥ 1.1× Redis (interleaved)", ratio(ilW1Ops[ilOurs], ilW1Ops[ilRedis]), false, 1.1, "×", ratio(ilW1Ops[ilFloor], ilW1Ops[ilRedis])},
	{"W8", "W8 ops/s ≥ 3× our W1 ops/s", ratio(ours("W8", "", "ops_per_s"), ilW1Ops[ilOurs]), false, 3, "×", ratio(conn8Floor, ilW1Ops[ilFloor])},
	{"W2", "W2 atomic add ≥ Redis INCR", ratio(ours("W2", "atomic", "increments_per_s"), anchor("L4.redis.W2.contended.incr", "incr_per_s", 1)), false, 1, "×", nil},
	{"W2", "W2 lock pattern ≥ 2× Python", ratio(ours("W2", "lock", "increments_per_s"), py("W2", "increments_per_s")), false, 2, "×", nil},
	{"W3", "W3 ≥ 2× Python", ratio(ours("W3", "", "items_per_s"), py("W3", "items_per_s")), false, 2, "×", nil},
	{"W3", "W3 ≥ Redis", ratio(ours("W3", "", "items_per_s"), anchor("L4.redis.W3.queue", "items_per_s", 1)), false, 1, "×", nil},
	{"W4", "W4 ≥ 3× Python (interleaved)", ratio(ilW4Pairs[ilOurs], ilW4Pairs[ilPython]), false, 3, "×", ratio(ilW4Pairs[ilFloor], ilW4Pairs[ilPython])},
	{"W6", "W6 ≥ 2× Python MB/s (interleaved)", ratio(ilW6MB[ilOurs], ilW6MB[ilPython]), false, 2, "×", ratio(ilW6MB[ilRedis], ilW6MB[ilPython])},
	{"W7", "W7 manager start + first op ≤ 1.1× a bare re-exec serving one round trip (L6, interleaved)", ratio(ilW7First, ilL6Ready), true, 1.1, "×", nil},
	{"W7", "W7 4 workers forked and waited ≤ 1.1× 4 bare re-execs (L6, interleaved)", ratio(ilW7Four, ilL6Four), true, 1.1, "×", nil},
	{"W1", "W1 client allocations per op ≤ 4", ilW1Allocs, true, 4, "", nil},
	{"W9", "W9 ≥ 2× go-redis pipelines of 100", ratio(ours("W9", "batch", "ops_per_s"), ours("W9", "go-redis", "ops_per_s")), false, 2, "×", nil},
	{"W10", "W10 RSS per entry ≤ 100 B", ours("W10", "", "bytes_per_entry"), true, 100, " B", scaling("redis", "mem", "bytes_per_entry")},
	{"W10", "W10 fill ≥ Python's update()", ratio(ours("W10", "", "fill_entries_per_s"), scalingFill("python", "mem")), false, 1, "×", ratio(scalingFill("redis", "mem"), scalingFill("python", "mem"))},
}

// incorrect reports whether a row says its run was wrong.
func incorrect(m map[string]any) bool {
	for _, k := range []string{"correct", "exactly_once"} {
		if b, ok := m[k].(bool); ok && !b {
			return true
		}
	}
	return false
}

// measured is the figure v read from a row, marked bad if the row (or
// an object on the way to the field) is incorrect.
func measured(v float64, ok, bad bool) fig {
	return fig{v: v, ok: ok, bad: ok && bad}
}

// ours reads field of our row of workload (and variant, if given).
func ours(workload, variant, field string) getter {
	return func(rd trial) fig {
		for _, r := range rd.ours {
			if r.vals["workload"] == workload && (variant == "" || r.vals["variant"] == variant) {
				v, ok := r.num(field)
				return measured(v, ok, incorrect(r.vals))
			}
		}
		return fig{}
	}
}

// py reads a field of Python's row of workload, following nested
// objects; each object on the way is checked for correctness.
func py(workload string, path ...string) getter {
	return func(rd trial) fig {
		for _, r := range rd.python {
			if r["workload"] == workload {
				return lookup(r, path)
			}
		}
		return fig{}
	}
}

// anchor reads field of the Go anchors' row id, times scale.
func anchor(id, field string, scale float64) getter {
	return func(rd trial) fig {
		for _, r := range rd.anchor {
			if r["id"] == id {
				f := lookup(r, []string{field})
				f.v *= scale
				return f
			}
		}
		return fig{}
	}
}

// scaling reads field of a scaling program's row: sys "python" or
// "redis", experiment exp, at the size the round ran (the first such row).
func scaling(sys, exp, field string) getter {
	return func(rd trial) fig {
		for _, r := range rd.scaling {
			if r["sys"] == sys && r["exp"] == exp {
				return lookup(r, []string{field})
			}
		}
		return fig{}
	}
}

// scalingFill is the fill rate of a scaling program's mem experiment:
// entries / fill_s (its only timing of the fill with 16-byte strings).
func scalingFill(sys, exp string) getter {
	return ratio(scaling(sys, exp, "entries"), scaling(sys, exp, "fill_s"))
}

func lookup(m map[string]any, path []string) fig {
	bad := incorrect(m)
	for i, k := range path {
		if i == len(path)-1 {
			v, ok := number(m[k])
			return measured(v, ok, bad)
		}
		next, ok := m[k].(map[string]any)
		if !ok {
			return fig{}
		}
		m = next
		bad = bad || incorrect(m)
	}
	return fig{}
}

// ratio is a / b, measured in one round; it is bad if either is.
func ratio(a, b getter) getter {
	if a == nil || b == nil {
		return nil
	}
	return func(rd trial) fig {
		x, y := a(rd), b(rd)
		if !x.ok || !y.ok || y.v == 0 {
			return fig{}
		}
		return fig{v: x.v / y.v, ok: true, bad: x.bad || y.bad}
	}
}

// A summary is a getter's figure over all rounds: the median of the
// rounds that measured it, or the rounds whose runs were incorrect (and
// then no figure at all).
type summary struct {
	v   float64
	ok  bool
	bad []int // 1-based rounds whose run was incorrect
}

// summarize is g's median over the rounds that measured it, unless any
// round's run was incorrect: then the figure is refused.
func summarize(rounds []trial, g getter) summary {
	if g == nil {
		return summary{}
	}
	var xs []float64
	var bad []int
	for i, rd := range rounds {
		f := g(rd)
		switch {
		case f.bad:
			bad = append(bad, i+1)
		case f.ok:
			xs = append(xs, f.v)
		}
	}
	if len(bad) > 0 {
		return summary{bad: bad}
	}
	if len(xs) == 0 {
		return summary{}
	}
	return summary{v: median(xs), ok: true}
}

// refusal is what a cell says instead of an incorrect run's figure.
func (s summary) refusal() string {
	runs := make([]string, len(s.bad))
	for i, r := range s.bad {
		runs[i] = strconv.Itoa(r)
	}
	return "**incorrect run** (" + strings.Join(runs, ", ") + ")"
}

// printComparison prints the ratio table and the targets as Markdown.
// Every ratio is computed within one round, then the median taken; a
// figure from a run that reported itself incorrect is refused, and so is
// every ratio that uses it.
func printComparison(w io.Writer, rounds []trial, sel []string) {
	fmt.Fprintln(w)
	note := ""
	if len(rounds) > 1 {
		note = fmt.Sprintf(" (medians of %d interleaved runs)", len(rounds))
	}
	fmt.Fprintf(w, "Ratios, ours ÷ theirs, measured in one invocation%s. ↑: higher is better; ↓: lower is better.\n\n", note)
	if slices.ContainsFunc(sel, func(w string) bool { return slices.Contains(ilWorkloads, w) }) {
		fmt.Fprintf(w, "W1, W4, W6 and our W7 are interleaved: each round runs %d blocks, each block every side once in a rotating order "+
			"(ours on a fresh manager for 1/%d of the iterations or repeats, W6 for %d stores and loads of 1 MiB; one Python --quick process for W1, W4 and W6 (50); "+
			"one anchorbench -only L1 (,L6 for W7) -quick; one anchorbench -only L4 -quick for Redis's W1, W4 and W6 (50)); "+
			"throughput (W6's MB/s too) pooled over a round's blocks, percentiles and W7's times the median of the blocks'. The other workloads, and Python's W7, run one side after the other.\n\n",
			ilBlocks, ilBlocks, oursBlockIters("W6"))
	}
	fmt.Fprintln(w, "| workload | metric | manager | Python | Redis | floor | ÷ Python | ÷ Redis | ÷ floor |")
	fmt.Fprintln(w, "|---|---|--:|--:|--:|--:|--:|--:|--:|")
	for _, m := range metrics {
		if !slices.Contains(sel, m.workload) {
			continue
		}
		cells := []string{m.workload, m.what + " " + arrow(m.lowerBetter)}
		for _, g := range []getter{m.ours, m.python, m.redis, m.floor} {
			cells = append(cells, cell(summarize(rounds, g)))
		}
		for _, g := range []getter{m.python, m.redis, m.floor} {
			cells = append(cells, ratioCell(summarize(rounds, ratio(m.ours, g))))
		}
		fmt.Fprintf(w, "| %s |\n", strings.Join(cells, " | "))
	}
	fmt.Fprintln(w)
	printBlockSpread(w, rounds)
	printTargets(w, rounds, targets, sel, "the same for the bound: raw socket; Redis (W6, W10)")
}

// printTargets prints the targets of the selected workloads, met or not,
// each checked on every round's figures and the median taken; boundWhat
// heads the column of the bounds.
func printTargets(w io.Writer, rounds []trial, targets []target, sel []string, boundWhat string) {
	fmt.Fprintf(w, "| target | measured | met | %s |\n", boundWhat)
	fmt.Fprintln(w, "|---|--:|---|--:|")
	for _, t := range targets {
		if !slices.Contains(sel, t.workload) {
			continue
		}
		s := summarize(rounds, t.value)
		bound := ""
		if b := summarize(rounds, t.bound); b.ok {
			bound = short(b.v) + t.unit
		}
		switch {
		case len(s.bad) > 0:
			fmt.Fprintf(w, "| %s | %s | **refused** | %s |\n", t.what, s.refusal(), bound)
			continue
		case !s.ok:
			fmt.Fprintf(w, "| %s | — | not measured | %s |\n", t.what, bound)
			continue
		}
		met := s.v >= t.limit
		if t.max {
			met = s.v <= t.limit
		}
		verdict := "yes"
		if !met {
			verdict = "**no**"
		}
		fmt.Fprintf(w, "| %s | %s%s | %s | %s |\n", t.what, short(s.v), t.unit, verdict, bound)
	}
}

func cell(s summary) string {
	switch {
	case len(s.bad) > 0:
		return s.refusal()
	case !s.ok:
		return "—"
	}
	return short(s.v)
}

func ratioCell(s summary) string {
	switch {
	case len(s.bad) > 0:
		return "refused"
	case !s.ok:
		return "—"
	}
	return strconv.FormatFloat(s.v, 'f', 2, 64) + "×"
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

// arrow marks a metric's better direction in a table: ↑ when higher is
// better, ↓ when lower is.
func arrow(lowerBetter bool) string {
	if lowerBetter {
		return "↓"
	}
	return "↑"
}
