package main

import (
	"context"

	"github.com/goproc/manager"
	"github.com/goproc/manager/internal/benchw5"
)

// runW5SharedMemory measures W5 in shared memory (SharedValue, no manager
// round trip): "variant": "shm" adds with one atomic instruction, and
// "shm-locked" takes the value's SharedLock around a load and a store, as
// Python's mp.Value with get_lock() does.
func runW5SharedMemory(ctx context.Context, m *manager.Manager, procs, per int) ([]*row, error) {
	var rows []*row
	for _, v := range []struct {
		variant string
		run     func(context.Context, *manager.Manager, int, int) (float64, int64, error)
	}{
		{"shm", benchw5.RunW5Shm},
		{"shm-locked", benchw5.RunW5ShmLocked},
	} {
		rate, final, err := v.run(ctx, m, procs, per)
		if err != nil {
			return nil, err
		}
		total := procs * per
		rows = append(rows, newRow("workload", "W5", "name", "value-add", "variant", v.variant,
			"processes", procs, "per_process", per, "expected", total, "final", final,
			"correct", final == int64(total), "elapsed_s", round(float64(total)/rate, 6),
			"adds_per_s", round(rate, 1)))
	}
	return rows, nil
}
