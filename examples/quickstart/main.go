// Quickstart: a parent and four forked worker processes update one shared
// custom object, then the parent prints the result.
//
//	go run ./examples/quickstart
package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"sort"
	"sync"
	"time"

	"github.com/goproc/manager"
)

// Tally counts how many items each worker handled. It lives in the
// manager process; every process reaches it through a proxy.
type Tally struct {
	mu     sync.Mutex
	counts map[string]int
}

// Record adds n items for worker and returns the new grand total.
func (t *Tally) Record(worker string, n int) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.counts[worker] += n
	total := 0
	for _, c := range t.counts {
		total += c
	}
	return total
}

// Counts returns a copy of the per-worker counts.
func (t *Tally) Counts() map[string]int {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make(map[string]int, len(t.counts))
	for k, v := range t.counts {
		out[k] = v
	}
	return out
}

func init() {
	// Registered in init, so the manager process and every worker (this
	// same binary, re-executed) know the type and the worker.
	manager.Register[*Tally]("Tally", func() *Tally { return &Tally{counts: map[string]int{}} })
	manager.RegisterWorker("count", count)
}

// count is the body of each worker process.
func count(ctx context.Context, c *manager.Client, args manager.Args) error {
	var tally *manager.Proxy
	var name string
	if err := args.Decode(&tally, &name); err != nil {
		return err
	}
	for i := 0; i < 25; i++ {
		if _, err := manager.Call[int](ctx, tally, "Record", name, 1); err != nil {
			return err
		}
	}
	return nil
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

	tally, err := manager.New(ctx, m, "Tally")
	if err != nil {
		log.Fatal(err)
	}
	var workers []*manager.Process
	for i := 1; i <= 4; i++ {
		p, err := m.Fork(ctx, "count", tally, fmt.Sprintf("worker-%d", i))
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
	counts, err := manager.Call[map[string]int](ctx, tally, "Counts")
	if err != nil {
		log.Fatal(err)
	}
	names := make([]string, 0, len(counts))
	for name := range counts {
		names = append(names, name)
	}
	sort.Strings(names)
	total := 0
	for _, name := range names {
		fmt.Printf("%s counted %d\n", name, counts[name])
		total += counts[name]
	}
	fmt.Printf("total: %d (manager pid %d, parent pid %d)\n", total, m.Pid(), os.Getpid())
}
