package manager_test

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/goproc/manager"
)

// BenchmarkCall measures one sequential call of a trivial custom method on
// a manager process, per payload size, with p50 and p99 latencies.
// Compare with the raw Unix-socket floor measured in the same session:
// cd ../shared/anchors/go && go run . -only L1 -quick
func BenchmarkCall(b *testing.B) {
	ctx := context.Background()
	m := startManager(b)
	f, err := manager.New(ctx, m, "Faulty")
	if err != nil {
		b.Fatal(err)
	}
	for _, size := range []int{8, 1 << 10, 64 << 10} {
		payload := strings.Repeat("x", size)
		b.Run(fmt.Sprintf("seq/%dB", size), func(b *testing.B) {
			b.ReportAllocs()
			lat := make([]time.Duration, 0, 1<<16)
			for b.Loop() {
				t := time.Now()
				if _, err := manager.Call[string](ctx, f, "Echo", payload); err != nil {
					b.Fatal(err)
				}
				if len(lat) < cap(lat) {
					lat = append(lat, time.Since(t))
				}
			}
			reportPercentiles(b, lat)
		})
	}
	b.Run("parallel/8B", func(b *testing.B) {
		b.ReportAllocs()
		b.SetParallelism(4)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := manager.Call[string](ctx, f, "Echo", "12345678"); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

func reportPercentiles(b *testing.B, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	us := func(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
	b.ReportMetric(us(lat[len(lat)/2]), "p50-µs")
	b.ReportMetric(us(lat[len(lat)*99/100]), "p99-µs")
}
