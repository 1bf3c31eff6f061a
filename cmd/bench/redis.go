package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/goproc/manager"
	"github.com/goproc/manager/internal/redisengine"
)

// -engine redis: W1–W4 on the Redis engine (manager.ConnectRedis), each
// beside plain go-redis doing the equivalent commands on the same server
// in the same run (issue 12's benchmark). The sequential workloads (W1,
// W4) alternate the two sides block by block; the multi-process ones (W2,
// W3) run one side after the other. Which side goes first rotates from
// round to round.

var (
	engineFlag   = flag.String("engine", "manager", "where the objects live: manager, or redis (W1–W4 on the Redis engine beside plain go-redis; with -runs N, N rounds)")
	redisURL     = flag.String("redis-url", "", "the Redis for -engine redis and W9's go-redis side (a ConnectRedis URL); default: a redis-server the bench starts on a Unix socket, without persistence")
	redisCluster = flag.Bool("redis-cluster", false, "with -engine redis and no -redis-url: start a three-master Redis Cluster on loopback ports instead")
)

// The two sides of a Redis-engine row.
const (
	sideEngine = "manager-redis" // our typed proxies on the Redis engine
	sidePlain  = "go-redis"      // plain go-redis commands
	sideLua    = "go-redis-lua"  // the same commands, each in a one-line script: the floor of any one-script-per-call engine
)

// redisEngineIDs are the workloads -engine redis runs.
var redisEngineIDs = []string{"W1", "W2", "W3", "W4"}

// A redisEnv is what one round of the Redis-engine workloads runs on:
// our session and a plain client of the same Redis, and the round (which
// picks the side that goes first, and the names of the plain keys).
type redisEnv struct {
	url   string
	s     *manager.RedisSession
	plain redis.UniversalClient
	round int
	ns    string
}

// key is the name of a plain-side key of this round: a hash tag per
// workload, so that each workload's keys share one cluster slot, as each
// of our objects' keys do.
func (e *redisEnv) key(workload, name string) string {
	return "{" + e.ns + "-plain-" + workload + "}:" + name
}

// oursFirst reports whether our side goes first in this round.
func (e *redisEnv) oursFirst() bool { return e.round%2 == 0 }

type redisWorkload struct {
	id  string
	run func(ctx context.Context, e *redisEnv) ([]*row, error)
}

var redisWorkloads = []redisWorkload{
	{"W1", redisW1},
	{"W2", redisW2},
	{"W3", redisW3},
	{"W4", redisW4},
}

// redisSelection is -only for -engine redis: W1–W4, or those of them
// named.
func redisSelection(s string) ([]string, error) {
	if strings.TrimSpace(s) == "" {
		return redisEngineIDs, nil
	}
	sel, err := selection(s)
	if err != nil {
		return nil, err
	}
	for _, id := range sel {
		if !slices.Contains(redisEngineIDs, id) {
			return nil, fmt.Errorf("-engine redis runs W1–W4, not %s (W9 needs Batch, which the Redis engine does not support: run -only W9 without -engine)", id)
		}
	}
	return sel, nil
}

// runRedisEngine is run for -engine redis: -runs rounds of the selected
// workloads, then the table of ratios.
func runRedisEngine() error {
	sel, err := redisSelection(*only)
	if err != nil {
		return err
	}
	if *runs < 1 {
		return fmt.Errorf("-runs must be at least 1")
	}
	loadStart, t0 := loadAvg(), time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(*runs*len(sel))*workloadTimeout)
	defer cancel()
	rs, err := startRedis(ctx)
	if err != nil {
		return err
	}
	defer rs.stop()
	plain, err := redisengine.ClientFromURL(rs.url)
	if err != nil {
		return err
	}
	defer plain.Close()
	emit(newRow("meta", true, "source", "manager", "engine", "redis", "redis_url", rs.url, "cluster", rs.cluster,
		"redis_version", redisVersion(ctx, plain), "quick", *quick, "load_avg", loadStart))
	var trials []trial
	for round := range *runs {
		if *runs > 1 {
			fmt.Fprintf(os.Stderr, "bench: round %d of %d\n", round+1, *runs)
		}
		rows, err := redisRound(ctx, rs.url, plain, sel, round)
		if err != nil {
			return err
		}
		trials = append(trials, trial{ours: rows})
	}
	fmt.Printf("\nMachine load average (1, 5, 15 min): %s at the start, %s at the end, %.1f min later.\n",
		loadStart, loadAvg(), time.Since(t0).Minutes())
	printRedisComparison(os.Stdout, trials, sel, rs.cluster)
	return nil
}

// redisRound runs the selected workloads once on both sides, in a
// namespace of its own, and removes what it made.
func redisRound(ctx context.Context, url string, plain redis.UniversalClient, sel []string, round int) ([]*row, error) {
	ns := fmt.Sprintf("bench-%d-%d", os.Getpid(), round)
	s, err := manager.ConnectRedis(ctx, url, manager.WithRedisNamespace(ns))
	if err != nil {
		return nil, fmt.Errorf("connect redis: %w", err)
	}
	e := &redisEnv{url: url, s: s, plain: plain, round: round, ns: ns}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		s.Purge(cctx)
		s.Close()
		for _, w := range redisWorkloads {
			for _, k := range []string{"h", "hl", "l", "lock"} {
				plain.Del(cctx, e.key(w.id, k))
			}
		}
	}()
	var all []*row
	for _, w := range redisWorkloads {
		if !slices.Contains(sel, w.id) {
			continue
		}
		start := time.Now()
		wctx, cancel := context.WithTimeout(ctx, workloadTimeout)
		rows, err := w.run(wctx, e)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("%s on redis: %w", w.id, err)
		}
		for _, r := range rows {
			r.set("engine", "redis")
			r.set("quick", *quick)
			if *runs > 1 {
				r.set("run", round+1)
			}
			emit(r)
		}
		all = append(all, rows...)
		fmt.Fprintf(os.Stderr, "bench: %s on redis done in %.1fs\n", w.id, time.Since(start).Seconds())
	}
	return all, nil
}

// redisVersion is the server's redis_version, or "".
func redisVersion(ctx context.Context, c redis.UniversalClient) string {
	info, err := c.Info(ctx, "server").Result()
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "redis_version:"); ok {
			return v
		}
	}
	return ""
}
