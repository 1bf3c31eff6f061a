package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// W1, W4, W6 and W7 of every side, interleaved in blocks (with
// -compare). Each side running its whole section minutes apart from the
// others let the drift of a shared machine into the ratios (W1 ÷ Python
// went 3.43× → 1.15× between two quiet runs while ours ÷ the raw floor,
// measured interleaved inside W1, stayed 1.10–1.15×; W6 ÷ Python read
// 3.69× in one run and 0.20× in another, Python's W6 1,542 and 244 MB/s
// in two runs back to back). So each round runs ilBlocks blocks, and
// each block runs every side once, in an order that rotates block by
// block and round by round (blockOrder):
//
//   - ours: W1 on a fresh manager for 1/ilBlocks of its iterations (with
//     its 200 warm-up iterations and its own interleaved floor), then W4
//     for 1/ilBlocks of its pairs, then W6 on a fresh manager for 50
//     stores and loads of 1 MiB (10 with -quick; see oursBlockIters),
//     then W7 for 1/ilBlocks of its repeats (its figures are medians of
//     repeats; a round's is the median of its blocks', as for L6's);
//   - Python: one python_manager_bench.py --quick process running W1,
//     W4 and W6 (a fresh Manager each; --quick runs 1,000 iterations of
//     W1 and W4 and 50 of W6), each as often as it takes to match ours, by
//     repeating them in --only (W1,W4,W6,W1,W4 in full mode): the script
//     has no iteration-count flag. W6 runs once: its 50 iterations are
//     ours in full mode, so both sides move 250 × 2 MiB a round (the
//     per-section runs moved 200); with -quick ours does 10;
//   - the raw floor, when W1, W4 or W7 runs: one anchorbench -only L1
//     -quick process (its L1 is all or nothing: 20,000 sequential round
//     trips, which give W1's floor, then the multiplexed and 8-connection
//     figures, which give W8's), -only L1,L6 when W7 runs (L6's 8 repeats
//     of each re-exec);
//   - Redis, when W1, W4 or W6 runs: one anchorbench -only L4 -quick
//     process (its L4 is all or nothing: a fresh redis-server, W1 for
//     2,000 iterations, W2, W3, W4 for 2,000 pairs, W6 for 50 SETs then
//     50 GETs of 1 MiB, then redis-benchmark; the table uses W1, W4 and
//     W6, and the per-section L4 gives W2 and W3).
//
// Each block's figures are what each program measured itself: nothing is
// subtracted, and the processes' start-up is outside every timing. A
// side's throughput in a round is pooled over its blocks (all its
// operations ÷ the time they took), its p50 and p99 are the median of
// its blocks' (the programs print percentiles, not latencies, so they
// cannot be pooled; the median of per-block percentiles is the same
// statistic for every side). Ratios are of the pooled figures of one
// round, then the median over rounds, as for every other line.

// ilBlocks is the number of blocks per round. Five makes ours, Redis and
// the floor run exactly their full sizes per round (10,000 W1 iterations;
// L1's 20,000 × 5 = 100,000 round trips) with Python at 2 × 1,000 per
// block, and keeps the round's time about what the per-section runs
// took (each anchorbench block costs ~5 s, most of it outside W1).
const ilBlocks = 5

// The sides of an interleaved block.
const (
	ilOurs = iota
	ilPython
	ilFloor // anchorbench L1
	ilRedis // anchorbench L4
	ilSides
)

// ilSideNames name the sides in progress messages and tables.
var ilSideNames = [ilSides]string{"manager", "python", "floor (L1)", "redis (L4)"}

// A block is the rows each side printed in one interleaved block; ours
// are the rows' fields.
type block [ilSides][]map[string]any

// ilWorkloads are our workloads that run interleaved with -compare;
// Python's part of a block runs ilPythonWorkloads (its W7 runs every
// start method, seconds each, and stays in the workloads section), the
// floor's runs for ilFloorWorkloads and Redis's for ilRedisWorkloads.
var (
	ilWorkloads       = []string{"W1", "W4", "W6", "W7"}
	ilPythonWorkloads = []string{"W1", "W4", "W6"}
	ilFloorWorkloads  = []string{"W1", "W4", "W7"}
	ilRedisWorkloads  = []string{"W1", "W4", "W6"}
)

// pyQuickIters is how many iterations (W4: pairs) one --quick run of
// each of ilPythonWorkloads does in python_manager_bench.py.
var pyQuickIters = map[string]int{"W1": 1000, "W4": 1000, "W6": 50}

// inList is the workloads of sel that are in among.
func inList(sel, among []string) []string {
	var out []string
	for _, w := range sel {
		if slices.Contains(among, w) {
			out = append(out, w)
		}
	}
	return out
}

// anchorBin is the anchorbench binary, built once per invocation in
// buildAnchors so that no block pays go run's build; empty when the
// build failed (the anchors' columns then stay empty).
var anchorBin string

// buildAnchors builds the Go anchors (DIR/go) into tmp.
func buildAnchors(dir, tmp string) {
	bin := filepath.Join(tmp, "anchorbench")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Dir = filepath.Join(dir, "go")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	fmt.Fprintf(os.Stderr, "bench: building the Go anchors: %s (in %s)\n", strings.Join(cmd.Args, " "), cmd.Dir)
	if err := cmd.Run(); err != nil {
		fmt.Fprintf(os.Stderr, "bench: go build of the anchors: %v (their columns stay empty)\n", err)
		return
	}
	anchorBin = bin
}

// pythonBin is Debian's python3 when there is one (the anchors' figures
// were measured with it), else the python3 on PATH.
func pythonBin() string {
	if _, err := os.Stat("/usr/bin/python3"); err == nil {
		return "/usr/bin/python3"
	}
	return "python3"
}

// pythonReps is how many times a Python block repeats a workload whose
// --quick run does perRun iterations to match ours' iterations per
// block: the nearest whole number, at least one.
func pythonReps(oursPerBlock, perRun int) int {
	return max(1, (oursPerBlock+perRun/2)/perRun)
}

// pythonOnly is the --only list of a Python block: each workload of sel
// as often as it takes to match ours' iterations per block (oursPer),
// the repeats taking turns (W1,W4,W6,W1,W4).
func pythonOnly(sel []string, oursPer func(w string) int) string {
	reps := make([]int, len(sel))
	for i, w := range sel {
		reps[i] = pythonReps(oursPer(w), pyQuickIters[w])
	}
	var ws []string
	for r := range slices.Max(reps) {
		for i, w := range sel {
			if r < reps[i] {
				ws = append(ws, w)
			}
		}
	}
	return strings.Join(ws, ",")
}

// interleavedSection runs the selected workloads among ilWorkloads of
// every side in blocks.
func interleavedSection(sel []string, dir string) section {
	sec := section{name: strings.Join(sel, ",") + " interleaved in blocks (every side)"}
	sec.run[sideOurs] = func(rd *trial, round int) error {
		for b, order := range ilSchedule(round) {
			var blk block
			for _, s := range order {
				if !blockSideRuns(s, sel) {
					continue
				}
				fmt.Fprintf(os.Stderr, "bench: block %d of %d: %s\n", b+1, ilBlocks, ilSideNames[s])
				rows, err := runBlockSide(s, sel, dir, round, b)
				if err != nil {
					return fmt.Errorf("block %d, %s: %w", b+1, ilSideNames[s], err)
				}
				blk[s] = rows
			}
			rd.blocks = append(rd.blocks, blk)
		}
		return nil
	}
	return sec
}

// ilSchedule is the order of the sides in each block of round r: every
// side once per block, the first side moving on by one block by block
// and round by round (blockOrder), so that within a round each side runs
// in every position, and no side always runs just after another's
// warm-up or just before the next round.
func ilSchedule(r int) [][]int {
	s := make([][]int, ilBlocks)
	for b := range s {
		s[b] = blockOrder(ilSides, b, r)
	}
	return s
}

// blockSideRuns reports whether side s has a part in the blocks of the
// workloads sel: Python and Redis for W1, W4 or W6 (Python's W7 stays in
// the workloads section; Redis has none), the floor for W1, W4 or W7
// (W6 has none), ours always.
func blockSideRuns(s int, sel []string) bool {
	switch s {
	case ilPython:
		return len(inList(sel, ilPythonWorkloads)) > 0
	case ilFloor:
		return len(inList(sel, ilFloorWorkloads)) > 0
	case ilRedis:
		return len(inList(sel, ilRedisWorkloads)) > 0
	}
	return true
}

// runBlockSide runs one side's part of block b and returns its rows.
func runBlockSide(s int, sel []string, dir string, round, b int) ([]map[string]any, error) {
	switch s {
	case ilOurs:
		rows, err := runOursBlock(sel, round, b)
		var out []map[string]any
		for _, r := range rows {
			out = append(out, r.vals)
		}
		return out, err
	case ilPython:
		py := inList(sel, ilPythonWorkloads)
		args := []string{filepath.Join(dir, "python_manager_bench.py"), "--quick",
			"--only", pythonOnly(py, oursBlockIters)}
		cmd := exec.Command(pythonBin(), args...)
		fmt.Fprintf(os.Stderr, "bench: running %s\n", strings.Join(cmd.Args, " "))
		return runAnchorProgram(cmd, "python", round, b+1), nil
	case ilFloor, ilRedis:
		if anchorBin == "" {
			return nil, nil
		}
		sec := "L1"
		if slices.Contains(sel, "W7") {
			sec += ",L6"
		}
		if s == ilRedis {
			sec = "L4"
		}
		cmd := exec.Command(anchorBin, "-only", sec, "-quick")
		fmt.Fprintf(os.Stderr, "bench: running %s\n", strings.Join(cmd.Args, " "))
		return runAnchorProgram(cmd, "anchorbench", round, b+1), nil
	}
	return nil, fmt.Errorf("no side %d", s)
}

// oursBlockIters is our iterations of workload w (W4: pairs; W7:
// repeats) per block: 1/ilBlocks of a per-section run's, but W6's, whose
// 50 (10 with -quick) match one python_manager_bench.py --quick W6 run
// (five blocks of 40 would leave Python moving a quarter more bytes).
func oursBlockIters(w string) int {
	switch w {
	case "W6":
		return n(50, 10)
	case "W7":
		return max(1, n(10, 3)/ilBlocks)
	}
	return n(10000, 1000) / ilBlocks
}

// runOursBlock runs our part of block b: each selected workload for
// oursBlockIters iterations, on a fresh manager, printing its rows.
func runOursBlock(sel []string, round, b int) ([]*row, error) {
	var all []*row
	for _, w := range sel {
		ctx, cancel := context.WithTimeout(context.Background(), workloadTimeout)
		var rows []*row
		var err error
		switch w {
		case "W1":
			rows, err = w1(ctx, oursBlockIters(w))
		case "W4":
			rows, err = w4(ctx, oursBlockIters(w))
		case "W6":
			rows, err = w6(ctx, oursBlockIters(w))
		case "W7":
			rows, err = w7(ctx, oursBlockIters(w))
		default:
			err = fmt.Errorf("%s does not run interleaved", w)
		}
		cancel()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", w, err)
		}
		for _, r := range rows {
			r.set("quick", *quick)
			r.set("interleaved", true)
			if *runs > 1 {
				r.set("run", round+1)
			}
			r.set("block", b+1)
			emit(r)
		}
		all = append(all, rows...)
	}
	return all, nil
}

// ilRate is a side's throughput in one round, pooled over the round's
// blocks: the operations (opsField) of its rows whose field key is val,
// over the time they took (each row's operations ÷ its rateField), times
// scale. A row that says its run was incorrect makes the figure bad.
func ilRate(s int, key, val, opsField, rateField string, scale float64) getter {
	return func(rd trial) fig {
		var ops, secs float64
		bad := false
		for _, blk := range rd.blocks {
			for _, r := range blk[s] {
				o, ok1 := number(r[opsField])
				v, ok2 := number(r[rateField])
				if r[key] != val || !ok1 || !ok2 || v <= 0 {
					continue
				}
				ops, secs = ops+o, secs+o/v
				bad = bad || incorrect(r)
			}
		}
		if secs == 0 {
			return fig{}
		}
		return measured(ops/secs*scale, true, bad)
	}
}

// ilMedian is the median, over one round's blocks, of field of a side's
// rows whose field key is val, times scale.
func ilMedian(s int, key, val, field string, scale float64) getter {
	return func(rd trial) fig {
		var xs []float64
		bad := false
		for _, blk := range rd.blocks {
			for _, r := range blk[s] {
				if v, ok := number(r[field]); ok && r[key] == val {
					xs = append(xs, v)
					bad = bad || incorrect(r)
				}
			}
		}
		if len(xs) == 0 {
			return fig{}
		}
		return measured(median(xs)*scale, true, bad)
	}
}

// either is the first of gs that measured its figure in a round: the
// interleaved blocks' figure, or else the per-section one.
func either(gs ...getter) getter {
	return func(rd trial) fig {
		for _, g := range gs {
			if f := g(rd); f.ok {
				return f
			}
		}
		return fig{}
	}
}

// The interleaved figures of the ratio table and the targets.
var (
	ilW1Ops     = [ilSides]getter{ilRate(ilOurs, "workload", "W1", "ops", "ops_per_s", 1), ilRate(ilPython, "workload", "W1", "ops", "ops_per_s", 1), ilRate(ilFloor, "id", "L1.uds.seq", "n", "rt_per_s", 1), ilRate(ilRedis, "id", "L4.redis.W1.dict-rtt.seq", "n", "ops_per_s", 1)}
	ilW1P50     = [ilSides]getter{ilMedian(ilOurs, "workload", "W1", "p50_us", 1), ilMedian(ilPython, "workload", "W1", "p50_us", 1), ilMedian(ilFloor, "id", "L1.uds.seq", "p50_us", 1), ilMedian(ilRedis, "id", "L4.redis.W1.dict-rtt.seq", "p50_us", 1)}
	ilW1P99     = [ilSides]getter{ilMedian(ilOurs, "workload", "W1", "p99_us", 1), ilMedian(ilPython, "workload", "W1", "p99_us", 1), ilMedian(ilFloor, "id", "L1.uds.seq", "p99_us", 1), ilMedian(ilRedis, "id", "L4.redis.W1.dict-rtt.seq", "p99_us", 1)}
	ilW4Pairs   = [ilSides]getter{ilRate(ilOurs, "workload", "W4", "pairs", "pairs_per_s", 1), ilRate(ilPython, "workload", "W4", "pairs", "pairs_per_s", 1), ilRate(ilFloor, "id", "L1.uds.seq", "n", "rt_per_s", 0.5), ilRate(ilRedis, "id", "L4.redis.W4.lock", "n", "pairs_per_s", 1)}
	ilW4P50     = [ilSides]getter{ilMedian(ilOurs, "workload", "W4", "pair_p50_us", 1), ilMedian(ilPython, "workload", "W4", "pair_p50_us", 1), ilMedian(ilFloor, "id", "L1.uds.seq", "p50_us", 2), ilMedian(ilRedis, "id", "L4.redis.W4.lock", "pair_p50_us", 1)}
	ilW1InFloor = ilMedian(ilOurs, "workload", "W1", "floor_p50_us", 1)
	ilW1VsFloor = ilMedian(ilOurs, "workload", "W1", "p50_vs_floor", 1)
	ilW1Allocs  = ilMedian(ilOurs, "workload", "W1", "client_allocs_per_op", 1)
	ilW7First   = ilMedian(ilOurs, "workload", "W7", "manager_start_plus_first_op_ms", 1)
	ilW7Four    = ilMedian(ilOurs, "workload", "W7", "start_join_4_procs_ms", 1)
	ilL6Ready   = ilMedian(ilFloor, "id", "L6.spawn.server-ready", "median_ms", 1)
	ilL6Four    = ilMedian(ilFloor, "id", "L6.spawn.4", "median_ms", 1)
	conn8Floor  = either(ilRate(ilFloor, "id", "L1.uds.conn8", "n", "rt_per_s", 1), anchor("L1.uds.conn8", "rt_per_s", 1))
)

// W6's MB/s pooled over the blocks: bytes (Redis: its iterations,
// whose bytes are proportional) over the time they took; Redis's from
// the per-section L4 when no block ran it.
var ilW6MB = [ilSides]getter{ilRate(ilOurs, "workload", "W6", "bytes_moved", "mb_per_s", 1), ilRate(ilPython, "workload", "W6", "bytes_moved", "MB_per_s", 1), nil, either(ilRate(ilRedis, "id", "L4.redis.W6.large", "n", "both_MB_per_s", 1), anchor("L4.redis.W6.large", "both_MB_per_s", 1))}

// printBlockSpread prints, for each interleaved throughput, the spread of
// ours ÷ each other side block by block: how far the ratio moves within
// a run, on this machine at this time.
func printBlockSpread(w io.Writer, rounds []trial) {
	lines := []struct {
		what string
		gs   [ilSides]getter
	}{{"W1 ops/s", ilW1Ops}, {"W4 pairs/s", ilW4Pairs}, {"W6 MB/s", ilW6MB}}
	var out []string
	for _, l := range lines {
		var parts []string
		for s := ilPython; s < ilSides; s++ {
			if l.gs[s] == nil {
				continue // no floor for W6
			}
			xs := blockRatios(rounds, l.gs[ilOurs], l.gs[s])
			if len(xs) == 0 {
				continue
			}
			parts = append(parts, fmt.Sprintf("÷ %s %s–%s (median %s, %d blocks)", ilSideNames[s],
				ratioText(slices.Min(xs)), ratioText(slices.Max(xs)), ratioText(median(xs)), len(xs)))
		}
		if len(parts) > 0 {
			out = append(out, fmt.Sprintf("%s per block: %s.", l.what, strings.Join(parts, "; ")))
		}
	}
	if len(out) > 0 {
		fmt.Fprintf(w, "The interleaved ratios block by block (ours ÷ theirs, each within one block): %s\n\n", strings.Join(out, " "))
	}
}

// blockRatios is a ÷ b in each block of every round that measured both
// (a refused figure counts as not measured: the table says so).
func blockRatios(rounds []trial, a, b getter) []float64 {
	var xs []float64
	for _, rd := range rounds {
		for _, blk := range rd.blocks {
			one := trial{blocks: []block{blk}}
			x, y := a(one), b(one)
			if x.ok && y.ok && !x.bad && !y.bad && y.v > 0 {
				xs = append(xs, x.v/y.v)
			}
		}
	}
	return xs
}

func ratioText(v float64) string {
	if math.IsNaN(v) {
		return "—"
	}
	return strconv.FormatFloat(v, 'f', 2, 64) + "×"
}
