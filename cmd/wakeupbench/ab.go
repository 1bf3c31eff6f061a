package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
)

// The A/B mode (-base P -new Q) compares two builds of the library,
// interleaved: each round runs both, in an order alternated from round
// to round, and the report gives the median over the rounds of each
// figure's new ÷ base ratio measured in the same round. A build P is two
// binaries, built from the tree under test:
//
//	go test -c -o P.test .          # the root package's benchmarks
//	go build -o P-bench ./cmd/bench # the standard workloads
//
// A round runs, on each build: BenchmarkCall/seq/8B (p50), and
// cmd/bench -only W1,W8 -curves -quick (W1 p50 and its ratio to the
// raw-socket floor measured inside W1, W8 ops/s, the concurrent-process
// curve's ops/s per number of processes).

// figures are one run's numbers by name.
type figures map[string]float64

var benchP50 = regexp.MustCompile(`BenchmarkCall/seq/8B\S*\s+\d+\s+[\d.]+ ns/op\s+([\d.]+) p50-µs`)

// runBuild runs one build's measurements.
func runBuild(prefix string) (figures, error) {
	f := figures{}
	out, err := exec.Command(prefix+".test", "-test.run", "^$", "-test.bench", "BenchmarkCall/seq/8B", "-test.benchtime", "5000x").CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("%s.test: %w\n%s", prefix, err, out)
	}
	m := benchP50.FindSubmatch(out)
	if m == nil {
		return nil, fmt.Errorf("%s.test: no p50 in\n%s", prefix, out)
	}
	f["BenchmarkCall/seq/8B p50"], _ = strconv.ParseFloat(string(m[1]), 64)

	var stderr bytes.Buffer
	cmd := exec.Command(prefix+"-bench", "-only", "W1,W8", "-curves", "-quick")
	cmd.Stderr = &stderr
	out, err = cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("%s-bench: %w\n%s", prefix, err, stderr.Bytes())
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		var row map[string]any
		if json.Unmarshal(sc.Bytes(), &row) != nil {
			continue // the tables after the rows
		}
		num := func(k string) float64 { v, _ := row[k].(float64); return v }
		switch {
		case row["workload"] == "W1":
			f["W1 p50"] = num("p50_us")
			f["W1 floor p50"] = num("floor_p50_us")
			f["W1 p50 ÷ floor"] = num("p50_vs_floor")
		case row["workload"] == "W8":
			f["W8 ops/s"] = num("ops_per_s")
			f["W8 p50"] = num("p50_us")
		case row["exp"] == "conc":
			f[fmt.Sprintf("conc %2.0f procs ops/s", num("procs"))] = num("ops_per_s")
		}
	}
	return f, nil
}

// runAB runs the A/B comparison of builds base and new.
func runAB(base, new string) error {
	ratios := map[string][]float64{}
	vals := map[string][2][]float64{}
	var names []string
	for r := range *rounds {
		order := []string{base, new}
		if r%2 == 1 {
			order = []string{new, base}
		}
		got := map[string]figures{}
		for _, p := range order {
			f, err := runBuild(p)
			if err != nil {
				return err
			}
			got[p] = f
		}
		b, n := got[base], got[new]
		for k, bv := range b {
			nv, ok := n[k]
			if !ok || bv == 0 {
				continue
			}
			if _, seen := vals[k]; !seen {
				names = append(names, k)
			}
			v := vals[k]
			v[0], v[1] = append(v[0], bv), append(v[1], nv)
			vals[k] = v
			ratios[k] = append(ratios[k], nv/bv)
		}
		line, _ := json.Marshal(map[string]any{"round": r + 1, "order": strings.Join(order, ","), "base": b, "new": n})
		fmt.Println(string(line))
		fmt.Fprintf(os.Stderr, "wakeupbench: round %d of %d done\n", r+1, *rounds)
	}
	sortStrings(names)
	fmt.Printf("\n| figure | base (median) | new (median) | new ÷ base (median of %d per-round ratios) | rounds where new < base |\n|---|---|---|---|---|\n", *rounds)
	for _, k := range names {
		below := 0
		for _, x := range ratios[k] {
			if x < 1 {
				below++
			}
		}
		fmt.Printf("| %s | %.1f | %.1f | %.3f | %d/%d |\n", k, median(vals[k][0]), median(vals[k][1]), median(ratios[k]), below, len(ratios[k]))
	}
	return nil
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}
