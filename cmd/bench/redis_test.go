package main

import (
	"bytes"
	"context"
	"maps"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/goproc/manager"
	"github.com/goproc/manager/internal/redisengine"
	"github.com/goproc/manager/internal/redistest"
)

// TestMain runs a forked worker's role (the multi-process workloads fork
// this test binary) and otherwise the tests, checking for leaked
// goroutines.
func TestMain(m *testing.M) {
	manager.Init()
	if os.Getenv("GORACE") == "" {
		os.Setenv("GORACE", "atexit_sleep_ms=0") // the forked workers need not wait at exit
	}
	goleak.VerifyTestMain(m)
}

func TestBlockOrder(t *testing.T) {
	tests := []struct {
		name        string
		n, b, round int
		want        []int
	}{
		{"two sides, first block of round 1: ours first", 2, 0, 0, []int{0, 1}},
		{"two sides, second block: the other first", 2, 1, 0, []int{1, 0}},
		{"two sides, round 2 starts with the other", 2, 0, 1, []int{1, 0}},
		{"three sides rotate", 3, 1, 1, []int{2, 0, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, blockOrder(tt.n, tt.b, tt.round))
		})
	}
}

func TestBlockOrderPutsEverySideInEveryPlace(t *testing.T) {
	for n := 1; n <= 3; n++ {
		seen := map[[2]int]bool{} // (side, position)
		for b := range n {
			for pos, s := range blockOrder(n, b, 5) {
				seen[[2]int{s, pos}] = true
			}
		}
		assert.Len(t, seen, n*n, "%d sides over %d blocks", n, n)
	}
}

func TestRedisSelection(t *testing.T) {
	sel, err := redisSelection("")
	require.NoError(t, err)
	assert.Equal(t, []string{"W1", "W2", "W3", "W4"}, sel)
	sel, err = redisSelection("w4, W1")
	require.NoError(t, err)
	assert.Equal(t, []string{"W4", "W1"}, sel)
	_, err = redisSelection("W1,W9")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "W9 needs Batch")
}

func TestIsClusterURL(t *testing.T) {
	tests := []struct {
		give string
		want bool
	}{
		{"redis://127.0.0.1:6379/0", false},
		{"unix:///tmp/redis.sock", false},
		{"redis+cluster://127.0.0.1:7000", true},
		{"redis://127.0.0.1:7000?addr=127.0.0.1:7001&addr=127.0.0.1:7002", true},
	}
	for _, tt := range tests {
		t.Run(tt.give, func(t *testing.T) {
			assert.Equal(t, tt.want, redisengine.IsClusterURL(tt.give))
		})
	}
}

func TestServerStatsSplitScriptsFromCommands(t *testing.T) {
	// Two reads of INFO commandstats around a block of 10 ops: each op ran
	// one EVALSHA (whose HGET Redis counts on its own too); the INFO
	// commands themselves are left out.
	before := map[string][2]float64{"evalsha": {5, 50}, "hget": {5, 5}, "info": {2, 80}}
	after := map[string][2]float64{"evalsha": {15, 150}, "hget": {15, 15}, "info": {3, 120}, "hset": {1, 2}}
	sum := map[string][2]float64{}
	addStatsDiff(sum, before, after)
	assert.Equal(t, map[string][2]float64{"evalsha": {10, 100}, "hget": {10, 10}, "hset": {1, 2}}, sum)
	r := newRow()
	addServerStats(r, sum, 10)
	assert.Equal(t, 10.0, r.vals["server_script_us_per_op"])
	assert.Equal(t, 1.2, r.vals["server_command_us_per_op"])
	assert.Equal(t, 2.1, r.vals["redis_commands_per_op"])
}

// redisRound is one round's rows of W1 and W4 on both sides (and the Lua
// floor for W1), with the given p50s and correctness.
func redisRoundRows(w1Ours, w1Plain, w1Lua float64, plainCorrect bool) trial {
	return trial{ours: []*row{
		newRow("workload", "W1", "side", sideEngine, "p50_us", w1Ours, "correct", true),
		newRow("workload", "W1", "side", sidePlain, "p50_us", w1Plain, "correct", plainCorrect),
		newRow("workload", "W1", "side", sideLua, "p50_us", w1Lua, "correct", true),
		newRow("workload", "W3", "side", sideEngine, "items_per_s", 4000.0, "exactly_once", true),
		newRow("workload", "W3", "side", sidePlain, "items_per_s", 5000.0, "exactly_once", true),
	}}
}

// redisComparison prints the -engine redis table of rounds.
func redisComparison(t testing.TB, rounds []trial, sel ...string) string {
	t.Helper()
	var b bytes.Buffer
	printRedisComparison(&b, rounds, sel, false)
	return b.String()
}

func TestRedisComparisonReportsRatiosAndTargets(t *testing.T) {
	rounds := []trial{redisRoundRows(40, 30, 36, true), redisRoundRows(44, 40, 46, true), redisRoundRows(33, 30, 33, true)}
	out := redisComparison(t, rounds, "W1", "W3")
	// Medians of each column, and the median of each round's own ratio
	// (40/30, 44/40, 33/30 → 1.1).
	assert.Equal(t, "| W1 | p50 µs ↓ | 40 | 30 | 36 | 1.10× | "+plainW1Does+" |", tableLine(t, out, "| W1 | p50 µs"))
	assert.Equal(t, "| W3 | items/s (1 producer, 2 consumers) ↑ | 4,000 | 5,000 | — | 0.80× | "+plainW3Does+" |", tableLine(t, out, "| W3 | items/s"))
	assert.Equal(t, "| W1 p50 ≤ 1.15× go-redis | 1.1× | yes | 1.15× |", tableLine(t, out, "| W1 p50 ≤"))
	assert.Equal(t, "| W3 items/s within 1.3× of go-redis (ours ÷ go-redis ≥ 0.77×) | 0.8× | yes |  |", tableLine(t, out, "| W3 items/s within"))
	assert.NotContains(t, out, "W4", "W4 was not selected")
}

func TestRedisComparisonRefusesIncorrectPlainRun(t *testing.T) {
	rounds := []trial{redisRoundRows(40, 30, 36, true), redisRoundRows(44, 1, 46, false)}
	out := redisComparison(t, rounds, "W1")
	assert.Equal(t, "| W1 | p50 µs ↓ | 42 | **incorrect run** (2) | 41 | refused | "+plainW1Does+" |", tableLine(t, out, "| W1 | p50 µs"))
	assert.Contains(t, tableLine(t, out, "| W1 p50 ≤"), "**refused**")
}

func TestComparisonW9AgainstGoRedisPipelines(t *testing.T) {
	round := func(batch, pipe float64, correct bool) trial {
		return trial{ours: []*row{
			newRow("workload", "W9", "variant", "batch", "ops_per_s", batch, "correct", correct),
			newRow("workload", "W9", "variant", "go-redis", "ops_per_s", pipe, "correct", true),
		}}
	}
	out := comparison(t, []trial{round(800_000, 400_000, true), round(900_000, 400_000, true), round(700_000, 400_000, true)}, "W9")
	assert.Equal(t, "| W9 | pipelines of 100 ops/s (Batch; Redis: go-redis pipelines in the same run) ↑ | 800,000 | — | 400,000 | — | — | 2.00× | — |",
		tableLine(t, out, "| W9 | pipelines"))
	assert.Equal(t, "| W9 ≥ 2× go-redis pipelines of 100 | 2× | yes |  |", tableLine(t, out, "| W9 ≥"))

	out = comparison(t, []trial{round(800_000, 400_000, true), round(9_999_999, 400_000, false)}, "W9")
	assert.Contains(t, tableLine(t, out, "| W9 | pipelines"), "**incorrect run** (2)")
	assert.Contains(t, tableLine(t, out, "| W9 ≥"), "**refused**")
}

// TestRedisEngineSmoke runs one quick round of -engine redis (W1–W4,
// forking workers of this test binary) and W9 against a real
// redis-server, and checks that every side of every workload measured a
// correct run and that the table has a figure for every target. Under
// -short it runs W1 only (no workers forked) and no W9.
func TestRedisEngineSmoke(t *testing.T) {
	ids := redisEngineIDs
	if testing.Short() {
		ids = []string{"W1"}
	}
	srv := redistest.Standalone(t)
	setFlag(t, quick, true)
	setFlag(t, redisURL, "redis://"+srv.Addr)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	plain, err := redisengine.ClientFromURL(*redisURL)
	require.NoError(t, err)
	defer plain.Close()

	rows, err := redisRound(ctx, *redisURL, plain, ids, 0)
	require.NoError(t, err)
	sides := map[string][]string{}
	for _, r := range rows {
		assert.False(t, incorrect(r.vals), "incorrect row %v", r.vals)
		w, s := r.vals["workload"].(string), r.vals["side"].(string)
		sides[w] = append(sides[w], s)
	}
	want := map[string][]string{
		"W1": {sideEngine, sidePlain, sideLua},
		"W2": {sideEngine, sideEngine, sidePlain, sidePlain}, // lock and atomic, ours first in round 1
		"W3": {sideEngine, sidePlain},
		"W4": {sideEngine, sidePlain},
	}
	maps.DeleteFunc(want, func(w string, _ []string) bool { return !slices.Contains(ids, w) })
	assert.Equal(t, want, sides)
	out := redisComparison(t, []trial{{ours: rows}}, ids...)
	for _, tg := range redisTargets {
		if slices.Contains(ids, tg.workload) {
			assert.NotContains(t, tableLine(t, out, "| "+tg.what+" |"), "not measured")
		}
	}
	if testing.Short() {
		return // W9 forks nothing but runs 100,000 pairs a side
	}

	w9, err := runW9(ctx)
	require.NoError(t, err)
	require.Len(t, w9, 2)
	for _, r := range w9 {
		assert.Equal(t, true, r.vals["correct"], "W9 %v", r.vals["variant"])
		v, ok := r.num("ops_per_s")
		assert.True(t, ok && v > 0, "W9 %v ops/s: %v", r.vals["variant"], r.vals["ops_per_s"])
	}
}

// setFlag sets a flag's variable for the test and restores it after.
func setFlag[T any](t testing.TB, p *T, v T) {
	t.Helper()
	old := *p
	*p = v
	t.Cleanup(func() { *p = old })
}
