package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/goproc/manager"
)

// The multi-process workloads (W2, W3, W5) run in workers forked from
// this binary. As in python_manager_bench.py, each worker connects and
// warms up first, then waits at a barrier; the clock runs from the
// earliest worker start to the latest worker end (wall-clock times,
// comparable across processes), so process start-up is not counted (W7
// measures it).

// span is what a worker reports: when it started and finished its part,
// for W3 consumers the item numbers it got, and for the curve's workers
// the time of each operation.
type span struct {
	Start, End int64 // wall clock, ns
	Got        []uint64
	Lat        []int64 // ns
}

func init() {
	manager.RegisterWorker("bench/w2-lock", w2LockWorker)
	manager.RegisterWorker("bench/w2-add", w2AddWorker)
	manager.RegisterWorker("bench/w3-producer", w3Producer)
	manager.RegisterWorker("bench/w3-consumer", w3Consumer)
	manager.RegisterWorker("bench/w5-add", w5AddWorker)
	manager.RegisterWorker("bench/w5-locked", w5LockedWorker)
	manager.RegisterWorker("bench/noop", func(context.Context, *manager.Client, manager.Args) error { return nil })
}

// A fork is one worker to start: its name and arguments.
type fork struct {
	worker string
	args   []any
}

// A session is where a multi-process workload runs: a *manager.Manager,
// or a *manager.RedisSession (-engine redis), both of which fork workers
// whose proxy arguments arrive bound to the worker's own session.
type session interface {
	manager.Session
	Fork(ctx context.Context, worker string, args ...any) (*manager.Process, error)
}

// runWorkers forks the workers, collects one span from each through out,
// and waits for them. A worker that fails ends the wait at once.
func runWorkers(ctx context.Context, m session, out *manager.Queue[span], forks []fork) ([]span, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	var procs []*manager.Process
	defer func() {
		cancel(nil) // stops workers still running after a failure
		for _, p := range procs {
			<-p.Done()
		}
	}()
	for _, f := range forks {
		p, err := m.Fork(ctx, f.worker, f.args...)
		if err != nil {
			return nil, err
		}
		procs = append(procs, p)
		go func() {
			<-p.Done()
			if err := p.Wait(); err != nil {
				cancel(err)
			}
		}()
	}
	spans := make([]span, 0, len(forks))
	for range forks {
		s, err := out.Get(ctx)
		if err != nil {
			if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, ctx.Err()) {
				return nil, cause
			}
			return nil, err
		}
		spans = append(spans, s)
	}
	for _, p := range procs {
		if err := p.Wait(); err != nil {
			return nil, err
		}
	}
	return spans, nil
}

// elapsed is the time from the earliest start to the latest end.
func elapsed(spans []span) time.Duration {
	lo, hi := spans[0].Start, spans[0].End
	for _, s := range spans[1:] {
		lo, hi = min(lo, s.Start), max(hi, s.End)
	}
	return time.Duration(hi - lo)
}

// repeat forks k copies of one worker.
func repeat(k int, worker string, args ...any) []fork {
	fs := make([]fork, k)
	for i := range fs {
		fs[i] = fork{worker, args}
	}
	return fs
}

// runW2 is dict-contended: 4 processes × 2,000 increments of one counter,
// with a Lock around load + store (as Python must), and with Dict.Add.
func runW2(ctx context.Context) ([]*row, error) {
	m, stop, err := startManager(ctx)
	if err != nil {
		return nil, err
	}
	defer stop()
	return w2On(ctx, m)
}

// w2On runs W2 on the objects of m.
func w2On(ctx context.Context, m session) ([]*row, error) {
	const procs = 4
	per := n(2000, 200)
	var rows []*row
	for _, variant := range []string{"lock", "atomic"} {
		d, err := manager.NewDict[string, int](ctx, m)
		if err != nil {
			return nil, err
		}
		if err := d.Store(ctx, "n", 0); err != nil {
			return nil, err
		}
		b, out, err := rendezvous(ctx, m, procs)
		if err != nil {
			return nil, err
		}
		var forks []fork
		rpcs := 1
		if variant == "lock" {
			l, err := manager.NewLock(ctx, m)
			if err != nil {
				return nil, err
			}
			forks, rpcs = repeat(procs, "bench/w2-lock", d, l, per, b, out), 4
		} else {
			forks = repeat(procs, "bench/w2-add", d, per, b, out)
		}
		spans, err := runWorkers(ctx, m, out, forks)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", variant, err)
		}
		final, _, err := d.Load(ctx, "n")
		if err != nil {
			return nil, err
		}
		el, total := elapsed(spans), procs*per
		rows = append(rows, newRow("workload", "W2", "name", "dict-contended", "variant", variant,
			"processes", procs, "per_process", per, "expected", total, "final", final, "correct", final == total,
			"elapsed_s", round(el.Seconds(), 4), "increments_per_s", round(float64(total)/el.Seconds(), 1),
			"rpcs_per_increment", rpcs))
	}
	return rows, nil
}

// rendezvous makes the barrier the workers start at and the queue they
// report on.
func rendezvous(ctx context.Context, m manager.Session, parties int) (*manager.Barrier, *manager.Queue[span], error) {
	b, err := manager.NewBarrier(ctx, m, parties)
	if err != nil {
		return nil, nil, err
	}
	out, err := manager.NewQueue[span](ctx, m, 0)
	if err != nil {
		return nil, nil, err
	}
	return b, out, nil
}

// start waits at the barrier and returns the start time.
func start(ctx context.Context, b *manager.Barrier) (int64, error) {
	if _, err := b.Wait(ctx); err != nil {
		return 0, fmt.Errorf("barrier: %w", err)
	}
	return time.Now().UnixNano(), nil
}

// timed waits at the barrier, runs step per times and puts the span that
// took on out: the timed part of the W2 and W5 workers.
func timed(ctx context.Context, b *manager.Barrier, out *manager.Queue[span], per int, step func(context.Context) error) error {
	t0, err := start(ctx, b)
	if err != nil {
		return err
	}
	for range per {
		if err := step(ctx); err != nil {
			return err
		}
	}
	return out.Put(ctx, span{Start: t0, End: time.Now().UnixNano()})
}

// lockedIncrement adds 1 to a shared number as Python's
// `with lock: x += 1` does: acquire, load, store, release.
func lockedIncrement[N int | int64](ctx context.Context, l *manager.Lock, load func(context.Context) (N, error), store func(context.Context, N) error) error {
	if err := l.Acquire(ctx); err != nil {
		return err
	}
	x, err := load(ctx)
	if err != nil {
		return err
	}
	if err := store(ctx, x+1); err != nil {
		return err
	}
	return l.Release(ctx)
}

func w2LockWorker(ctx context.Context, _ *manager.Client, args manager.Args) error {
	var d *manager.Dict[string, int]
	var l *manager.Lock
	var per int
	var b *manager.Barrier
	var out *manager.Queue[span]
	if err := args.Decode(&d, &l, &per, &b, &out); err != nil {
		return err
	}
	if _, _, err := d.Load(ctx, "n"); err != nil {
		return err
	}
	if err := lockPair(ctx, l); err != nil {
		return err
	}
	return timed(ctx, b, out, per, func(ctx context.Context) error {
		return lockedIncrement(ctx, l,
			func(ctx context.Context) (int, error) { v, _, err := d.Load(ctx, "n"); return v, err },
			func(ctx context.Context, v int) error { return d.Store(ctx, "n", v) })
	})
}

func w2AddWorker(ctx context.Context, _ *manager.Client, args manager.Args) error {
	var d *manager.Dict[string, int]
	var per int
	var b *manager.Barrier
	var out *manager.Queue[span]
	if err := args.Decode(&d, &per, &b, &out); err != nil {
		return err
	}
	if _, _, err := d.Load(ctx, "n"); err != nil {
		return err
	}
	return timed(ctx, b, out, per, func(ctx context.Context) error {
		_, err := d.Add(ctx, "n", 1)
		return err
	})
}

// runW3 is queue: 1 producer process puts 20,000 items of 100 bytes, 2
// consumer processes get until a sentinel (an empty item).
func runW3(ctx context.Context) ([]*row, error) {
	m, stop, err := startManager(ctx)
	if err != nil {
		return nil, err
	}
	defer stop()
	return w3On(ctx, m)
}

// w3On runs W3 on the objects of m.
func w3On(ctx context.Context, m session) ([]*row, error) {
	const consumers, size = 2, 100
	items := n(20000, 2000)
	q, err := manager.NewQueue[[]byte](ctx, m, 0)
	if err != nil {
		return nil, err
	}
	b, out, err := rendezvous(ctx, m, 1+consumers)
	if err != nil {
		return nil, err
	}
	forks := append([]fork{{"bench/w3-producer", []any{q, items, consumers, size, b, out}}},
		repeat(consumers, "bench/w3-consumer", q, b, out)...)
	spans, err := runWorkers(ctx, m, out, forks)
	if err != nil {
		return nil, err
	}
	return []*row{w3Row(spans, items, consumers, size)}, nil
}

// w3Row is W3's row from the workers' spans: every item must have been
// received exactly once.
func w3Row(spans []span, items, consumers, size int) *row {
	seen := make([]int, items)
	received, exactlyOnce := 0, true
	var perConsumer []int
	for _, s := range spans {
		if s.Got == nil {
			continue // the producer
		}
		perConsumer = append(perConsumer, len(s.Got))
		for _, i := range s.Got {
			received++
			if i >= uint64(items) {
				exactlyOnce = false
				continue
			}
			seen[i]++
		}
	}
	for _, c := range seen {
		exactlyOnce = exactlyOnce && c == 1
	}
	el := elapsed(spans)
	r := newRow("workload", "W3", "name", "queue", "items", items, "item_bytes", size,
		"producers", 1, "consumers", consumers, "received", received, "per_consumer", perConsumer,
		"exactly_once", exactlyOnce, "correct", exactlyOnce && received == items, "elapsed_s", round(el.Seconds(), 4),
		"items_per_s", round(float64(items)/el.Seconds(), 1))
	return r
}

func w3Producer(ctx context.Context, _ *manager.Client, args manager.Args) error {
	var q *manager.Queue[[]byte]
	var items, consumers, size int
	var b *manager.Barrier
	var out *manager.Queue[span]
	if err := args.Decode(&q, &items, &consumers, &size, &b, &out); err != nil {
		return err
	}
	if _, err := q.Len(ctx); err != nil {
		return err
	}
	item := queueItem(size)
	t0, err := start(ctx, b)
	if err != nil {
		return err
	}
	for i := range items {
		binary.LittleEndian.PutUint64(item, uint64(i))
		if err := q.Put(ctx, item); err != nil {
			return err
		}
	}
	for range consumers {
		if err := q.Put(ctx, []byte{}); err != nil {
			return err
		}
	}
	return out.Put(ctx, span{Start: t0, End: time.Now().UnixNano()})
}

func w3Consumer(ctx context.Context, _ *manager.Client, args manager.Args) error {
	var q *manager.Queue[[]byte]
	var b *manager.Barrier
	var out *manager.Queue[span]
	if err := args.Decode(&q, &b, &out); err != nil {
		return err
	}
	if _, err := q.Len(ctx); err != nil {
		return err
	}
	return consume(ctx, b, out, func() ([]byte, error) { return q.Get(ctx) })
}

// consume is a W3 consumer's part after its warm-up: it waits at the
// barrier, gets items with get until the sentinel (an empty item), and
// reports their numbers.
func consume(ctx context.Context, b *manager.Barrier, out *manager.Queue[span], get func() ([]byte, error)) error {
	got := []uint64{}
	t0, err := start(ctx, b)
	if err != nil {
		return err
	}
	for {
		item, err := get()
		if err != nil {
			return err
		}
		if len(item) == 0 {
			break
		}
		if len(item) < 8 {
			return fmt.Errorf("item of %d bytes", len(item))
		}
		got = append(got, binary.LittleEndian.Uint64(item))
	}
	return out.Put(ctx, span{Start: t0, End: time.Now().UnixNano(), Got: got})
}

// runW5 is value-add: 4 processes × 25,000 adds to one shared counter:
// through the manager with a Lock around Load and Store (4 round trips an
// add, like for like with Python's manager Value under a manager Lock),
// with the atomic Value.Add (1 round trip), and in shared memory.
func runW5(ctx context.Context) ([]*row, error) {
	const procs = 4
	per := n(25000, 2500)
	m, stop, err := startManager(ctx)
	if err != nil {
		return nil, err
	}
	defer stop()
	var rows []*row
	for _, variant := range []string{"manager-locked", "manager"} {
		v, err := manager.NewValue[int64](ctx, m, 0)
		if err != nil {
			return nil, err
		}
		b, out, err := rendezvous(ctx, m, procs)
		if err != nil {
			return nil, err
		}
		forks, rpcs := repeat(procs, "bench/w5-add", v, per, b, out), 1
		if variant == "manager-locked" {
			l, err := manager.NewLock(ctx, m)
			if err != nil {
				return nil, err
			}
			forks, rpcs = repeat(procs, "bench/w5-locked", v, l, per, b, out), 4
		}
		spans, err := runWorkers(ctx, m, out, forks)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", variant, err)
		}
		final, err := v.Load(ctx)
		if err != nil {
			return nil, err
		}
		el, total := elapsed(spans), procs*per
		rows = append(rows, newRow("workload", "W5", "name", "value-add", "variant", variant,
			"processes", procs, "per_process", per, "expected", total, "final", final,
			"correct", final == int64(total), "elapsed_s", round(el.Seconds(), 4),
			"adds_per_s", round(float64(total)/el.Seconds(), 1), "rpcs_per_add", rpcs))
	}
	shm, err := runW5SharedMemory(ctx, m, procs, per)
	if err != nil {
		return nil, fmt.Errorf("shm: %w", err)
	}
	return append(rows, shm...), nil
}

// w5LockedWorker adds as Python's `with lock: v.value += 1` does: acquire,
// load, store, release.
func w5LockedWorker(ctx context.Context, _ *manager.Client, args manager.Args) error {
	var v *manager.Value[int64]
	var l *manager.Lock
	var per int
	var b *manager.Barrier
	var out *manager.Queue[span]
	if err := args.Decode(&v, &l, &per, &b, &out); err != nil {
		return err
	}
	if _, err := v.Load(ctx); err != nil {
		return err
	}
	if err := lockPair(ctx, l); err != nil {
		return err
	}
	return timed(ctx, b, out, per, func(ctx context.Context) error {
		return lockedIncrement(ctx, l, v.Load, v.Store)
	})
}

func w5AddWorker(ctx context.Context, _ *manager.Client, args manager.Args) error {
	var v *manager.Value[int64]
	var per int
	var b *manager.Barrier
	var out *manager.Queue[span]
	if err := args.Decode(&v, &per, &b, &out); err != nil {
		return err
	}
	if _, err := v.Load(ctx); err != nil {
		return err
	}
	return timed(ctx, b, out, per, func(ctx context.Context) error {
		_, err := v.Add(ctx, 1)
		return err
	})
}

// queueItem returns a queue item of size bytes as the queue workloads put
// it: the first 8 bytes take the item's number (little-endian), the rest
// is 'x'. Both sides, ours and plain, put the same bytes.
func queueItem(size int) []byte {
	item := make([]byte, size)
	for i := 8; i < size; i++ {
		item[i] = 'x'
	}
	return item
}
