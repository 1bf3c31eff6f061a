package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/goproc/manager"
)

// The single-process workloads: one client (W1, W4, W6) or many
// goroutines of one client (W8) against a manager process.

// startManager starts a manager process (or, with -inprocess, serves
// from this process); stop shuts it down.
func startManager(ctx context.Context) (m *manager.Manager, stop func(), err error) {
	var opts []manager.StartOption
	if *inProc {
		opts = append(opts, manager.InProcess())
	}
	m, err = manager.Start(ctx, opts...)
	if err != nil {
		return nil, nil, fmt.Errorf("start manager: %w", err)
	}
	return m, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		m.Shutdown(ctx)
	}, nil
}

// startWithDict starts a manager with one Dict[int, int] in it, for the
// dict workloads; stop shuts the manager down.
func startWithDict(ctx context.Context) (*manager.Manager, *manager.Dict[int, int], func(), error) {
	m, stop, err := startManager(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	d, err := manager.NewDict[int, int](ctx, m)
	if err != nil {
		stop()
		return nil, nil, nil, err
	}
	return m, d, stop, nil
}

// runW1 is dict-rtt: one client, sequential store key i = i, load key i.
// Besides the anchors' fields it reports the client's heap allocations
// per operation (this process only; the manager is another process), and
// the raw-socket floor measured in blocks interleaved with ours (see
// floor.go), so that p50_vs_floor compares like with like.
func runW1(ctx context.Context) ([]*row, error) {
	return w1(ctx, n(10000, 1000))
}

// w1 is W1 for iters iterations.
func w1(ctx context.Context, iters int) ([]*row, error) {
	const blocks = 20
	m, d, stop, err := startWithDict(ctx)
	if err != nil {
		return nil, err
	}
	defer stop()
	fl, err := startFloor(ctx, m)
	if err != nil {
		return nil, err
	}
	defer fl.close()
	// Warm up the connections, the method tables and the allocator.
	var floorLat latencies
	for i := range 200 {
		if err := d.Store(ctx, -1, i); err != nil {
			return nil, err
		}
		if _, _, err := d.Load(ctx, -1); err != nil {
			return nil, err
		}
	}
	if err := fl.roundTrips(400, &floorLat); err != nil {
		return nil, err
	}
	floorLat = make(latencies, 0, 2*iters)
	lat := make(latencies, 0, 2*iters)
	var el, floorEl time.Duration
	var allocs, bytes uint64
	var x int
	for b := range blocks {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		start := time.Now()
		prev := start
		for i := b * iters / blocks; i < (b+1)*iters/blocks; i++ {
			if err := d.Store(ctx, i, i); err != nil {
				return nil, err
			}
			now := time.Now()
			lat = append(lat, now.Sub(prev))
			prev = now
			if x, _, err = d.Load(ctx, i); err != nil {
				return nil, err
			}
			now = time.Now()
			lat = append(lat, now.Sub(prev))
			prev = now
		}
		el += time.Since(start)
		runtime.ReadMemStats(&after)
		allocs += after.Mallocs - before.Mallocs
		bytes += after.TotalAlloc - before.TotalAlloc
		start = time.Now()
		if err := fl.roundTrips(2*iters/blocks, &floorLat); err != nil {
			return nil, err
		}
		floorEl += time.Since(start)
	}
	size, err := d.Len(ctx)
	if err != nil {
		return nil, err
	}
	ops := 2 * iters
	r := newRow("workload", "W1", "name", "dict-rtt", "iterations", iters, "ops", ops,
		"elapsed_s", round(el.Seconds(), 4), "ops_per_s", round(float64(ops)/el.Seconds(), 1))
	lat.addStats(r, "")
	r.set("client_allocs_per_op", round(float64(allocs)/float64(ops), 2))
	r.set("client_bytes_per_op", round(float64(bytes)/float64(ops), 1))
	r.set("correct", x == iters-1 && size == iters+1)
	floorLat.sort()
	r.set("floor_rt_per_s", round(float64(len(floorLat))/floorEl.Seconds(), 1))
	r.set("floor_p50_us", round(floorLat.pct(50), 2))
	r.set("floor_p99_us", round(floorLat.pct(99), 2))
	r.set("p50_vs_floor", round(lat.pct(50)/floorLat.pct(50), 3))
	return []*row{r}, nil
}

// runW4 is lock: one client, sequential acquire and release.
func runW4(ctx context.Context) ([]*row, error) {
	return w4(ctx, n(10000, 1000))
}

// w4 is W4 for pairs acquire-release pairs.
func w4(ctx context.Context, pairs int) ([]*row, error) {
	m, stop, err := startManager(ctx)
	if err != nil {
		return nil, err
	}
	defer stop()
	l, err := manager.NewLock(ctx, m)
	if err != nil {
		return nil, err
	}
	for range 200 {
		if err := lockPair(ctx, l); err != nil {
			return nil, err
		}
	}
	lat := make(latencies, 0, pairs)
	start := time.Now()
	prev := start
	for range pairs {
		if err := lockPair(ctx, l); err != nil {
			return nil, err
		}
		now := time.Now()
		lat = append(lat, now.Sub(prev))
		prev = now
	}
	el := time.Since(start)
	r := newRow("workload", "W4", "name", "lock", "pairs", pairs,
		"elapsed_s", round(el.Seconds(), 4), "pairs_per_s", round(float64(pairs)/el.Seconds(), 1))
	lat.addStats(r, "pair_")
	r.set("p50_us", r.vals["pair_p50_us"]) // the anchors README's name
	return []*row{r}, nil
}

func lockPair(ctx context.Context, l *manager.Lock) error {
	if err := l.Acquire(ctx); err != nil {
		return err
	}
	return l.Release(ctx)
}

// runW6 is large: sequential store and load of a 1 MiB byte value.
func runW6(ctx context.Context) ([]*row, error) {
	return w6(ctx, n(200, 50))
}

// w6 is W6 for iters iterations, on a fresh manager.
func w6(ctx context.Context, iters int) ([]*row, error) {
	size := 1 << 20
	blob, d, stop, err := newBlobDict(ctx, size)
	if err != nil {
		return nil, err
	}
	defer stop()
	// Warm up as Python's W6 does: one small store and load on the fresh
	// connection (Redis's W6 has no warm-up of its own; its connection is
	// warm from W1–W4's small commands). Warming up with the 1 MiB value
	// itself would grow buffers that the others grow inside the timing.
	if err := d.Store(ctx, "warm", []byte("x")); err != nil {
		return nil, err
	}
	if _, _, err := d.Load(ctx, "warm"); err != nil {
		return nil, err
	}
	sets, gets, got, el, err := storeLoadTimes(ctx, d, blob, iters)
	if err != nil {
		return nil, err
	}
	moved := 2 * iters * size
	r := newRow("workload", "W6", "name", "large", "iterations", iters, "value_bytes", size,
		"bytes_moved", moved, "elapsed_s", round(el.Seconds(), 4),
		"mb_per_s", round(float64(moved)/el.Seconds()/1e6, 1),
		"mib_per_s", round(float64(moved)/el.Seconds()/(1<<20), 1))
	r.set("set_p50_ms", round(sets.sort().pct(50)/1e3, 3))
	r.set("get_p50_ms", round(gets.sort().pct(50)/1e3, 3))
	r.set("correct", bytes.Equal(got, blob))
	return []*row{r}, nil
}

// storeLoadRange stores i under i and loads it back, checking it, for
// each i in [base, base+n), and notes the latency of every Store and
// every Load (W8 and the concurrency curve).
func storeLoadRange(ctx context.Context, d *manager.Dict[int, int], base, n int, note func(time.Duration)) error {
	prev := time.Now()
	for i := base; i < base+n; i++ {
		if err := d.Store(ctx, i, i); err != nil {
			return err
		}
		now := time.Now()
		note(now.Sub(prev))
		prev = now
		x, ok, err := d.Load(ctx, i)
		if err != nil {
			return err
		}
		if !ok || x != i {
			return fmt.Errorf("load %d: got %d, %v", i, x, ok)
		}
		now = time.Now()
		note(now.Sub(prev))
		prev = now
	}
	return nil
}

// newBlobDict makes a value of size random bytes and starts a manager
// with a Dict for it: the setup of W6 and of the value-size curve.
func newBlobDict(ctx context.Context, size int) (blob []byte, d *manager.Dict[string, []byte], stop func(), err error) {
	blob = make([]byte, size)
	rand.Read(blob)
	m, stop, err := startManager(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	if d, err = manager.NewDict[string, []byte](ctx, m); err != nil {
		stop()
		return nil, nil, nil, err
	}
	return blob, d, stop, nil
}

// storeLoadTimes stores blob under "big" and loads it back iters times,
// timing each Store and each Load (W6 and the value-size curve): it
// returns their latencies, the last value loaded and the time it all
// took.
func storeLoadTimes(ctx context.Context, d *manager.Dict[string, []byte], blob []byte, iters int) (sets, gets latencies, got []byte, el time.Duration, err error) {
	sets, gets = make(latencies, 0, iters), make(latencies, 0, iters)
	start := time.Now()
	for range iters {
		a := time.Now()
		if err := d.Store(ctx, "big", blob); err != nil {
			return nil, nil, nil, 0, err
		}
		b := time.Now()
		if got, _, err = d.Load(ctx, "big"); err != nil {
			return nil, nil, nil, 0, err
		}
		sets, gets = append(sets, b.Sub(a)), append(gets, time.Since(b))
	}
	return sets, gets, got, time.Since(start), nil
}

// runW8 is many goroutines: 8 goroutines of this process, each running W1
// on its own key range through one shared proxy.
func runW8(ctx context.Context) ([]*row, error) {
	const goroutines = 8
	iters := n(10000, 1000)
	_, d, stop, err := startWithDict(ctx)
	if err != nil {
		return nil, err
	}
	defer stop()
	// Warm up one connection per goroutine.
	if err := parallel(goroutines, func(g int) error {
		for range 100 {
			if err := d.Store(ctx, -1-g, g); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		return nil, err
	}
	lats := make([]latencies, goroutines)
	start := time.Now()
	err = parallel(goroutines, func(g int) error {
		lat := make(latencies, 0, 2*iters)
		if err := storeLoadRange(ctx, d, g*iters, iters, func(l time.Duration) { lat = append(lat, l) }); err != nil {
			return err
		}
		lats[g] = lat
		return nil
	})
	el := time.Since(start)
	if err != nil {
		return nil, err
	}
	var all latencies
	for _, l := range lats {
		all = append(all, l...)
	}
	size, err := d.Len(ctx)
	if err != nil {
		return nil, err
	}
	ops := goroutines * 2 * iters
	r := newRow("workload", "W8", "name", "many-goroutines", "goroutines", goroutines,
		"iterations_per_goroutine", iters, "ops", ops, "elapsed_s", round(el.Seconds(), 4),
		"ops_per_s", round(float64(ops)/el.Seconds(), 1))
	all.addStats(r, "")
	r.set("correct", size == goroutines*(iters+1)) // the warm-up keys -1…-8 too
	return []*row{r}, nil
}

// parallel runs fn(0) … fn(k-1) on k goroutines and returns the first
// error.
func parallel(k int, fn func(g int) error) error {
	errs := make([]error, k)
	var wg sync.WaitGroup
	for g := range k {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[g] = fn(g)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
