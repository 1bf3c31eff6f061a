package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRotation(t *testing.T) {
	tests := []struct {
		name  string
		round int
		want  []side
	}{
		{"first round: ours first", 0, []side{sideOurs, sidePython, sideAnchors}},
		{"second round: Python first", 1, []side{sidePython, sideAnchors, sideOurs}},
		{"third round: anchors first", 2, []side{sideAnchors, sideOurs, sidePython}},
		{"fourth round starts over", 3, []side{sideOurs, sidePython, sideAnchors}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, rotation(tt.round))
		})
	}
}

func TestRotationPutsEverySideInEveryPlace(t *testing.T) {
	// Over numSides rounds, each side runs first, second and last once:
	// none is always measured minutes after another.
	seen := map[side]map[int]bool{}
	for r := range int(numSides) {
		for pos, s := range rotation(r) {
			if seen[s] == nil {
				seen[s] = map[int]bool{}
			}
			seen[s][pos] = true
		}
	}
	for s := range numSides {
		assert.Len(t, seen[s], int(numSides), "positions of %s", s)
	}
}

func TestScheduleRotatesEachSectionAndSkipsEmptySides(t *testing.T) {
	run := func(*trial, int) error { return nil }
	secs := []section{
		{name: "workloads", run: [numSides]func(*trial, int) error{run, run, run}},
		{name: "W10", run: [numSides]func(*trial, int) error{run, nil, run}},
	}
	want := []step{
		{"workloads", sidePython}, {"workloads", sideAnchors}, {"workloads", sideOurs},
		{"W10", sideAnchors}, {"W10", sideOurs},
	}
	assert.Equal(t, want, schedule(secs, 1))
}

// comparison prints the ratio table of rounds for the selected workloads.
func comparison(t testing.TB, rounds []trial, sel ...string) string {
	t.Helper()
	var b bytes.Buffer
	printComparison(&b, rounds, sel)
	return b.String()
}

// tableLine returns the one line of out that starts with prefix.
func tableLine(t testing.TB, out, prefix string) string {
	t.Helper()
	var found []string
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, prefix) {
			found = append(found, line)
		}
	}
	require.Len(t, found, 1, "lines starting with %q in:\n%s", prefix, out)
	return found[0]
}

func w2Round(ours, python float64, oursCorrect, pythonCorrect bool) trial {
	return trial{
		ours:   []*row{newRow("workload", "W2", "variant", "lock", "increments_per_s", ours, "correct", oursCorrect)},
		python: []map[string]any{{"workload": "W2", "increments_per_s": python, "correct": pythonCorrect}},
	}
}

func TestComparisonReportsCorrectRuns(t *testing.T) {
	// The control for the refusal tests: the same rows, all correct, are
	// reported with their median and ratio.
	rounds := []trial{w2Round(3000, 1000, true, true), w2Round(3100, 1000, true, true), w2Round(2900, 1000, true, true)}
	out := comparison(t, rounds, "W2")
	assert.Equal(t, "| W2 | lock pattern incr/s ↑ | 3,000 | 1,000 | — | — | 3.00× | — | — |",
		tableLine(t, out, "| W2 | lock pattern"))
	assert.Equal(t, "| W2 lock pattern ≥ 2× Python | 3× | yes |  |", tableLine(t, out, "| W2 lock pattern ≥"))
}

func TestComparisonRefusesIncorrectRun(t *testing.T) {
	tests := []struct {
		name      string
		give      []trial
		wantCells string
	}{
		{
			name:      "ours incorrect in one round",
			give:      []trial{w2Round(3000, 1000, true, true), w2Round(9999, 1000, false, true), w2Round(2900, 1000, true, true)},
			wantCells: "| W2 | lock pattern incr/s ↑ | **incorrect run** (2) | 1,000 | — | — | refused | — | — |",
		},
		{
			name:      "Python incorrect in one round",
			give:      []trial{w2Round(3000, 1000, true, true), w2Round(3100, 1000, true, true), w2Round(2900, 9999, true, false)},
			wantCells: "| W2 | lock pattern incr/s ↑ | 3,000 | **incorrect run** (3) | — | — | refused | — | — |",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := comparison(t, tt.give, "W2")
			assert.Equal(t, tt.wantCells, tableLine(t, out, "| W2 | lock pattern"))
			assert.Contains(t, tableLine(t, out, "| W2 lock pattern ≥"), "**refused**")
			assert.NotContains(t, out, "9,999")
		})
	}
}

func TestComparisonRefusesIncorrectNestedRow(t *testing.T) {
	// Python's W5 keeps each variant's correctness inside its object.
	rd := trial{
		ours: []*row{newRow("workload", "W5", "variant", "manager-locked", "adds_per_s", 3000.0, "correct", true)},
		python: []map[string]any{{"workload": "W5",
			"b_mgrvalue_mgrlock": map[string]any{"adds_per_s": 2000.0, "correct": false}}},
	}
	out := comparison(t, []trial{rd}, "W5")
	line := tableLine(t, out, "| W5 | Value under a Lock")
	assert.Contains(t, line, "| 3,000 | **incorrect run** (1) |")
	assert.Contains(t, line, "refused")
}

func TestComparisonRefusesQueueThatLostItems(t *testing.T) {
	// W3 rows say exactly_once rather than correct.
	rd := trial{
		ours:   []*row{newRow("workload", "W3", "items_per_s", 10000.0, "exactly_once", false)},
		python: []map[string]any{{"workload": "W3", "items_per_s": 5000.0, "exactly_once": true}},
	}
	out := comparison(t, []trial{rd}, "W3")
	assert.Equal(t, "| W3 | items/s ↑ | **incorrect run** (1) | 5,000 | — | — | refused | — | — |",
		tableLine(t, out, "| W3 | items/s"))
}

func TestCurvesRefuseIncorrectRun(t *testing.T) {
	rd := trial{
		ours: []*row{newRow("exp", "conc", "sys", "manager", "procs", 4, "ops_per_s", 9999.0, "p99_us", 100.0, "correct", false)},
		scaling: []map[string]any{
			{"exp": "conc", "sys": "python", "procs": 4.0, "ops_per_s": 5000.0, "p99_us": 200.0, "correct": true},
			{"exp": "conc", "sys": "redis", "procs": 4.0, "ops_per_s": 8000.0, "p99_us": 50.0, "correct": true},
		},
	}
	var b bytes.Buffer
	printCurves(&b, []trial{rd})
	assert.Equal(t, "| 4 | **incorrect run** (1) | 5,000 | 8,000 | refused | refused | **incorrect run** (1) | 200 | 50 |",
		tableLine(t, b.String(), "| 4 |"))
}

func TestCurvesTarget64KiB(t *testing.T) {
	rd := trial{
		ours: []*row{newRow("exp", "vsize", "sys", "manager", "value_bytes", 65536, "mb_per_s", 600.0, "correct", true)},
		scaling: []map[string]any{
			{"exp": "vsize", "sys": "python", "value_bytes": 65536.0, "mb_per_s": 300.0, "correct": true},
			{"exp": "vsize", "sys": "redis", "value_bytes": 65536.0, "mb_per_s": 500.0, "correct": true},
		},
	}
	var b bytes.Buffer
	printCurves(&b, []trial{rd})
	assert.Equal(t, "| 64 KiB values: MB/s ≥ Redis's (value-size curve) | 1.2× | yes | 0.6× |",
		tableLine(t, b.String(), "| 64 KiB values"))
}
