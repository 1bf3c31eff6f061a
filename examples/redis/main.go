// Redis: a parent and 4 forked workers share a Dict, a JoinableQueue and
// a Lock kept in Redis instead of a manager process. The parent puts 100
// jobs in the queue; each worker takes jobs, adds each job's number to a
// per-worker count and to a total in the Dict, and appends to a log line
// under the Lock, whose fencing token it checks. The parent waits for
// every job to be done (Join) and prints the totals.
//
// Start a Redis first (any Redis 7 or Valkey), then run the example:
//
//	redis-server --port 6379 --save '' --appendonly no &
//	go run ./examples/redis
//
// REDIS_URL chooses another server: redis://host:port/db, rediss://…
// for TLS, or redis://host1:port?addr=host2:port for a Redis Cluster.
// The objects live in the namespace "example-redis", removed at the end.
package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/goproc/manager"
)

const (
	workers = 4
	jobs    = 100
)

func init() {
	manager.RegisterWorker("worker", func(ctx context.Context, _ *manager.Client, args manager.Args) error {
		var (
			id     int
			totals *manager.Dict[string, int]
			queue  *manager.JoinableQueue[int]
			lock   *manager.Lock
		)
		if err := args.Decode(&id, &totals, &queue, &lock); err != nil {
			return err
		}
		for {
			job, err := queue.Get(ctx)
			if err != nil {
				return err
			}
			if job < 0 { // the parent's signal to stop
				return queue.TaskDone(ctx)
			}
			if _, err := totals.Add(ctx, fmt.Sprintf("worker %d", id), 1); err != nil {
				return err
			}
			if _, err := totals.Add(ctx, "sum", job); err != nil {
				return err
			}
			if err := underLock(ctx, lock, totals); err != nil {
				return err
			}
			if err := queue.TaskDone(ctx); err != nil {
				return err
			}
		}
	})
}

// underLock updates the highest fencing token seen, as a resource
// guarded by the lock would: every acquisition gets a larger token, so a
// holder whose token is not larger than one already seen has lost the
// lock (its lease expired while it paused, or a failover reissued the
// token) and must not write.
func underLock(ctx context.Context, lock *manager.Lock, totals *manager.Dict[string, int]) error {
	if err := lock.Acquire(ctx); err != nil && !errors.Is(err, manager.ErrAbandoned) {
		return err
	}
	defer lock.Release(ctx)
	tok, err := lock.Token(ctx)
	if err != nil {
		return err
	}
	_, err = totals.Modify(ctx, "highest token", func(seen int, _ bool) (int, error) {
		if uint64(seen) >= tok {
			return seen, fmt.Errorf("fencing token %d is not newer than %d: the lock was lost", tok, seen)
		}
		return int(tok), nil
	})
	if err != nil {
		return err
	}
	_, err = totals.Add(ctx, "locked sections", 1)
	return err
}

func main() {
	manager.Init()

	url := os.Getenv("REDIS_URL")
	if url == "" {
		url = "redis://127.0.0.1:6379"
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// The one line that differs from a program using a manager, where it
	// reads: s, err := manager.Start(ctx)
	s, err := manager.ConnectRedis(ctx, url, manager.WithRedisNamespace("example-redis"))
	if err != nil {
		log.Fatalf("%v (is a redis-server running at %s? set REDIS_URL)", err, url)
	}
	defer s.Close()
	defer s.Purge(context.Background())

	totals, err := manager.NewDict[string, int](ctx, s)
	if err != nil {
		log.Fatal(err)
	}
	queue, err := manager.NewJoinableQueue[int](ctx, s, 0)
	if err != nil {
		log.Fatal(err)
	}
	lock, err := manager.NewLock(ctx, s)
	if err != nil {
		log.Fatal(err)
	}

	var procs []*manager.Process
	for id := range workers {
		p, err := s.Fork(ctx, "worker", id, totals, queue, lock)
		if err != nil {
			log.Fatal(err)
		}
		procs = append(procs, p)
	}
	for job := 1; job <= jobs; job++ {
		if err := queue.Put(ctx, job); err != nil {
			log.Fatal(err)
		}
	}
	if err := queue.Join(ctx); err != nil {
		log.Fatal(err)
	}
	for range workers {
		if err := queue.Put(ctx, -1); err != nil {
			log.Fatal(err)
		}
	}
	for _, p := range procs {
		if err := p.Wait(); err != nil {
			log.Fatal(err)
		}
	}

	got, err := totals.Copy(ctx)
	if err != nil {
		log.Fatal(err)
	}
	done := 0
	for id := range workers {
		n := got[fmt.Sprintf("worker %d", id)]
		done += n
		fmt.Printf("worker %d did %d jobs\n", id, n)
	}
	fmt.Printf("jobs done: %d of %d\n", done, jobs)
	fmt.Printf("sum of the jobs: %d (want %d)\n", got["sum"], jobs*(jobs+1)/2)
	fmt.Printf("locked sections: %d, highest fencing token: %d\n", got["locked sections"], got["highest token"])
}
