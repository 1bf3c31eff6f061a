package manager_test

import (
	"context"
	"testing"
	"time"

	"github.com/goproc/manager"
)

// BenchmarkW9 is BENCHMARKS.md's W9 beside W1, in one run against one
// manager process: 100,000 Store+Load pairs (200,000 ops) in pipelines
// of 100, and the same pairs one call at a time. ops/s counts a store or
// a load as one op.
//
//	go test -run '^$' -bench W9 -benchtime 1x -count 3 .
func BenchmarkW9(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	m := startManager(b)
	d, err := manager.NewDict[int, int](ctx, m)
	if err != nil {
		b.Fatal(err)
	}
	const pairs, depth = 100_000, 100
	b.Run("W9-pipeline-100", func(b *testing.B) {
		batch := manager.NewBatch(m)
		loads := make([]*manager.Future[manager.LoadResult[int]], 0, depth/2)
		for b.Loop() {
			start := time.Now()
			for i := 0; i < pairs; i += depth / 2 {
				loads = loads[:0]
				for k := i; k < i+depth/2; k++ {
					manager.BatchStore(batch, d, k, k)
					loads = append(loads, manager.BatchLoad(batch, d, k))
				}
				if err := batch.Flush(ctx); err != nil {
					b.Fatal(err)
				}
				for j, f := range loads {
					if r, err := f.Get(); err != nil || r.Value != i+j {
						b.Fatalf("load %d: %v %v", i+j, r, err)
					}
				}
			}
			b.ReportMetric(2*pairs/time.Since(start).Seconds(), "ops/s")
		}
	})
	b.Run("W1-sequential", func(b *testing.B) {
		for b.Loop() {
			start := time.Now()
			const n = 10_000
			for k := range n {
				if err := d.Store(ctx, k, k); err != nil {
					b.Fatal(err)
				}
				if _, _, err := d.Load(ctx, k); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(2*n/time.Since(start).Seconds(), "ops/s")
		}
	})
}
