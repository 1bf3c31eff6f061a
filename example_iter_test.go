package manager_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/goproc/manager"
)

// Consumers range over a queue until it is shut down: no sentinel item
// per consumer, and the items put before Shutdown are all consumed.
func ExampleQueue_Shutdown() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	m, err := manager.Start(ctx, manager.InProcess())
	if err != nil {
		panic(err)
	}
	defer m.Shutdown(ctx)

	jobs, err := manager.NewQueue[int](ctx, m, 10)
	if err != nil {
		panic(err)
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		total int
	)
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for job, err := range jobs.Iter(ctx) {
				if err != nil {
					fmt.Println("consumer:", err)
					return
				}
				mu.Lock()
				total += job
				mu.Unlock()
			}
			// The loop ends when the queue is shut down and empty.
		}()
	}
	for job := 1; job <= 100; job++ {
		if err := jobs.Put(ctx, job); err != nil {
			panic(err)
		}
	}
	// Wakes the consumers waiting on an empty queue; they still get
	// whatever is left in it first.
	if err := jobs.Shutdown(ctx, false); err != nil {
		panic(err)
	}
	wg.Wait()
	fmt.Println("total", total)
	err = jobs.Put(ctx, 101)
	fmt.Println(errors.Is(err, manager.ErrShutDown))
	// Output:
	// total 5050
	// true
}

// All walks a dictionary in insertion order, a page at a time, however
// big it is; the error comes with each step, so it cannot be forgotten.
func ExampleDict_All() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	m, err := manager.Start(ctx, manager.InProcess())
	if err != nil {
		panic(err)
	}
	defer m.Shutdown(ctx)

	stock, err := manager.NewDict[string, int](ctx, m)
	if err != nil {
		panic(err)
	}
	err = stock.UpdatePairs(ctx, []manager.Pair[string, int]{
		{Key: "apples", Value: 3},
		{Key: "pears", Value: 0},
		{Key: "plums", Value: 12},
	})
	if err != nil {
		panic(err)
	}
	for p, err := range stock.All(ctx) {
		if err != nil {
			fmt.Println("walk:", err)
			return
		}
		fmt.Println(p.Key, p.Value)
	}
	// Output:
	// apples 3
	// pears 0
	// plums 12
}
