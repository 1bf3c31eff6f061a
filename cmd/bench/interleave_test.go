package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestILScheduleRunsEverySideOncePerBlock(t *testing.T) {
	for r := range 3 {
		sched := ilSchedule(r)
		require.Len(t, sched, ilBlocks, "round %d", r)
		for b, order := range sched {
			assert.ElementsMatch(t, []int{ilOurs, ilPython, ilFloor, ilRedis}, order, "round %d, block %d", r, b)
		}
	}
}

func TestILSchedulePutsEverySideInEveryPlaceWithinARound(t *testing.T) {
	// Within one round, each side runs first, second, third and last at
	// least once: the drift of a round weighs on every side alike.
	for r := range 3 {
		seen := map[[2]int]bool{} // (side, position)
		for _, order := range ilSchedule(r) {
			for pos, s := range order {
				seen[[2]int{s, pos}] = true
			}
		}
		assert.Len(t, seen, ilSides*ilSides, "round %d", r)
	}
}

func TestILScheduleRotatesTheFirstSideFromRoundToRound(t *testing.T) {
	tests := []struct {
		round     int
		wantFirst []int // the first side of each block
	}{
		{0, []int{ilOurs, ilPython, ilFloor, ilRedis, ilOurs}},
		{1, []int{ilPython, ilFloor, ilRedis, ilOurs, ilPython}},
	}
	for _, tt := range tests {
		var first []int
		for _, order := range ilSchedule(tt.round) {
			first = append(first, order[0])
		}
		assert.Equal(t, tt.wantFirst, first, "round %d", tt.round)
	}
}

func TestPythonBlockRepeatsWorkloadsToMatchOurs(t *testing.T) {
	tests := []struct {
		name   string
		oursW1 int // our W1 and W4 iterations per block
		oursW6 int
		sel    []string
		want   string
	}{
		{"full: 2,000 per block is two --quick runs, W6's 50 one", 2000, 50, []string{"W1", "W4", "W6"}, "W1,W4,W6,W1,W4"},
		{"quick: 200 per block is one, W6's 10 one", 200, 10, []string{"W1", "W6"}, "W1,W6"},
		{"2,500 per block rounds to three", 2500, 50, []string{"W4"}, "W4,W4,W4"},
		{"W6: 125 per block rounds to three", 2000, 125, []string{"W6"}, "W6,W6,W6"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			oursPer := func(w string) int {
				if w == "W6" {
					return tt.oursW6
				}
				return tt.oursW1
			}
			assert.Equal(t, tt.want, pythonOnly(tt.sel, oursPer))
		})
	}
}

func TestOursBlockMovesWhatPythonsQuickW6Moves(t *testing.T) {
	// Ours and Python's move the same bytes per block in full mode: 50
	// stores and loads of 1 MiB each, one --quick W6 run of Python's.
	assert.Equal(t, pyQuickIters["W6"], oursBlockIters("W6"))
	assert.Equal(t, "W1,W4,W6,W1,W4", pythonOnly([]string{"W1", "W4", "W6"}, oursBlockIters))
}

// w1Block is one interleaved block's W1 rows: ours, Python's (one row
// per run; a block may hold several), the floor's and Redis's, each with
// its operations and rate.
func w1Block(oursOps, oursRate, oursP50 float64, pyRates []float64, floorRate, redisRate float64) block {
	var blk block
	blk[ilOurs] = []map[string]any{{"workload": "W1", "ops": oursOps, "ops_per_s": oursRate, "p50_us": oursP50, "correct": true}}
	for _, r := range pyRates {
		blk[ilPython] = append(blk[ilPython], map[string]any{"workload": "W1", "ops": 2000.0, "ops_per_s": r, "p50_us": 1e6 / r})
	}
	blk[ilFloor] = []map[string]any{{"id": "L1.uds.seq", "n": 20000.0, "rt_per_s": floorRate, "p50_us": 1e6 / floorRate}}
	blk[ilRedis] = []map[string]any{{"id": "L4.redis.W1.dict-rtt.seq", "n": 4000.0, "ops_per_s": redisRate, "p50_us": 1e6 / redisRate}}
	return blk
}

func TestILRatePoolsOperationsOverTime(t *testing.T) {
	// 4,000 ops at 40,000/s (0.1 s) and 4,000 at 10,000/s (0.4 s) pool to
	// 8,000 ops in 0.5 s: 16,000/s, not the 25,000/s mean of the rates.
	rd := trial{blocks: []block{
		w1Block(4000, 40000, 20, []float64{20000}, 50000, 30000),
		w1Block(4000, 10000, 90, []float64{20000}, 50000, 30000),
	}}
	got := ilW1Ops[ilOurs](rd)
	require.True(t, got.ok)
	assert.InDelta(t, 16000.0, got.v, 1e-6)
}

func TestILMedianTakesEveryRunOfEveryBlock(t *testing.T) {
	// Python ran W1 twice in each block: the median is over all four runs.
	rd := trial{blocks: []block{
		w1Block(4000, 20000, 50, []float64{10000, 40000}, 50000, 30000), // p50 100, 25
		w1Block(4000, 20000, 50, []float64{20000, 50000}, 50000, 30000), // p50 50, 20
	}}
	got := ilW1P50[ilPython](rd)
	require.True(t, got.ok)
	assert.InDelta(t, 37.5, got.v, 1e-9) // the median of 20, 25, 50, 100
}

func TestComparisonReportsInterleavedW1Ratios(t *testing.T) {
	// Two blocks; ours does 20,000/s in both. Python's rates 10,000 and
	// 40,000 (one run of 2,000 ops each) pool to 16,000/s: ours ÷ Python
	// is 1.25×; Redis 25,000/s: 0.80×; the floor 25,000/s: 0.80×.
	rd := trial{blocks: []block{
		w1Block(4000, 20000, 45, []float64{10000}, 25000, 25000),
		w1Block(4000, 20000, 45, []float64{40000}, 25000, 25000),
	}}
	out := comparison(t, []trial{rd}, "W1")
	assert.Contains(t, out, "W1, W4, W6 and our W7 are interleaved")
	assert.Equal(t, "| W1 | ops/s, interleaved (pooled) ↑ | 20,000 | 16,000 | 25,000 | 25,000 | 1.25× | 0.80× | 0.80× |",
		tableLine(t, out, "| W1 | ops/s"))
	assert.Equal(t, "| W1 ops/s ≥ 2× Python (interleaved) | 1.25× | **no** | 1.56× |",
		tableLine(t, out, "| W1 ops/s ≥ 2× Python"))
	assert.Equal(t, "| W1 ops/s ≥ 1.1× Redis (interleaved) | 0.8× | **no** | 1× |",
		tableLine(t, out, "| W1 ops/s ≥ 1.1× Redis"))
	// Ours 45 µs against the floor's 40 µs (1e6 / 25,000/s).
	assert.Equal(t, "| W1 p50 ≤ 0.85× the raw socket floor (interleaved; issue 13: a faster wake-up path) | 1.12× | **no** |  |",
		tableLine(t, out, "| W1 p50 ≤ 0.85×"))
	// Block by block, ours ÷ Python was 2× and 0.5×.
	assert.Contains(t, out, "W1 ops/s per block: ÷ python 0.50×–2.00× (median 1.25×, 2 blocks)")
}

func TestComparisonRefusesInterleavedFigureOfAnIncorrectBlock(t *testing.T) {
	good := w1Block(4000, 20000, 45, []float64{10000}, 25000, 25000)
	bad := w1Block(4000, 99999, 45, []float64{10000}, 25000, 25000)
	bad[ilOurs][0]["correct"] = false
	out := comparison(t, []trial{{blocks: []block{good, bad}}}, "W1")
	line := tableLine(t, out, "| W1 | ops/s")
	assert.Contains(t, line, "**incorrect run** (1)")
	assert.Contains(t, line, "refused")
	assert.Contains(t, tableLine(t, out, "| W1 ops/s ≥ 2× Python"), "**refused**")
	assert.NotContains(t, out, "99,999")
}

func TestSectionsRunPythonsW7OutsideTheBlocks(t *testing.T) {
	tests := []struct {
		name string
		sel  []string
		want []string // the sections' names
		ours []bool   // whether ours runs in each
	}{
		{"W1, W2, W7", []string{"W1", "W2", "W7"},
			[]string{"W1,W7 interleaved in blocks (every side)", "workloads W2,W7"}, []bool{true, true}},
		{"W7 alone: ours in the blocks, Python's in the section", []string{"W7"},
			[]string{"W7 interleaved in blocks (every side)", "workloads W7"}, []bool{true, false}},
		{"no interleaved workload", []string{"W3"}, []string{"workloads W3"}, []bool{true}},
		{"W6 in the blocks, Python's too", []string{"W2", "W6"},
			[]string{"W6 interleaved in blocks (every side)", "workloads W2"}, []bool{true, true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			secs := sections(tt.sel, t.TempDir(), true, false)
			var names []string
			var ours []bool
			for _, s := range secs {
				names = append(names, s.name)
				ours = append(ours, s.run[sideOurs] != nil)
			}
			assert.Equal(t, tt.want, names)
			assert.Equal(t, tt.ours, ours)
		})
	}
}

func TestAnchorSectionsLeaveOutWhatTheBlocksMeasure(t *testing.T) {
	assert.Equal(t, "L1,L4,L5,L6", anchorSections(true, true))
	assert.Equal(t, "L4,L5,L6", anchorSections(false, true))
	assert.Equal(t, "L4,L5", anchorSections(false, false))
}

// w7Block is one block's W7: our start + first op and L6's server-ready
// child, in milliseconds.
func w7Block(ours, l6 float64) block {
	var blk block
	blk[ilOurs] = []map[string]any{{"workload": "W7", "manager_start_plus_first_op_ms": ours, "start_join_4_procs_ms": 4 * ours}}
	blk[ilFloor] = []map[string]any{{"id": "L6.spawn.server-ready", "median_ms": l6}, {"id": "L6.spawn.4", "median_ms": 4 * l6}}
	return blk
}

func TestComparisonReportsInterleavedW7AgainstL6(t *testing.T) {
	// The medians of the blocks: ours 40 ms (30, 40, 90), L6 20 ms (20,
	// 20, 25): 2.00×, where the mean of ours would say 53 ms.
	rd := trial{blocks: []block{w7Block(30, 20), w7Block(90, 25), w7Block(40, 20)}}
	out := comparison(t, []trial{rd}, "W7")
	assert.Equal(t, "| W7 | start + first op ms, interleaved with L6 (Python per section) ↓ | 40 | — | — | 20 | — | — | 2.00× |",
		tableLine(t, out, "| W7 | start + first op"))
	assert.Equal(t, "| W7 manager start + first op ≤ 1.1× a bare re-exec serving one round trip (L6, interleaved) | 2× | **no** |  |",
		tableLine(t, out, "| W7 manager start"))
	assert.Contains(t, tableLine(t, out, "| W7 4 workers"), "| 2× | **no** |")
}

// w6Block is one block's W6: ours and Python's bytes moved and MB/s, and
// Redis's iterations and MB/s (L4 prints no bytes).
func w6Block(oursBytes, oursMB, pyBytes, pyMB, redisN, redisMB float64) block {
	var blk block
	blk[ilOurs] = []map[string]any{{"workload": "W6", "bytes_moved": oursBytes, "mb_per_s": oursMB, "correct": true}}
	blk[ilPython] = []map[string]any{{"workload": "W6", "bytes_moved": pyBytes, "MB_per_s": pyMB}}
	blk[ilRedis] = []map[string]any{{"id": "L4.redis.W6.large", "n": redisN, "both_MB_per_s": redisMB}}
	return blk
}

func TestComparisonReportsInterleavedW6(t *testing.T) {
	// Two blocks of 100 MB each side. Ours 1,000 and 250 MB/s (0.1 s +
	// 0.4 s) pool to 400 MB/s; Python's 2,000 and 500 MB/s (0.05 s +
	// 0.2 s) to 800 MB/s, not the 1,250 of the mean of its rates; Redis's
	// 50 iterations at 800 and 50 at 3,200 MB/s pool to 1,280 MB/s. The
	// per-section rows, which say otherwise, are not used.
	rd := trial{
		blocks: []block{w6Block(100e6, 1000, 100e6, 2000, 50, 800), w6Block(100e6, 250, 100e6, 500, 50, 3200)},
		ours:   []*row{newRow("workload", "W6", "mb_per_s", 9999.0, "correct", true)},
		python: []map[string]any{{"workload": "W6", "MB_per_s": 7777.0}},
		anchor: []map[string]any{{"id": "L4.redis.W6.large", "both_MB_per_s": 5555.0}},
	}
	out := comparison(t, []trial{rd}, "W6")
	assert.Contains(t, out, "W1, W4, W6 and our W7 are interleaved")
	assert.Equal(t, "| W6 | MB/s, interleaved (pooled) ↑ | 400 | 800 | 1,280 | — | 0.50× | 0.31× | — |",
		tableLine(t, out, "| W6 | MB/s"))
	assert.Equal(t, "| W6 ≥ 2× Python MB/s (interleaved) | 0.5× | **no** | 1.6× |",
		tableLine(t, out, "| W6 ≥ 2× Python"))
	// Block by block, ours ÷ Python was 0.5× in both; ÷ Redis 1.25× and 0.08×.
	assert.Contains(t, out, "W6 MB/s per block: ÷ python 0.50×–0.50× (median 0.50×, 2 blocks); ÷ redis (L4) 0.08×–1.25× (median 0.66×, 2 blocks)")
}

func TestComparisonTakesRedisW6FromTheSectionWhenNoBlockRanIt(t *testing.T) {
	blk := w6Block(100e6, 1000, 100e6, 500, 50, 800)
	blk[ilRedis] = nil
	rd := trial{blocks: []block{blk}, anchor: []map[string]any{{"id": "L4.redis.W6.large", "both_MB_per_s": 2000.0}}}
	out := comparison(t, []trial{rd}, "W6")
	assert.Equal(t, "| W6 | MB/s, interleaved (pooled) ↑ | 1,000 | 500 | 2,000 | — | 2.00× | 0.50× | — |",
		tableLine(t, out, "| W6 | MB/s"))
	assert.Equal(t, "| W6 ≥ 2× Python MB/s (interleaved) | 2× | yes | 4× |",
		tableLine(t, out, "| W6 ≥ 2× Python"))
}

func TestComparisonRefusesInterleavedW6OfAnIncorrectBlock(t *testing.T) {
	good := w6Block(100e6, 1000, 100e6, 500, 50, 800)
	bad := w6Block(100e6, 9999, 100e6, 500, 50, 800)
	bad[ilOurs][0]["correct"] = false
	out := comparison(t, []trial{{blocks: []block{good, bad}}}, "W6")
	line := tableLine(t, out, "| W6 | MB/s")
	assert.Contains(t, line, "**incorrect run** (1)")
	assert.Contains(t, tableLine(t, out, "| W6 ≥ 2× Python"), "**refused**")
	assert.NotContains(t, out, "9,999")
}

func TestBlocksRunEachSideOnlyForItsWorkloads(t *testing.T) {
	tests := []struct {
		sel                  []string
		python, floor, redis bool
	}{
		{[]string{"W6"}, true, false, true},  // W6 has no floor
		{[]string{"W7"}, false, true, false}, // Python's W7 is per section; Redis has none
		{[]string{"W1", "W6"}, true, true, true},
		{[]string{"W4"}, true, true, true},
	}
	for _, tt := range tests {
		assert.True(t, blockSideRuns(ilOurs, tt.sel), "%v: ours", tt.sel)
		assert.Equal(t, tt.python, blockSideRuns(ilPython, tt.sel), "%v: python", tt.sel)
		assert.Equal(t, tt.floor, blockSideRuns(ilFloor, tt.sel), "%v: floor", tt.sel)
		assert.Equal(t, tt.redis, blockSideRuns(ilRedis, tt.sel), "%v: redis", tt.sel)
	}
}
