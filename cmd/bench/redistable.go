package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
)

// The table of -engine redis: each figure of ours (the typed proxies on
// the Redis engine) beside the same figure of plain go-redis, measured in
// the same round, and issue 12's targets.

// bySide reads field of the row of workload (and variant, if given)
// measured by side (sideEngine or sidePlain).
func bySide(workload, variant, side, field string) getter {
	return func(rd trial) fig {
		for _, r := range rd.ours {
			if r.vals["workload"] == workload && r.vals["side"] == side && (variant == "" || r.vals["variant"] == variant) {
				v, ok := r.num(field)
				return measured(v, ok, incorrect(r.vals))
			}
		}
		return fig{}
	}
}

// A redisMetric is one line of the -engine redis table.
type redisMetric struct {
	workload, variant, what, field string
	lowerBetter                    bool
	does                           string // what the plain side does
}

func (m redisMetric) ours() getter  { return bySide(m.workload, m.variant, sideEngine, m.field) }
func (m redisMetric) plain() getter { return bySide(m.workload, m.variant, sidePlain, m.field) }
func (m redisMetric) lua() getter   { return bySide(m.workload, m.variant, sideLua, m.field) }

var redisMetrics = []redisMetric{
	{"W1", "", "p50 µs", "p50_us", true, plainW1Does},
	{"W1", "", "ops/s", "ops_per_s", false, plainW1Does},
	{"W1", "", "p99 µs", "p99_us", true, plainW1Does},
	{"W1", "", "server µs per op in Lua scripts (with the commands they call)", "server_script_us_per_op", true, plainW1Does},
	{"W1", "", "server µs per op in commands (with those scripts call)", "server_command_us_per_op", true, plainW1Does},
	{"W1", "", "Redis commands per op (with those scripts call)", "redis_commands_per_op", true, plainW1Does},
	{"W2", "lock", "lock pattern incr/s (4 processes)", "increments_per_s", false, plainW2LockDoes},
	{"W2", "atomic", "atomic add incr/s (4 processes)", "increments_per_s", false, plainW2AtomicDoes},
	{"W3", "", "items/s (1 producer, 2 consumers)", "items_per_s", false, plainW3Does},
	{"W3", "", "server µs per item in Lua scripts (with the commands they call)", "server_script_us_per_op", true, plainW3Does},
	{"W3", "", "server µs per item in commands (with those scripts call)", "server_command_us_per_op", true, plainW3Does},
	{"W3", "", "Redis commands per item (with those scripts call)", "redis_commands_per_op", true, plainW3Does},
	{"W4", "", "pair p50 µs", "pair_p50_us", true, plainW4Does},
	{"W4", "", "pairs/s", "pairs_per_s", false, plainW4Does},
	{"W4", "", "pair p99 µs", "pair_p99_us", true, plainW4Does},
	{"W4", "", "server µs per pair in Lua scripts (with the commands they call)", "server_script_us_per_op", true, plainW4Does},
	{"W4", "", "server µs per pair in commands (with those scripts call)", "server_command_us_per_op", true, plainW4Does},
	{"W4", "", "Redis commands per pair (with those scripts call)", "redis_commands_per_op", true, plainW4Does},
}

// redisTargets are issue 12's: our overhead over the plain commands.
var redisTargets = []target{
	{"W1", "W1 p50 ≤ 1.15× go-redis", ratio(bySide("W1", "", sideEngine, "p50_us"), bySide("W1", "", sidePlain, "p50_us")), true, 1.15, "×", ratio(bySide("W1", "", sideLua, "p50_us"), bySide("W1", "", sidePlain, "p50_us"))},
	{"W3", "W3 items/s within 1.3× of go-redis (ours ÷ go-redis ≥ 0.77×)", ratio(bySide("W3", "", sideEngine, "items_per_s"), bySide("W3", "", sidePlain, "items_per_s")), false, 1 / 1.3, "×", nil},
	{"W4", "W4 pair p50 ≤ 1.3× go-redis", ratio(bySide("W4", "", sideEngine, "pair_p50_us"), bySide("W4", "", sidePlain, "pair_p50_us")), true, 1.3, "×", nil},
	{"W4", "W4 pairs/s within 1.3× of go-redis (ours ÷ go-redis ≥ 0.77×)", ratio(bySide("W4", "", sideEngine, "pairs_per_s"), bySide("W4", "", sidePlain, "pairs_per_s")), false, 1 / 1.3, "×", nil},
}

// printRedisComparison prints the -engine redis table and targets as
// Markdown: every ratio computed within one round, then the median
// taken; a figure from a run that reported itself incorrect is refused,
// and so is every ratio that uses it.
func printRedisComparison(w io.Writer, rounds []trial, sel []string, cluster bool) {
	server := "a standalone redis-server"
	if cluster {
		server = "a three-master Redis Cluster"
	}
	note := ""
	if len(rounds) > 1 {
		note = fmt.Sprintf(", medians of %d rounds (the side that goes first alternates)", len(rounds))
	}
	fmt.Fprintf(w, "\nThe Redis engine beside plain go-redis on %s, in one run%s. ↑: higher is better; ↓: lower is better.\n\n", server, note)
	fmt.Fprintln(w, "| workload | metric | manager on Redis | go-redis | go-redis, each command in a one-line Lua script | ÷ go-redis | the go-redis side does |")
	fmt.Fprintln(w, "|---|---|--:|--:|--:|--:|---|")
	for _, m := range redisMetrics {
		if !slices.Contains(sel, m.workload) {
			continue
		}
		cells := []string{m.workload, m.what + " " + arrow(m.lowerBetter),
			cell(summarize(rounds, m.ours())), cell(summarize(rounds, m.plain())), cell(summarize(rounds, m.lua())),
			ratioCell(summarize(rounds, ratio(m.ours(), m.plain()))), m.does}
		fmt.Fprintf(w, "| %s |\n", strings.Join(cells, " | "))
	}
	fmt.Fprintln(w)
	printTargets(w, rounds, redisTargets, sel, "the same for go-redis with each command in a one-line Lua script (the floor of one script per call)")
}
