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
	"strings"
)

// anchorSections are the Go anchors' sections -compare runs: the raw
// Unix-socket floor (L1), Redis (L4), and the cheap floors for shared
// memory (L5) and re-exec start-up (L6).
const anchorSections = "L1,L4,L5,L6"

// A trial is one run of every program, side by side.
type trial struct {
	ours   []*row
	python []map[string]any // by "workload"
	anchor []map[string]any // by "id"
}

// runPython runs Python's Manager on the selected workloads (but W8,
// which is a different workload there) and returns its rows, printing
// each with "source": "python". A failure is reported and leaves the
// Python column empty.
func runPython(dir string, sel []string, run int) []map[string]any {
	var only []string
	for _, w := range sel {
		if w != "W8" {
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
	cmd := exec.Command("python3", args...)
	fmt.Fprintf(os.Stderr, "bench: running %s\n", strings.Join(cmd.Args, " "))
	return runAnchorProgram(cmd, "python", run)
}

// runAnchors runs the Go anchors (go run . -only L1,L4,L5,L6) and returns
// their rows, printing each with "source": "anchorbench".
func runAnchors(dir string, run int) []map[string]any {
	args := []string{"run", ".", "-only", anchorSections}
	if *quick {
		args = append(args, "-quick")
	}
	cmd := exec.Command("go", args...)
	cmd.Dir = filepath.Join(dir, "go")
	fmt.Fprintf(os.Stderr, "bench: running %s (in %s)\n", strings.Join(cmd.Args, " "), cmd.Dir)
	return runAnchorProgram(cmd, "anchorbench", run)
}

// runAnchorProgram runs cmd, whose stdout (and, for Python's metadata,
// stderr) holds one JSON object per line, and returns the objects. Each
// is printed as it comes, tagged with its source.
func runAnchorProgram(cmd *exec.Cmd, source string, run int) []map[string]any {
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
		if r := tagged(sc.Bytes(), source, run); r != nil {
			rows = append(rows, r)
		}
	}
	if err := cmd.Wait(); err != nil {
		fmt.Fprintf(os.Stderr, "bench: %s: %v (rows so far are kept)\n", source, err)
	}
	// Python prints its environment as one JSON object on stderr.
	for _, line := range bytes.Split(stderr.Bytes(), []byte("\n")) {
		if bytes.Contains(line, []byte(`"meta": true`)) {
			tagged(line, source, run)
		}
	}
	return rows
}

// tagged parses one JSON line and prints it with its source (and run
// number) first; it returns nil for a line that is not a JSON object.
func tagged(line []byte, source string, run int) map[string]any {
	line = bytes.TrimSpace(line)
	if len(line) < 2 || line[0] != '{' {
		return nil
	}
	var m map[string]any
	if err := json.Unmarshal(line, &m); err != nil {
		return nil
	}
	prefix := fmt.Sprintf(`{"source": %q, `, source)
	if *runs > 1 {
		prefix += fmt.Sprintf(`"run": %d, `, run+1)
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
