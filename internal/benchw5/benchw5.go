// Package benchw5 runs the W5 workload (4 processes × 25,000 adds to one
// shared counter; see shared/anchors/README.md) on shared memory: a
// manager.SharedValue updated in place by forked workers, with no manager
// round trip. The benchmark program (cmd/bench) and the root package's
// benchmarks call it; its workers are registered in init, so any binary
// that imports it (and calls manager.Init first in main) can run it.
//
// As python_manager_bench.py does, the clock runs from the earliest
// worker's start to the latest worker's end, after every worker has
// started and reached a barrier: process start-up is not counted. The
// times are wall-clock nanoseconds (comparable across processes).
package benchw5

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/goproc/manager"
)

const (
	workerAdd    = "benchw5/shm-add"
	workerLocked = "benchw5/shm-locked"
)

func init() {
	manager.RegisterWorker(workerAdd, func(ctx context.Context, _ *manager.Client, args manager.Args) error {
		return work(ctx, args, func(v *manager.SharedValue[int64], _ *manager.SharedLock) error {
			v.Add(1)
			return nil
		})
	})
	manager.RegisterWorker(workerLocked, func(ctx context.Context, _ *manager.Client, args manager.Args) error {
		return work(ctx, args, func(v *manager.SharedValue[int64], mu *manager.SharedLock) error {
			// Python's `with v.get_lock(): v.value += 1`.
			if err := mu.Lock(ctx); err != nil {
				return err
			}
			v.Store(v.Load() + 1)
			return mu.Unlock()
		})
	})
}

// RunW5Shm runs W5 with SharedValue.Add (one atomic instruction per add):
// procs worker processes add 1 adds times each. It returns the adds per
// second and the final value (which must be procs×adds).
func RunW5Shm(ctx context.Context, m *manager.Manager, procs, adds int) (addsPerSec float64, final int64, err error) {
	return run(ctx, m, workerAdd, procs, adds)
}

// RunW5ShmLocked runs W5 as Python's mp.Value with get_lock() does it:
// each add takes the value's SharedLock, loads, stores and unlocks.
func RunW5ShmLocked(ctx context.Context, m *manager.Manager, procs, adds int) (addsPerSec float64, final int64, err error) {
	return run(ctx, m, workerLocked, procs, adds)
}

func run(ctx context.Context, m *manager.Manager, worker string, procs, adds int) (float64, int64, error) {
	if procs < 1 || adds < 1 {
		return 0, 0, fmt.Errorf("benchw5: %d processes × %d adds: %w", procs, adds, manager.ErrBadArguments)
	}
	v, err := manager.NewSharedValue[int64](0)
	if err != nil {
		return 0, 0, err
	}
	defer v.Close()
	spans, err := manager.NewSharedArray[int64](2 * procs) // start, end of each worker
	if err != nil {
		return 0, 0, err
	}
	defer spans.Close()
	// The barrier: each worker sends one message on ready, then blocks
	// reading start until this process closes its end, which releases
	// them all at once.
	ready, readyW, err := manager.Pipe(manager.OneWay())
	if err != nil {
		return 0, 0, err
	}
	defer ready.Close()
	startR, start, err := manager.Pipe(manager.OneWay())
	if err != nil {
		readyW.Close()
		return 0, 0, err
	}
	defer start.Close()

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var ps []*manager.Process
	defer func() {
		cancel(nil)
		for _, p := range ps {
			<-p.Done()
		}
	}()
	for i := range procs {
		p, err := m.Fork(ctx, worker, v, spans, i, adds, readyW, startR)
		if err != nil {
			readyW.Close()
			startR.Close()
			return 0, 0, err
		}
		ps = append(ps, p)
		go func() {
			<-p.Done()
			if err := p.Wait(); err != nil {
				cancel(err) // a failed worker ends the wait at once
			}
		}()
	}
	readyW.Close() // the workers hold their copies
	startR.Close()
	for range procs {
		if err := ready.Recv(ctx, nil); err != nil {
			return 0, 0, cause(ctx, err)
		}
	}
	start.Close() // go
	for _, p := range ps {
		select {
		case <-p.Done():
			if err := p.Wait(); err != nil {
				return 0, 0, err
			}
		case <-ctx.Done():
			return 0, 0, cause(ctx, ctx.Err())
		}
	}
	first, last := spans.Load(0), spans.Load(1)
	for i := 1; i < procs; i++ {
		first, last = min(first, spans.Load(2*i)), max(last, spans.Load(2*i+1))
	}
	el := time.Duration(last - first)
	if el <= 0 {
		el = 1
	}
	return float64(procs*adds) / el.Seconds(), v.Load(), nil
}

// cause prefers the error of a failed worker to the wait's own error.
func cause(ctx context.Context, err error) error {
	if c := context.Cause(ctx); c != nil && !errors.Is(c, context.Canceled) {
		return c
	}
	return err
}

// work is a worker's body: decode, pass the barrier, add, record the span.
func work(ctx context.Context, args manager.Args, add func(*manager.SharedValue[int64], *manager.SharedLock) error) error {
	var (
		v             *manager.SharedValue[int64]
		spans         *manager.SharedArray[int64]
		i, adds       int
		ready, startR *manager.PipeEnd
	)
	if err := args.Decode(&v, &spans, &i, &adds, &ready, &startR); err != nil {
		return err
	}
	defer v.Close()
	defer spans.Close()
	defer startR.Close()
	err := ready.Send(ctx, i)
	ready.Close()
	if err != nil {
		return err
	}
	if err := startR.Recv(ctx, nil); err != io.EOF {
		return fmt.Errorf("benchw5: waiting at the barrier: %v", err)
	}
	mu := v.Mutex()
	t0 := time.Now().UnixNano()
	for range adds {
		if err := add(v, mu); err != nil {
			return err
		}
	}
	t1 := time.Now().UnixNano()
	spans.Store(2*i, t0)
	spans.Store(2*i+1, t1)
	return nil
}
