package manager_test

import (
	"context"
	"testing"

	"github.com/goproc/manager"
)

// The dispatch path of one call — client encode, socket round trip,
// server decode, method call, reply — on an in-process manager, so that
// both halves count in ns/op and allocs/op. Compare before and after a
// change with benchstat:
//
//	go test -run '^$' -bench Dispatch -count 10 > new.txt

// dispatchBench is the trivial custom type of the dispatch benchmarks.
type dispatchBench struct{}

func (dispatchBench) Nop()             {}
func (dispatchBench) Echo(x int) int   { return x }
func (dispatchBench) Len(s string) int { return len(s) }

func init() {
	manager.Register[dispatchBench]("dispatchbench.Nop", func() dispatchBench { return dispatchBench{} }, manager.ConcurrentSafe())
}

// dispatchContexts are the two kinds of context a caller passes: one that
// never ends (no cancellation to arm) and one that can.
func dispatchContexts(b *testing.B) []struct {
	name string
	ctx  context.Context
} {
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel)
	return []struct {
		name string
		ctx  context.Context
	}{
		{"background", context.Background()},
		{"cancelable", ctx},
	}
}

// BenchmarkDispatchCall is one call of a trivial method.
func BenchmarkDispatchCall(b *testing.B) {
	m := startManager(b, manager.InProcess())
	p, err := manager.New(testContext(b), m, "dispatchbench.Nop")
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range dispatchContexts(b) {
		b.Run("Nop/"+c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := manager.Call[struct{}](c.ctx, p, "Nop"); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("Echo/"+c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := manager.Call[int](c.ctx, p, "Echo", 100000); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkDispatchDict is W1's pair of calls, one Store and one Load of
// an int key and value, through the typed Dict.
func BenchmarkDispatchDict(b *testing.B) {
	m := startManager(b, manager.InProcess())
	d, err := manager.NewDict[int, int](testContext(b), m)
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range dispatchContexts(b) {
		b.Run("StoreLoad/"+c.name, func(b *testing.B) {
			b.ReportAllocs()
			i := 100000
			for b.Loop() {
				i++
				if err := d.Store(c.ctx, i, i); err != nil {
					b.Fatal(err)
				}
				if _, _, err := d.Load(c.ctx, i); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
