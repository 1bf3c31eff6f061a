package main

import (
	"context"
	"fmt"
	"time"

	"github.com/goproc/manager"
)

// runW7 is startup: a manager's start plus its first operation, and 4
// worker processes forked and waited for; medians of several repeats.
// The in-process manager (manager.InProcess) is reported beside.
func runW7(ctx context.Context) ([]*row, error) {
	return w7(ctx, n(10, 3))
}

// w7 is W7 with reps repeats of each measurement.
func w7(ctx context.Context, reps int) ([]*row, error) {
	var startOnly, firstOp, shutdown, inProc, four []time.Duration
	for range reps {
		s, f, d, err := startFirstOp(ctx)
		if err != nil {
			return nil, err
		}
		startOnly, firstOp, shutdown = append(startOnly, s), append(firstOp, f), append(shutdown, d)
		_, f, _, err = startFirstOp(ctx, manager.InProcess())
		if err != nil {
			return nil, err
		}
		inProc = append(inProc, f)
	}
	m, stop, err := startManager(ctx)
	if err != nil {
		return nil, err
	}
	defer stop()
	for range reps {
		t0 := time.Now()
		procs := make([]*manager.Process, 4)
		for i := range procs {
			if procs[i], err = m.Fork(ctx, "bench/noop"); err != nil {
				return nil, err
			}
		}
		for _, p := range procs {
			if err := p.Wait(); err != nil {
				return nil, fmt.Errorf("worker: %w", err)
			}
		}
		four = append(four, time.Since(t0))
	}
	r := newRow("workload", "W7", "name", "startup", "repeats", reps,
		"manager_start_ms", round(ms(medianDuration(startOnly)), 2),
		"manager_start_plus_first_op_ms", round(ms(medianDuration(firstOp)), 2),
		"manager_shutdown_ms", round(ms(medianDuration(shutdown)), 2),
		"inprocess_start_plus_first_op_ms", round(ms(medianDuration(inProc)), 2),
		"start_join_4_procs_ms", round(ms(medianDuration(four)), 2))
	return []*row{r}, nil
}

// startFirstOp starts a manager, makes a dict and stores one entry (as
// Python's W7 does), then shuts the manager down, timing each step.
func startFirstOp(ctx context.Context, opts ...manager.StartOption) (start, firstOp, shutdown time.Duration, err error) {
	t0 := time.Now()
	m, err := manager.Start(ctx, opts...)
	if err != nil {
		return 0, 0, 0, err
	}
	t1 := time.Now()
	d, err := manager.NewDict[string, int](ctx, m)
	if err == nil {
		err = d.Store(ctx, "a", 1)
	}
	t2 := time.Now()
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if serr := m.Shutdown(sctx); err == nil {
		err = serr
	}
	return t1.Sub(t0), t2.Sub(t0), time.Since(t2), err
}
