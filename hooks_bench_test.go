package manager_test

import (
	"context"
	"testing"

	"github.com/goproc/manager"
)

// BenchmarkHooks is a Dict.Load on an in-process manager under each kind
// of call hook, for their cost when used (their cost when unused is
// BenchmarkCall's, A/B against a build without them).
func BenchmarkHooks(b *testing.B) {
	nopClient := func(next manager.CallFunc) manager.CallFunc { return next }
	nopServer := func(next manager.ServerCallFunc) manager.ServerCallFunc {
		return func(ctx context.Context, ci manager.ServerCallInfo) error { return next(ctx, ci) }
	}
	tests := []struct {
		name    string
		opts    []manager.StartOption
		monitor bool
	}{
		{"none", nil, false},
		{"client", []manager.StartOption{manager.WithInterceptors(nopClient)}, false},
		{"server", []manager.StartOption{manager.WithServerInterceptors(nopServer)}, false},
		{"pprof", []manager.StartOption{manager.WithPprofLabels()}, false},
		{"monitor", nil, true},
	}
	for _, tt := range tests {
		b.Run(tt.name, func(b *testing.B) {
			ctx := testContext(b)
			m := startManager(b, append(tt.opts, manager.InProcess())...)
			if tt.monitor {
				mon, err := m.Monitor(ctx, manager.MonitorOptions{})
				if err != nil {
					b.Fatal(err)
				}
				defer mon.Close() // never read: its events are dropped
			}
			d, err := manager.NewDict[string, int](ctx, m)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := d.Load(ctx, "k"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
