// Shmcounter: four worker processes add to one counter in shared memory
// (Python's multiprocessing.Value), 25,000 times each, with no manager
// round trip: every Add is one atomic instruction on memory all the
// processes map. The total is exact.
//
//	go run ./examples/shmcounter
package main

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/goproc/manager"
)

const (
	procs = 4
	adds  = 25000
)

func init() {
	manager.RegisterWorker("add", func(ctx context.Context, c *manager.Client, args manager.Args) error {
		var counter *manager.SharedValue[int64]
		var n int
		if err := args.Decode(&counter, &n); err != nil {
			return err
		}
		defer counter.Close()
		for range n {
			counter.Add(1)
		}
		return nil
	})
}

func main() {
	manager.Init() // first: in a worker or the manager process, this runs its role and exits

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	m, err := manager.Start(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer m.Shutdown(context.Background())

	counter, err := manager.NewSharedValue[int64](0)
	if err != nil {
		log.Fatal(err) // ErrNotSupported off Linux
	}
	defer counter.Close()

	start := time.Now()
	var workers []*manager.Process
	for range procs {
		// The counter's memory is inherited by the worker: pass it
		// directly as an argument of Fork.
		p, err := m.Fork(ctx, "add", counter, adds)
		if err != nil {
			log.Fatal(err)
		}
		workers = append(workers, p)
	}
	for _, p := range workers {
		if err := p.Wait(); err != nil {
			log.Fatal(err)
		}
	}
	elapsed := time.Since(start)
	fmt.Printf("total: %d (want %d)\n", counter.Load(), procs*adds)
	fmt.Printf("time: %v for %d processes × %d adds, process start-up included\n", elapsed.Round(time.Microsecond), procs, adds)
}
