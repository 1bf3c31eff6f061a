// Queue: a bounded shared queue. Three puts fill a queue of capacity 3,
// and a fourth, non-blocking, put fails with ErrFull; then a producer
// process and a consumer process pass numbers through the queue.
//
//	go run ./examples/queue
package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/goproc/manager"
)

const stop = -1 // the producer's last item

func init() {
	manager.RegisterWorker("producer", func(ctx context.Context, c *manager.Client, args manager.Args) error {
		var q *manager.Queue[int]
		if err := args.Decode(&q); err != nil {
			return err
		}
		for i := 1; i <= 10; i++ {
			if err := q.Put(ctx, i); err != nil { // blocks while the queue is full
				return err
			}
		}
		return q.Put(ctx, stop)
	})
	manager.RegisterWorker("consumer", func(ctx context.Context, c *manager.Client, args manager.Args) error {
		var q *manager.Queue[int]
		var result *manager.Value[int]
		if err := args.Decode(&q, &result); err != nil {
			return err
		}
		sum := 0
		for {
			item, err := q.Get(ctx) // blocks while the queue is empty
			if err != nil {
				return err
			}
			if item == stop {
				return result.Store(ctx, sum)
			}
			sum += item
		}
	})
}

func main() {
	manager.Init()

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	m, err := manager.Start(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer m.Shutdown(context.Background())

	q, err := manager.NewQueue[int](ctx, m, 3)
	if err != nil {
		log.Fatal(err)
	}
	for i := 1; i <= 3; i++ {
		fmt.Printf("put %d: %v\n", i, q.Put(ctx, i))
	}
	err = q.TryPut(ctx, 4)
	fmt.Printf("put 4 without blocking: %v (ErrFull: %v)\n", err, errors.Is(err, manager.ErrFull))
	short, cancelShort := context.WithTimeout(ctx, 100*time.Millisecond)
	err = q.Put(short, 4)
	cancelShort()
	fmt.Printf("put 4 with a 100ms deadline: timed out: %v\n", errors.Is(err, context.DeadlineExceeded))
	for i := 0; i < 3; i++ {
		if _, err := q.Get(ctx); err != nil {
			log.Fatal(err)
		}
	}
	n, err := q.Len(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("emptied: %d items left (the timed-out put added nothing)\n", n)

	result, err := manager.NewValue(ctx, m, 0)
	if err != nil {
		log.Fatal(err)
	}
	consumer, err := m.Fork(ctx, "consumer", q, result)
	if err != nil {
		log.Fatal(err)
	}
	producer, err := m.Fork(ctx, "producer", q)
	if err != nil {
		log.Fatal(err)
	}
	for _, p := range []*manager.Process{producer, consumer} {
		if err := p.Wait(); err != nil {
			log.Fatal(err)
		}
	}
	sum, err := result.Load(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("the consumer process got 1..10 from the producer process through the queue: sum %d\n", sum)
}
