package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// anchorSections are the Go anchors' sections -compare runs after the
// workloads: Redis (L4) and the floor for shared memory (L5), and the raw
// Unix-socket floor (L1) and re-exec start-up (L6) unless the interleaved
// blocks measure them (withL1, withL6 false).
func anchorSections(withL1, withL6 bool) string {
	secs := []string{"L4", "L5"}
	if withL1 {
		secs = append([]string{"L1"}, secs...)
	}
	if withL6 {
		secs = append(secs, "L6")
	}
	return strings.Join(secs, ",")
}

// A trial is one round of every program, side by side.
type trial struct {
	ours    []*row
	python  []map[string]any // python_manager_bench.py, by "workload"
	anchor  []map[string]any // the Go anchors, by "id"
	scaling []map[string]any // the scaling programs (Python and Redis), by "sys" and "exp"
	blocks  []block          // W1, W4, W6 and W7 of every side, interleaved (interleave.go)
}

// A side is one of the programs compared in a round.
type side int

const (
	sideOurs side = iota
	sidePython
	sideAnchors
	numSides
)

func (s side) String() string {
	return [...]string{"manager", "python", "anchors"}[s]
}

// rotation is the order the sides run in, in round r (0-based): ours,
// Python, anchors in the first round, then Python, anchors, ours, and so
// on, so that over three rounds each side runs first, second and last
// once. Without it, the Go anchors (Redis and the floors) always ran
// minutes after ours, on a machine whose speed drifts.
func rotation(r int) []side {
	order := make([]side, numSides)
	for i := range order {
		order[i] = side((r + i) % int(numSides))
	}
	return order
}

// A section is a part of a round that every side runs, one side after
// the other: the standard workloads, W10, each curve. A nil entry is a
// side with nothing to run in that section.
type section struct {
	name string
	run  [numSides]func(rd *trial, round int) error
}

// A step is one side's part of one section.
type step struct {
	section string
	side    side
}

// schedule is the order of a round's steps: the sections in order, and
// in each, the sides with something to run in the round's rotation.
func schedule(secs []section, round int) []step {
	var steps []step
	for _, sec := range secs {
		for _, s := range rotation(round) {
			if sec.run[s] != nil {
				steps = append(steps, step{sec.name, s})
			}
		}
	}
	return steps
}

// runRound runs every section of one round, in schedule order.
func runRound(secs []section, round int) (trial, error) {
	var rd trial
	byName := map[string]section{}
	for _, sec := range secs {
		byName[sec.name] = sec
	}
	for _, st := range schedule(secs, round) {
		fmt.Fprintf(os.Stderr, "bench: %s: %s\n", st.section, st.side)
		if err := byName[st.section].run[st.side](&rd, round); err != nil {
			return rd, err
		}
	}
	return rd, nil
}

// sections builds the sections for the selected workloads: ours always,
// the comparison programs (found in dir) with compare, and the curves
// with curves.
func sections(sel []string, dir string, compare, curves bool) []section {
	var secs []section
	// std: ours in the workloads section; pyStd: Python's (W7 stays there:
	// its W7 runs every start method, too long for a block).
	var std, pyStd, il []string
	for _, w := range sel {
		switch {
		case w == "W10":
		case compare && slices.Contains(ilWorkloads, w):
			il = append(il, w)
			if !slices.Contains(ilPythonWorkloads, w) {
				pyStd = append(pyStd, w)
			}
		default:
			std = append(std, w)
			pyStd = append(pyStd, w)
		}
	}
	if len(il) > 0 {
		secs = append(secs, interleavedSection(il, dir))
	}
	if len(std) > 0 || (compare && len(pyStd) > 0) {
		sec := section{name: "workloads " + strings.Join(pyStd, ",")}
		if len(std) > 0 {
			sec.run[sideOurs] = func(rd *trial, round int) error {
				rows, err := runOurs(std, round)
				rd.ours = append(rd.ours, rows...)
				return err
			}
		}
		if compare {
			sec.run[sidePython] = func(rd *trial, round int) error {
				rd.python = append(rd.python, runPython(dir, pyStd, round)...)
				return nil
			}
			withL1, withL6 := !blockSideRuns(ilFloor, il), !slices.Contains(il, "W7")
			sec.run[sideAnchors] = func(rd *trial, round int) error {
				rd.anchor = append(rd.anchor, runAnchors(dir, round, withL1, withL6)...)
				return nil
			}
		}
		secs = append(secs, sec)
	}
	if slices.Contains(sel, "W10") {
		sec := section{name: "W10"}
		sec.run[sideOurs] = func(rd *trial, round int) error {
			rows, err := runOurs([]string{"W10"}, round)
			rd.ours = append(rd.ours, rows...)
			return err
		}
		if compare {
			n, iters := strconv.Itoa(w10Entries()), strconv.Itoa(w10Iters())
			sec.run[sidePython] = func(rd *trial, round int) error {
				rd.scaling = append(rd.scaling, runPythonScaling(dir, round, "mem", n)...)
				rd.scaling = append(rd.scaling, runPythonScaling(dir, round, "size", n, "--iters", iters)...)
				return nil
			}
			sec.run[sideAnchors] = func(rd *trial, round int) error {
				// memhash: the entries in one hash, Redis's form of one dict.
				rd.scaling = append(rd.scaling, runRedisScaling(dir, round, "memhash", n)...)
				rd.scaling = append(rd.scaling, runRedisScaling(dir, round, "size", n, "-iters", iters)...)
				return nil
			}
		}
		secs = append(secs, sec)
	}
	if curves {
		secs = append(secs, concSection(dir, compare), vsizeSection(dir, compare))
	}
	return secs
}

// runPython runs Python's Manager on the selected workloads (but W8,
// which is a different workload there, W9, which needs pipelines, and
// W10, which python_scaling_bench.py measures) and returns its rows,
// printing each with "source": "python". A failure is reported and leaves
// the Python column empty.
func runPython(dir string, sel []string, run int) []map[string]any {
	var only []string
	for _, w := range sel {
		if w != "W8" && w != "W9" && w != "W10" {
			only = append(only, w)
		}
	}
	if len(only) == 0 {
		return nil
	}
	args := []string{filepath.Join(dir, "python_manager_bench.py"), "--only", strings.Join(only, ",")}
	if *quick {
		args = append(args, "--quick")
	}
	cmd := exec.Command(pythonBin(), args...)
	fmt.Fprintf(os.Stderr, "bench: running %s\n", strings.Join(cmd.Args, " "))
	return runAnchorProgram(cmd, "python", run, 0)
}

// runAnchors runs the Go anchors (anchorbench -only L4,L5, and L1 with
// withL1, L6 with withL6) and returns their rows, printing each with
// "source": "anchorbench".
func runAnchors(dir string, run int, withL1, withL6 bool) []map[string]any {
	if anchorBin == "" {
		return nil
	}
	args := []string{"-only", anchorSections(withL1, withL6)}
	if *quick {
		args = append(args, "-quick")
	}
	cmd := exec.Command(anchorBin, args...)
	fmt.Fprintf(os.Stderr, "bench: running %s\n", strings.Join(cmd.Args, " "))
	return runAnchorProgram(cmd, "anchorbench", run, 0)
}

// runPythonScaling runs one experiment of python_scaling_bench.py (--exp
// exp -n list, and extra arguments) and returns its rows, printed with
// "source": "python-scaling".
func runPythonScaling(dir string, run int, exp, list string, extra ...string) []map[string]any {
	args := append([]string{filepath.Join(dir, "python_scaling_bench.py"), "--exp", exp, "-n", list}, extra...)
	cmd := exec.Command(pythonBin(), args...)
	fmt.Fprintf(os.Stderr, "bench: running %s\n", strings.Join(cmd.Args, " "))
	return runAnchorProgram(cmd, "python-scaling", run, 0)
}

// runRedisScaling runs one experiment of the Redis scaling program (go
// run . -exp exp -n list in DIR/scaling) and returns its rows, printed
// with "source": "redis-scaling".
func runRedisScaling(dir string, run int, exp, list string, extra ...string) []map[string]any {
	args := append([]string{"run", ".", "-exp", exp, "-n", list}, extra...)
	cmd := exec.Command("go", args...)
	cmd.Dir = filepath.Join(dir, "scaling")
	fmt.Fprintf(os.Stderr, "bench: running %s (in %s)\n", strings.Join(cmd.Args, " "), cmd.Dir)
	return runAnchorProgram(cmd, "redis-scaling", run, 0)
}

// runAnchorProgram runs cmd, whose stdout (and, for Python's metadata,
// stderr) holds one JSON object per line, and returns the objects. Each
// is printed as it comes, tagged with its source (and its interleaved
// block, 1-based, when block > 0).
func runAnchorProgram(cmd *exec.Cmd, source string, run, block int) []map[string]any {
	var stderr bytes.Buffer
	cmd.Stderr = io.MultiWriter(&stderr, os.Stderr)
	out, err := cmd.StdoutPipe()
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench: %s: %v\n", source, err)
		return nil
	}
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(os.Stderr, "bench: %s: %v (its column stays empty)\n", source, err)
		return nil
	}
	var rows []map[string]any
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		if r := tagged(sc.Bytes(), source, run, block); r != nil {
			rows = append(rows, r)
		}
	}
	if err := cmd.Wait(); err != nil {
		fmt.Fprintf(os.Stderr, "bench: %s: %v (rows so far are kept)\n", source, err)
	}
	// Python prints its environment as one JSON object on stderr.
	for _, line := range bytes.Split(stderr.Bytes(), []byte("\n")) {
		if bytes.Contains(line, []byte(`"meta": true`)) {
			tagged(line, source, run, block)
		}
	}
	return rows
}

// tagged parses one JSON line and prints it with its source (and run
// number and interleaved block) first; it returns nil for a line that is
// not a JSON object.
func tagged(line []byte, source string, run, block int) map[string]any {
	line = bytes.TrimSpace(line)
	if len(line) < 2 || line[0] != '{' {
		return nil
	}
	var m map[string]any
	if err := json.Unmarshal(line, &m); err != nil {
		return nil
	}
	prefix := fmt.Sprintf(`{"source": %q, `, source)
	if *compare && *runs > 1 {
		prefix += fmt.Sprintf(`"run": %d, `, run+1)
	}
	if block > 0 {
		prefix += fmt.Sprintf(`"interleaved": true, "block": %d, `, block)
	}
	if len(m) == 0 {
		prefix = strings.TrimSuffix(prefix, ", ")
	}
	os.Stdout.Write(append(append([]byte(prefix), line[1:]...), '\n'))
	return m
}

// ensureRedis installs redis-server with apt-get when it is not on PATH,
// saying what it does; the Redis column stays empty if that fails.
func ensureRedis() {
	if _, err := exec.LookPath("redis-server"); err == nil {
		return
	}
	fmt.Fprintln(os.Stderr, "bench: redis-server is not on PATH; installing it: apt-get update && apt-get install -y redis-server")
	for _, args := range [][]string{{"update"}, {"install", "-y", "redis-server"}} {
		cmd := exec.Command("apt-get", args...)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		if err := cmd.Run(); err != nil {
			fmt.Fprintf(os.Stderr, "bench: apt-get %s: %v (the Redis column will be empty)\n", strings.Join(args, " "), err)
			return
		}
	}
}
