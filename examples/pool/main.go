// Pool: Python's
//
//	def test(i, d):
//	    d[i] = i * i
//
//	with Pool(4) as pool:
//	    for i in range(10):
//	        pool.apply_async(test, (i, d))
//	    pool.close()
//	    pool.join()
//
// with a pool of four worker processes filling one shared dict.
//
//	go run ./examples/pool
package main

import (
	"context"
	"fmt"
	"log"
	"maps"
	"os"
	"slices"
	"time"

	"github.com/goproc/manager"
)

func init() {
	// Registered in init, so that the pool's workers (this same binary,
	// re-executed) know the task too.
	manager.RegisterTask("test", func(ctx context.Context, c *manager.Client, args manager.Args) (any, error) {
		var i int
		var d *manager.Dict[int, int]
		if err := args.Decode(&i, &d); err != nil {
			return nil, err
		}
		if err := d.Store(ctx, i, i*i); err != nil {
			return nil, err
		}
		return os.Getpid(), nil // which worker ran it
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

	d, err := manager.NewDict[int, int](ctx, m)
	if err != nil {
		log.Fatal(err)
	}
	pool, err := manager.NewPool(ctx, m, 4)
	if err != nil {
		log.Fatal(err)
	}
	var results []*manager.AsyncResult
	for i := range 10 {
		r, err := pool.Submit(ctx, "test", i, d) // apply_async(test, (i, d))
		if err != nil {
			log.Fatal(err)
		}
		results = append(results, r)
	}
	pool.Close()
	if err := pool.Wait(ctx); err != nil { // join()
		log.Fatal(err)
	}

	pids := map[int]bool{}
	for _, r := range results {
		var pid int
		if err := r.Get(ctx, &pid); err != nil { // a task's error, as Python's get() raises it
			log.Fatal(err)
		}
		pids[pid] = true
	}
	items, err := d.Copy(ctx)
	if err != nil {
		log.Fatal(err)
	}
	for _, k := range slices.Sorted(maps.Keys(items)) {
		fmt.Printf("%d: %d\n", k, items[k])
	}
	fmt.Printf("%d tasks ran in %d worker processes\n", len(results), len(pids))
}
