package main

import (
	"context"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/goproc/manager"
)

// W10 is a big dict: 1e6 entries, int → 16-byte string ("v%015d"), filled
// in batches of 10,000 (as the scaling anchors fill theirs); then the
// manager process's RSS per entry, and sequential Store/Load on random
// existing keys. The comparison rows come from the scaling anchors:
// python_scaling_bench.py --exp mem and --exp size, and the Redis scaling
// program's memhash (one hash) and size experiments.

const w10Batch = 10_000

func w10Entries() int { return n(1_000_000, 100_000) }
func w10Iters() int   { return n(10_000, 1_000) }

// runW10 fills a Dict[int, string] and measures it.
func runW10(ctx context.Context) ([]*row, error) {
	entries, iters := w10Entries(), w10Iters()
	m, stop, err := startManager(ctx)
	if err != nil {
		return nil, err
	}
	defer stop()
	d, err := manager.NewDict[int, string](ctx, m)
	if err != nil {
		return nil, err
	}
	pid := m.Pid()
	empty, err := settledRSS(ctx, pid)
	if err != nil {
		return nil, err
	}
	// As in the anchors, the batch is built inside the timed loop.
	pairs := make([]manager.Pair[int, string], 0, w10Batch)
	t0 := time.Now()
	for i := 0; i < entries; i += w10Batch {
		pairs = pairs[:0]
		for j := i; j < min(i+w10Batch, entries); j++ {
			pairs = append(pairs, manager.Pair[int, string]{Key: j, Value: fmt.Sprintf("v%015d", j)})
		}
		if err := d.UpdatePairs(ctx, pairs); err != nil {
			return nil, fmt.Errorf("fill at %d: %w", i, err)
		}
	}
	fill := time.Since(t0)
	size, err := d.Len(ctx)
	if err != nil {
		return nil, err
	}
	full, err := settledRSS(ctx, pid)
	if err != nil {
		return nil, err
	}

	// Store then Load on random existing keys, the scaling anchors' size
	// experiment: the same key sequence, 200 pairs of warm-up.
	keys := w10Keys(iters+200, entries)
	vals := make([]string, iters)
	for i := range vals {
		vals[i] = fmt.Sprintf("v%015d", i)
	}
	for _, k := range keys[:200] {
		if err := d.Store(ctx, k, fmt.Sprintf("v%015d", k)); err != nil {
			return nil, err
		}
		if _, _, err := d.Load(ctx, k); err != nil {
			return nil, err
		}
	}
	lat := make(latencies, 0, 2*iters)
	ok := true
	start := time.Now()
	prev := start
	for i, k := range keys[200:] {
		if err := d.Store(ctx, k, vals[i]); err != nil {
			return nil, err
		}
		now := time.Now()
		lat = append(lat, now.Sub(prev))
		prev = now
		x, found, err := d.Load(ctx, k)
		if err != nil {
			return nil, err
		}
		ok = ok && found && x == vals[i]
		now = time.Now()
		lat = append(lat, now.Sub(prev))
		prev = now
	}
	el := time.Since(start)
	after, err := d.Len(ctx)
	if err != nil {
		return nil, err
	}

	r := newRow("workload", "W10", "name", "big-dict", "entries", entries, "len", size,
		"value", "16-byte string v%015d", "batch", w10Batch,
		"fill_s", round(fill.Seconds(), 3), "fill_entries_per_s", round(float64(entries)/fill.Seconds(), 0),
		"rss_empty_mb", round(float64(empty.rss)/1024, 2), "rss_full_mb", round(float64(full.rss)/1024, 2),
		"peak_rss_mb", round(float64(full.hwm)/1024, 2),
		"bytes_per_entry", round(float64(full.rss-empty.rss)*1024/float64(entries), 1),
		"rss_settle_s", round(full.waited.Seconds(), 2), "rss_settled", empty.settled && full.settled,
		"ops", 2*iters, "ops_per_s", round(float64(2*iters)/el.Seconds(), 1))
	lat.addStats(r, "")
	r.set("correct", ok && size == entries && after == entries)
	if *inProc {
		r.set("rss_note", "in-process manager: the RSS is this whole process's")
	}
	return []*row{r}, nil
}

// w10Keys is the scaling anchors' key sequence: n keys in [0, size), the
// same on every run.
func w10Keys(n, size int) []int {
	r := mrand.New(mrand.NewPCG(1, uint64(size)))
	ks := make([]int, n)
	for i := range ks {
		ks[i] = r.IntN(size)
	}
	return ks
}

// An rss is a process's resident set (VmRSS) and its peak (VmHWM), in
// kB, and how long it took to settle.
type rss struct {
	rss, hwm int
	waited   time.Duration
	settled  bool
}

// Settling: the RSS counts once it has moved by less than rssTolerance
// (or 256 kB, whichever is larger) across rssWindow consecutive readings
// rssPoll apart, or rssLimit has passed (then settled is false). The
// anchors read their RSS 5 s after the fill; a Go process that is idle
// does not collect or return memory on its own within seconds, so waiting
// for the figure to hold still is both quicker and as fair.
const (
	rssPoll      = 100 * time.Millisecond
	rssWindow    = 10
	rssTolerance = 0.005
	rssLimit     = 15 * time.Second
)

// settledRSS waits for pid's resident set to stop moving and returns it.
func settledRSS(ctx context.Context, pid int) (rss, error) {
	t0 := time.Now()
	var window []int
	tick := time.NewTicker(rssPoll)
	defer tick.Stop()
	for {
		cur, hwm, err := readRSS(pid)
		if err != nil {
			return rss{}, err
		}
		window = append(window, cur)
		if len(window) > rssWindow {
			window = window[1:]
		}
		lo, hi := cur, cur
		for _, x := range window {
			lo, hi = min(lo, x), max(hi, x)
		}
		steady := len(window) == rssWindow && float64(hi-lo) <= max(256, rssTolerance*float64(hi))
		if steady || time.Since(t0) > rssLimit {
			return rss{rss: cur, hwm: hwm, waited: time.Since(t0), settled: steady}, nil
		}
		select {
		case <-ctx.Done():
			return rss{}, ctx.Err()
		case <-tick.C:
		}
	}
}

// readRSS reads VmRSS and VmHWM of pid (kB) from /proc/pid/status, as the
// anchors do.
func readRSS(pid int) (cur, hwm int, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, fmt.Errorf("read the manager process's RSS: %w", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		switch f[0] {
		case "VmRSS:":
			cur, err = strconv.Atoi(f[1])
		case "VmHWM:":
			hwm, err = strconv.Atoi(f[1])
		}
		if err != nil {
			return 0, 0, fmt.Errorf("parse /proc/%d/status: %w", pid, err)
		}
	}
	if cur == 0 {
		return 0, 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
	}
	return cur, hwm, nil
}
