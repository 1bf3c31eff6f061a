package manager_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/goproc/manager"
)

// BenchmarkDictWalk compares walking a dict of 100 000 small entries in
// pages (All) with one snapshot (Items), through a manager process.
func BenchmarkDictWalk(b *testing.B) {
	ctx := testContext(b)
	m := startManager(b)
	d, err := manager.NewDict[int, int](ctx, m)
	require.NoError(b, err)
	const n = 100_000
	pairs := make([]manager.Pair[int, int], n)
	for i := range pairs {
		pairs[i] = manager.Pair[int, int]{Key: i, Value: i}
	}
	require.NoError(b, d.UpdatePairs(ctx, pairs))

	b.Run("All", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			seen := 0
			for _, err := range d.All(ctx) {
				if err != nil {
					b.Fatal(err)
				}
				seen++
			}
			if seen != n {
				b.Fatalf("saw %d entries, want %d", seen, n)
			}
		}
	})
	b.Run("Items", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			items, err := d.Items(ctx)
			if err != nil {
				b.Fatal(err)
			}
			if len(items) != n {
				b.Fatalf("got %d entries, want %d", len(items), n)
			}
		}
	})
}
