// Command bench runs the standard workloads W1–W10 (see BENCHMARKS.md
// and ../shared/anchors/README.md) on this library and prints one JSON
// object per line, with the anchors' field names, so that its rows line
// up with Python's multiprocessing.Manager, Redis and the raw-socket
// floor.
//
//	go run ./cmd/bench [-quick] [-only W1,W3] [-curves] [-compare [-runs 3]] [-anchors DIR]
//	go run ./cmd/bench -engine redis [-runs 3] [-only W1,W4] [-redis-url URL | -redis-cluster]
//
// With -compare it also runs, in the same invocation, Python's Manager
// (Debian's /usr/bin/python3 DIR/python_manager_bench.py and, for W10 and the curves,
// DIR/python_scaling_bench.py) and the Go anchors (go run . -only
// L1,L4,L5,L6 in DIR/go, and the Redis scaling program in DIR/scaling;
// redis-server is installed with apt-get when missing), prints their rows
// too (with a "source" field), and then a Markdown table of ratios —
// ours / Python, ours / Redis, ours / floor — and the project's
// performance targets, met or not. With -runs N every program runs N
// times and the table shows medians: the machine is shared and noisy, so
// only ratios measured side by side mean anything. In each section of a
// round (the workloads, W10, each curve) the three sides — ours, Python,
// the Go anchors — run one after the other, and the order rotates from
// round to round, so that no side always runs minutes after another.
// W1, W4 and W6, whose ratios moved most with the machine's drift, and
// our W7 run interleaved instead: each round is 5 blocks, and each block
// runs every side once (ours for a fifth of the iterations or repeats,
// W6 for 50; one Python --quick process for W1, W4 and W6; one Go
// anchors process for L1 (and L6, W7's floor) and one for L4, Redis's
// W1, W4 and W6), in an order that rotates block by block; see
// interleave.go. The Go anchors are
// built once (go build) and their binary run by every section and block.
// A figure whose row says its run was incorrect ("correct" or
// "exactly_once" false) is refused, never put in the table.
//
// With -curves it also runs the concurrent-process curve (1–32 client
// processes) and the value-size curve (8 B to 1 MiB), beside the same
// curves of Redis and Python with -compare, and prints them as a table.
//
// W1 also measures the raw-socket floor itself, in blocks interleaved
// with its own (floor_p50_us, p50_vs_floor), since the anchors' L1 row is
// measured minutes apart.
//
// With -engine redis it runs W1–W4 on the Redis engine (ConnectRedis)
// instead, each beside plain go-redis doing the equivalent commands on
// the same server in the same run, and prints the ratios with issue 12's
// targets (see redis.go). W9 measures the library's Batch against
// go-redis pipelines of 100 in the same run (see w9.go). Both start their
// own redis-server unless -redis-url names one.
//
// For profiles, -cpuprofile FILE profiles this process (the client side);
// with -inprocess the manager serves from this process, so the profile of
// a multi-process workload (W2, W3, W5) is the server's, and that of W1,
// W4, W6 and W8 both sides'.
//
// Multi-process workloads fork workers of this binary (manager.Fork), so
// main calls manager.Init first.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"time"

	"github.com/goproc/manager"
)

// workloadTimeout bounds each workload: a hung worker fails the run
// instead of hanging it.
const workloadTimeout = 5 * time.Minute

var (
	quick   = flag.Bool("quick", false, "about 10× smaller workloads (a smoke run, under a minute)")
	only    = flag.String("only", "", "comma-separated workloads to run, e.g. W1,W3 (default: all)")
	compare = flag.Bool("compare", false, "also run Python's Manager and the Go anchors (L1, L4 Redis, L5, L6) and print a table of ratios")
	runs    = flag.Int("runs", 1, "with -compare or -engine redis: run everything this many times, interleaved, and report medians")
	anchors = flag.String("anchors", "", "the anchors directory (default: ../shared/anchors from the repository root)")
	inProc  = flag.Bool("inprocess", false, "serve from this process (manager.InProcess) instead of a manager process: with -cpuprofile, profiles the server side of the multi-process workloads")
	cpuProf = flag.String("cpuprofile", "", "write this process's CPU profile to `file` (the client side, or with -inprocess the server too)")
	curves  = flag.Bool("curves", false, "also run the concurrent-process curve (1–32 processes) and the value-size curve (8 B–1 MiB); with -compare, beside Redis and Python")
)

// A workload runs once and returns its rows.
type workload struct {
	id  string
	run func(ctx context.Context) ([]*row, error)
}

var workloads = []workload{
	{"W1", runW1},
	{"W2", runW2},
	{"W3", runW3},
	{"W4", runW4},
	{"W5", runW5},
	{"W6", runW6},
	{"W7", runW7},
	{"W8", runW8},
	{"W9", runW9},
	{"W10", runW10},
}

// n picks the full or the quick size.
func n(full, small int) int {
	if *quick {
		return small
	}
	return full
}

func main() {
	manager.Init() // a forked worker or the manager process runs its role here and exits
	flag.Parse()
	if *cpuProf != "" {
		f, err := os.Create(*cpuProf)
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		pprof.StartCPUProfile(f)
		defer f.Close()
		defer pprof.StopCPUProfile()
	}
	if err := run(); err != nil {
		pprof.StopCPUProfile()
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run() error {
	switch *engineFlag {
	case "manager":
	case "redis":
		return runRedisEngine()
	default:
		return fmt.Errorf("-engine %q: want manager or redis", *engineFlag)
	}
	sel, err := selection(*only)
	if err != nil {
		return err
	}
	if *runs < 1 {
		return fmt.Errorf("-runs must be at least 1")
	}
	loadStart, t0 := loadAvg(), time.Now()
	emit(newRow("meta", true, "source", "manager", "go", runtime.Version(), "nproc", runtime.NumCPU(),
		"gomaxprocs", runtime.GOMAXPROCS(0), "cpu", cpuModel(), "quick", *quick, "load_avg", loadStart))
	dir := ""
	if *compare {
		if dir, err = anchorsDir(); err != nil {
			return err
		}
		ensureRedis()
		tmp, err := os.MkdirTemp("", "bench-anchors-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		buildAnchors(dir, tmp)
	}
	secs := sections(sel, dir, *compare, *curves)
	rounds := 1
	if *compare {
		rounds = *runs
	}
	var trials []trial
	for i := range rounds {
		if rounds > 1 {
			fmt.Fprintf(os.Stderr, "bench: round %d of %d\n", i+1, rounds)
		}
		rd, err := runRound(secs, i)
		if err != nil {
			return err
		}
		trials = append(trials, rd)
		if i < rounds-1 {
			// So that a run stopped early still has its tables (on stderr).
			fmt.Fprintf(os.Stderr, "\nbench: the tables after %d of %d rounds:\n", i+1, rounds)
			printTables(os.Stderr, trials, sel)
		}
	}
	if *compare || *curves {
		fmt.Printf("\nMachine load average (1, 5, 15 min): %s at the start, %s at the end, %.1f min later.\n",
			loadStart, loadAvg(), time.Since(t0).Minutes())
	}
	printTables(os.Stdout, trials, sel)
	return nil
}

// printTables prints the ratio table (with -compare) and the curves
// (with -curves).
func printTables(w io.Writer, trials []trial, sel []string) {
	if *compare {
		printComparison(w, trials, sel)
	}
	if *curves {
		printCurves(w, trials)
	}
}

// runOurs runs the selected workloads once, printing and returning rows.
func runOurs(sel []string, run int) ([]*row, error) {
	var all []*row
	for _, w := range workloads {
		if !slices.Contains(sel, w.id) {
			continue
		}
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), workloadTimeout)
		currentRound = run
		rows, err := w.run(ctx)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", w.id, err)
		}
		for _, r := range rows {
			r.set("quick", *quick)
			if *compare && *runs > 1 {
				r.set("run", run+1)
			}
			emit(r)
		}
		all = append(all, rows...)
		fmt.Fprintf(os.Stderr, "bench: %s done in %.1fs\n", w.id, time.Since(start).Seconds())
	}
	return all, nil
}

// selection parses -only.
func selection(s string) ([]string, error) {
	var sel []string
	for _, w := range workloads {
		sel = append(sel, w.id)
	}
	if strings.TrimSpace(s) == "" {
		return sel, nil
	}
	var out []string
	for _, id := range strings.Split(s, ",") {
		id = strings.ToUpper(strings.TrimSpace(id))
		if !slices.Contains(sel, id) {
			return nil, fmt.Errorf("-only: unknown workload %q (want W1 to W10)", id)
		}
		out = append(out, id)
	}
	return out, nil
}

// anchorsDir finds the anchors: -anchors, or ../shared/anchors from the
// repository root (the directory holding go.mod, found upwards from here).
func anchorsDir() (string, error) {
	if *anchors != "" {
		return *anchors, nil
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			a := filepath.Join(d, "..", "shared", "anchors")
			if _, err := os.Stat(a); err != nil {
				return "", fmt.Errorf("no anchors at %s (give -anchors DIR)", a)
			}
			return filepath.Clean(a), nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("no go.mod above %s: run from the repository, or give -anchors DIR", dir)
		}
	}
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// loadAvg is the 1-, 5- and 15-minute load averages, for the record: a
// loaded machine makes every figure slower and noisier.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}
