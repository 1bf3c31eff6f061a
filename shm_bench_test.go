package manager_test

import (
	"context"
	"testing"

	"github.com/goproc/manager"
	"github.com/goproc/manager/internal/benchw5"
)

// BenchmarkSharedValueAdd measures SharedValue.Add from goroutines of one
// process: one atomic instruction on shared memory, contended.
func BenchmarkSharedValueAdd(b *testing.B) {
	b.Run("int64", func(b *testing.B) {
		v := newSharedValue(b, int64(0))
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				v.Add(1)
			}
		})
	})
	b.Run("float64", func(b *testing.B) { // a compare-and-swap loop
		v := newSharedValue(b, 0.0)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				v.Add(1)
			}
		})
	})
}

// BenchmarkSharedLock measures a SharedLock Lock/Unlock pair: alone (one
// atomic instruction each way), and contended by goroutines (which then
// sleep on the futex and wake each other).
func BenchmarkSharedLock(b *testing.B) {
	ctx := context.Background()
	b.Run("uncontended", func(b *testing.B) {
		mu := newSharedValue(b, int64(0)).Mutex()
		b.ReportAllocs()
		for b.Loop() {
			if err := mu.Lock(ctx); err != nil {
				b.Fatal(err)
			}
			mu.Unlock()
		}
	})
	b.Run("contended", func(b *testing.B) {
		v := newSharedValue(b, int64(0))
		mu := v.Mutex()
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := mu.Lock(ctx); err != nil {
					b.Error(err)
					return
				}
				v.Store(v.Load() + 1)
				mu.Unlock()
			}
		})
	})
}

// BenchmarkW5SharedMemory runs W5 (4 processes × 25,000 adds) on a
// SharedValue, with atomic adds and with the lock, as cmd/bench does, and
// reports adds/s. Python's mp.Value with get_lock() did 551,577 adds/s on
// the project machine (python3 shared/anchors/python_manager_bench.py
// --only W5 gives a same-run figure).
func BenchmarkW5SharedMemory(b *testing.B) {
	ctx := testContext(b)
	m := startManager(b, manager.InProcess())
	const procs, adds = 4, 25000
	for _, bm := range []struct {
		name string
		run  func(context.Context, *manager.Manager, int, int) (float64, int64, error)
	}{
		{"atomic", benchw5.RunW5Shm},
		{"locked", benchw5.RunW5ShmLocked},
	} {
		b.Run(bm.name, func(b *testing.B) {
			var sum float64
			for b.Loop() {
				rate, final, err := bm.run(ctx, m, procs, adds)
				if err != nil {
					b.Fatal(err)
				}
				if final != procs*adds {
					b.Fatalf("final %d, want %d", final, procs*adds)
				}
				sum += rate
			}
			b.ReportMetric(sum/float64(b.N), "adds/s")
		})
	}
}
