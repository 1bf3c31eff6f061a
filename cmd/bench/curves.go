package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/goproc/manager"
)

// The curves (-curves): how throughput and latency move with the number
// of client processes, and with the size of the values, beside the same
// curves of Redis and Python's Manager (the scaling anchors' conc and
// vsize experiments), with the anchors' field names ("exp", "sys").

// concProcs are the points of the concurrent-process curve.
var concProcs = []int{1, 2, 4, 8, 16, 32}

// concOps is the operations of one point, shared among its processes.
func concOps() int { return n(40_000, 4_000) }

// vsizes are the points of the value-size curve.
var vsizes = []int{8, 1 << 10, 64 << 10, 1 << 20}

// vsizeIters is the (store; load) pairs at one value size: enough for a
// stable p99 at small sizes, and about 400 MB moved at 1 MiB (W6's size).
func vsizeIters(size int) int {
	it := min(10_000, max(200, (200<<20)/size))
	if *quick {
		it = max(20, it/10)
	}
	return it
}

func init() {
	manager.RegisterWorker("bench/conc", concWorker)
}

// concSection is the concurrent-process curve, on every side.
func concSection(dir string, compare bool) section {
	sec := section{name: "curve conc"}
	list := joinInts(concProcs)
	ops := strconv.Itoa(concOps())
	sec.run[sideOurs] = func(rd *trial, round int) error {
		for _, p := range concProcs {
			r, err := withTimeout(func(ctx context.Context) (*row, error) { return runConc(ctx, p, concOps()) })
			if err != nil {
				return fmt.Errorf("conc %d processes: %w", p, err)
			}
			rd.ours = append(rd.ours, emitOurs(r, round))
		}
		return nil
	}
	if compare {
		sec.run[sidePython] = func(rd *trial, round int) error {
			rd.scaling = append(rd.scaling, runPythonScaling(dir, round, "conc", list, "--iters", ops)...)
			return nil
		}
		sec.run[sideAnchors] = func(rd *trial, round int) error {
			rd.scaling = append(rd.scaling, runRedisScaling(dir, round, "conc", list, "-iters", ops)...)
			return nil
		}
	}
	return sec
}

// vsizeSection is the value-size curve, on every side.
func vsizeSection(dir string, compare bool) section {
	sec := section{name: "curve vsize"}
	sec.run[sideOurs] = func(rd *trial, round int) error {
		for _, size := range vsizes {
			r, err := withTimeout(func(ctx context.Context) (*row, error) { return runVsize(ctx, size, vsizeIters(size)) })
			if err != nil {
				return fmt.Errorf("vsize %d bytes: %w", size, err)
			}
			rd.ours = append(rd.ours, emitOurs(r, round))
		}
		return nil
	}
	if compare {
		// One invocation per size: each size has its own iterations.
		sec.run[sidePython] = func(rd *trial, round int) error {
			for _, size := range vsizes {
				rd.scaling = append(rd.scaling, runPythonScaling(dir, round, "vsize", strconv.Itoa(size), "--iters", strconv.Itoa(vsizeIters(size)))...)
			}
			return nil
		}
		sec.run[sideAnchors] = func(rd *trial, round int) error {
			for _, size := range vsizes {
				rd.scaling = append(rd.scaling, runRedisScaling(dir, round, "vsize", strconv.Itoa(size), "-iters", strconv.Itoa(vsizeIters(size)))...)
			}
			return nil
		}
	}
	return sec
}

// withTimeout runs fn under workloadTimeout.
func withTimeout(fn func(ctx context.Context) (*row, error)) (*row, error) {
	ctx, cancel := context.WithTimeout(context.Background(), workloadTimeout)
	defer cancel()
	return fn(ctx)
}

// emitOurs marks and prints one of our rows, and returns it.
func emitOurs(r *row, round int) *row {
	r.set("quick", *quick)
	if *compare && *runs > 1 {
		r.set("run", round+1)
	}
	emit(r)
	return r
}

// runConc is one point of the concurrent-process curve: procs client
// processes, total operations among them, each storing then loading its
// own keys, timed from a barrier (from the earliest start to the latest
// end), as the anchors' conc experiment.
func runConc(ctx context.Context, procs, total int) (*row, error) {
	per := total / procs / 2
	m, d, stop, err := startWithDict(ctx)
	if err != nil {
		return nil, err
	}
	defer stop()
	b, out, err := rendezvous(ctx, m, procs)
	if err != nil {
		return nil, err
	}
	forks := make([]fork, procs)
	for w := range forks {
		forks[w] = fork{"bench/conc", []any{d, w, per, b, out}}
	}
	spans, err := runWorkers(ctx, m, out, forks)
	if err != nil {
		return nil, err
	}
	size, err := d.Len(ctx)
	if err != nil {
		return nil, err
	}
	var all latencies
	for _, s := range spans {
		for _, ns := range s.Lat {
			all = append(all, time.Duration(ns))
		}
	}
	all.sort()
	el, ops := elapsed(spans), procs*per*2
	return newRow("exp", "conc", "sys", "manager", "procs", procs, "ops", ops,
		"correct", size == procs*per && len(all) == ops,
		"elapsed_s", round(el.Seconds(), 3), "ops_per_s", round(float64(ops)/el.Seconds(), 0),
		"p50_us", round(all.pct(50), 2), "p99_us", round(all.pct(99), 2)), nil
}

// concWorker is one client process of the curve: it warms up its
// connection as the anchors' workers do (50 stores of its own warm-up
// key, then deletes it), waits at the barrier, and stores then loads
// keys w×10⁷ … w×10⁷+per−1, timing each operation.
func concWorker(ctx context.Context, _ *manager.Client, args manager.Args) error {
	var d *manager.Dict[int, int]
	var w, per int
	var b *manager.Barrier
	var out *manager.Queue[span]
	if err := args.Decode(&d, &w, &per, &b, &out); err != nil {
		return err
	}
	for i := range 50 {
		if err := d.Store(ctx, -1-w, i); err != nil {
			return err
		}
	}
	if _, err := d.Delete(ctx, -1-w); err != nil {
		return err
	}
	t0, err := start(ctx, b)
	if err != nil {
		return err
	}
	lat := make([]int64, 0, 2*per)
	if err := storeLoadRange(ctx, d, w*10_000_000, per, func(l time.Duration) { lat = append(lat, int64(l)) }); err != nil {
		return err
	}
	return out.Put(ctx, span{Start: t0, End: time.Now().UnixNano(), Lat: lat})
}

// runVsize is one point of the value-size curve: iters × (store; load) of
// a size-byte random value under one key, after 20 warm-up pairs of the
// same value (as the anchors' vsize experiment).
func runVsize(ctx context.Context, size, iters int) (*row, error) {
	blob, d, stop, err := newBlobDict(ctx, size)
	if err != nil {
		return nil, err
	}
	defer stop()
	for range 20 {
		if err := d.Store(ctx, "big", blob); err != nil {
			return nil, err
		}
		if _, _, err := d.Load(ctx, "big"); err != nil {
			return nil, err
		}
	}
	sets, gets, got, el, err := storeLoadTimes(ctx, d, blob, iters)
	if err != nil {
		return nil, err
	}
	sets.sort()
	gets.sort()
	return newRow("exp", "vsize", "sys", "manager", "value_bytes", size, "iters", iters,
		"correct", bytes.Equal(got, blob),
		"ops_per_s", round(float64(2*iters)/el.Seconds(), 0),
		"mb_per_s", round(float64(2*iters*size)/el.Seconds()/1e6, 2),
		"set_p50_us", round(sets.pct(50), 2), "get_p50_us", round(gets.pct(50), 2),
		"set_p99_us", round(sets.pct(99), 2), "get_p99_us", round(gets.pct(99), 2)), nil
}

// curveAt reads field of the row of a curve (exp) at one point (key = x)
// from sys: "manager" (ours), "python" or "redis".
func curveAt(sys, exp, key string, x int, field string) getter {
	at := func(m map[string]any) bool {
		v, ok := number(m[key])
		return m["exp"] == exp && ok && v == float64(x)
	}
	return func(rd trial) fig {
		if sys == "manager" {
			for _, r := range rd.ours {
				if at(r.vals) {
					v, ok := r.num(field)
					return measured(v, ok, incorrect(r.vals))
				}
			}
			return fig{}
		}
		for _, r := range rd.scaling {
			if r["sys"] == sys && at(r) {
				return lookup(r, []string{field})
			}
		}
		return fig{}
	}
}

// printCurves prints the two curves as Markdown tables: ours, Python and
// Redis, and our ratios to each (medians over the rounds, each ratio
// computed within its round; an incorrect run's figures are refused).
func printCurves(w io.Writer, rounds []trial) {
	systems := []string{"manager", "python", "redis"}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "Concurrent processes: %d operations (store then load, own keys) shared among P client processes, timed from a barrier. ↑ ops/s, ↓ p99.\n\n", concOps())
	fmt.Fprintln(w, "| processes | manager ops/s | Python ops/s | Redis ops/s | ÷ Python | ÷ Redis | manager p99 µs | Python p99 µs | Redis p99 µs |")
	fmt.Fprintln(w, "|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
	for _, p := range concProcs {
		cells := []string{strconv.Itoa(p)}
		g := func(sys, field string) getter { return curveAt(sys, "conc", "procs", p, field) }
		for _, sys := range systems {
			cells = append(cells, cell(summarize(rounds, g(sys, "ops_per_s"))))
		}
		for _, sys := range systems[1:] {
			cells = append(cells, ratioCell(summarize(rounds, ratio(g("manager", "ops_per_s"), g(sys, "ops_per_s")))))
		}
		for _, sys := range systems {
			cells = append(cells, cell(summarize(rounds, g(sys, "p99_us"))))
		}
		fmt.Fprintf(w, "| %s |\n", strings.Join(cells, " | "))
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Value size: (store; load) of one value, sequential, one client. MB/s counts both directions. ↑ MB/s, ↓ latencies (store / load).")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| value bytes | manager MB/s | Python MB/s | Redis MB/s | ÷ Python | ÷ Redis | p50 µs manager | p50 µs Python | p50 µs Redis | p99 µs manager | p99 µs Python | p99 µs Redis |")
	fmt.Fprintln(w, "|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
	for _, size := range vsizes {
		cells := []string{short(float64(size))}
		g := func(sys, field string) getter { return curveAt(sys, "vsize", "value_bytes", size, field) }
		for _, sys := range systems {
			cells = append(cells, cell(summarize(rounds, g(sys, "mb_per_s"))))
		}
		for _, sys := range systems[1:] {
			cells = append(cells, ratioCell(summarize(rounds, ratio(g("manager", "mb_per_s"), g(sys, "mb_per_s")))))
		}
		for _, pct := range []string{"p50", "p99"} {
			for _, sys := range systems {
				cells = append(cells, pairCell(summarize(rounds, g(sys, "set_"+pct+"_us")), summarize(rounds, g(sys, "get_"+pct+"_us"))))
			}
		}
		fmt.Fprintf(w, "| %s |\n", strings.Join(cells, " | "))
	}
	fmt.Fprintln(w)
	printTargets(w, rounds, curveTargets, []string{"curves"}, "the same for Python")
}

// curveTargets are the targets the curves check (issue 13).
var curveTargets = []target{
	{"curves", "64 KiB values: MB/s ≥ Redis's (value-size curve)",
		ratio(curveAt("manager", "vsize", "value_bytes", 64<<10, "mb_per_s"), curveAt("redis", "vsize", "value_bytes", 64<<10, "mb_per_s")),
		false, 1, "×", ratio(curveAt("python", "vsize", "value_bytes", 64<<10, "mb_per_s"), curveAt("redis", "vsize", "value_bytes", 64<<10, "mb_per_s"))},
}

// pairCell is "store / load", or "—" when neither was measured.
func pairCell(set, get summary) string {
	if !set.ok && !get.ok && len(set.bad) == 0 && len(get.bad) == 0 {
		return "—"
	}
	return cell(set) + " / " + cell(get)
}

func joinInts(xs []int) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = strconv.Itoa(x)
	}
	return strings.Join(s, ",")
}
