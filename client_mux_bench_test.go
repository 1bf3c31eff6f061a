package manager_test

import (
	"context"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/goproc/manager"
)

// BenchmarkConcurrentCalls measures Dict Store+Load pairs (as W1 and W8
// do) from 1 and 8 goroutines of one client against a manager process,
// reporting ops/s and the CPU time per operation of both processes
// (client and manager): on a loaded machine the ops/s of two runs compare
// poorly, the CPU each operation costs far better.
//
//	go test -run '^$' -bench BenchmarkConcurrentCalls -benchtime 20000x .
func BenchmarkConcurrentCalls(b *testing.B) {
	ctx := context.Background()
	m := startManager(b)
	d, err := manager.NewDict[int, int](ctx, m)
	if err != nil {
		b.Fatal(err)
	}
	for _, goroutines := range []int{1, 8} {
		b.Run("g"+strconv.Itoa(goroutines), func(b *testing.B) {
			cpu0, mcpu0 := selfCPU(b), procCPU(b, m.ManagerPid())
			start := time.Now()
			b.ResetTimer()
			var wg sync.WaitGroup
			per := b.N / goroutines
			for g := range goroutines {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := g * per; i < (g+1)*per; i++ {
						if err := d.Store(ctx, i, i); err != nil {
							b.Error(err)
							return
						}
						if v, ok, err := d.Load(ctx, i); err != nil || !ok || v != i {
							b.Errorf("Load(%d) = %d, %v, %v", i, v, ok, err)
							return
						}
					}
				}()
			}
			wg.Wait()
			b.StopTimer()
			ops := float64(2 * per * goroutines)
			el := time.Since(start)
			b.ReportMetric(ops/el.Seconds(), "ops/s")
			b.ReportMetric(float64(selfCPU(b)-cpu0)/float64(time.Microsecond)/ops, "client-cpu-µs/op")
			b.ReportMetric(float64(procCPU(b, m.ManagerPid())-mcpu0)/float64(time.Microsecond)/ops, "manager-cpu-µs/op")
		})
	}
}

// selfCPU returns this process's user+system CPU time.
func selfCPU(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// procCPU returns the user+system CPU time of process pid from
// /proc/pid/stat (in clock ticks of 10 ms).
func procCPU(tb testing.TB, pid int) time.Duration {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		tb.Fatal(err)
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	utime, _ := strconv.Atoi(f[11])
	stime, _ := strconv.Atoi(f[12])
	return time.Duration(utime+stime) * 10 * time.Millisecond
}
