package manager_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/goproc/manager"
)

func init() {
	manager.RegisterWorker("example-types-tally", func(ctx context.Context, c *manager.Client, args manager.Args) error {
		var scores *manager.Dict[string, map[string]int]
		var player string
		if err := args.Decode(&scores, &player); err != nil {
			return err
		}
		_, err := scores.Modify(ctx, "round1", func(old map[string]int, ok bool) (map[string]int, error) {
			if old == nil {
				old = map[string]int{}
			}
			old[player] += 10
			return old, nil
		})
		return err
	})
	manager.RegisterWorker("example-types-produce", func(ctx context.Context, c *manager.Client, args manager.Args) error {
		var jobs *manager.Queue[string]
		if err := args.Decode(&jobs); err != nil {
			return err
		}
		for _, job := range []string{"wash", "dry", "fold"} {
			if err := jobs.Put(ctx, job); err != nil {
				return err
			}
		}
		return nil
	})
	manager.RegisterWorker("example-types-locked", func(ctx context.Context, c *manager.Client, args manager.Args) error {
		var lock *manager.Lock
		var balance *manager.Value[int]
		if err := args.Decode(&lock, &balance); err != nil {
			return err
		}
		if err := lock.Acquire(ctx); err != nil {
			return err
		}
		defer lock.Release(ctx)
		n, err := balance.Load(ctx) // a read-then-write, safe under the lock
		if err != nil {
			return err
		}
		return balance.Store(ctx, n+10)
	})
	manager.RegisterWorker("example-types-wait", func(ctx context.Context, c *manager.Client, args manager.Args) error {
		var cond *manager.Condition
		var state *manager.Value[string]
		if err := args.Decode(&cond, &state); err != nil {
			return err
		}
		if err := cond.Acquire(ctx); err != nil {
			return err
		}
		defer cond.Release(ctx)
		return cond.WaitFor(ctx, func() (bool, error) {
			s, err := state.Load(ctx)
			return s == "ready", err
		})
	})
}

// A Dict shared by worker processes. Modify is the atomic
// read-modify-write of one entry: two workers updating the same nested
// map both keep their change (a Load, change and Store could lose one).
func ExampleDict() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	m, err := manager.Start(ctx)
	if err != nil {
		panic(err)
	}
	defer m.Shutdown(ctx)

	scores, err := manager.NewDict[string, map[string]int](ctx, m)
	if err != nil {
		panic(err)
	}
	var workers []*manager.Process
	for _, player := range []string{"ann", "bob"} {
		p, err := m.Fork(ctx, "example-types-tally", scores, player)
		if err != nil {
			panic(err)
		}
		workers = append(workers, p)
	}
	for _, p := range workers {
		if err := p.Wait(); err != nil {
			panic(err)
		}
	}
	round, _, err := scores.Load(ctx, "round1")
	fmt.Println(round, err)
	// Output: map[ann:10 bob:10] <nil>
}

// A bounded Queue between a producer process and this one. The ctx
// deadline is the timeout of Get; TryPut never blocks.
func ExampleQueue() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	m, err := manager.Start(ctx)
	if err != nil {
		panic(err)
	}
	defer m.Shutdown(ctx)

	jobs, err := manager.NewQueue[string](ctx, m, 2)
	if err != nil {
		panic(err)
	}
	p, err := m.Fork(ctx, "example-types-produce", jobs)
	if err != nil {
		panic(err)
	}
	for i := 0; i < 3; i++ {
		job, err := jobs.Get(ctx)
		if err != nil {
			panic(err)
		}
		fmt.Println("got", job)
	}
	if err := p.Wait(); err != nil {
		panic(err)
	}

	short, cancelShort := context.WithTimeout(ctx, 10*time.Millisecond)
	defer cancelShort()
	_, err = jobs.Get(short)
	fmt.Println("timed out:", errors.Is(err, context.DeadlineExceeded))
	fmt.Println(jobs.TryPut(ctx, "a"), jobs.TryPut(ctx, "b"))
	fmt.Println("full:", errors.Is(jobs.TryPut(ctx, "c"), manager.ErrFull))
	// Output:
	// got wash
	// got dry
	// got fold
	// timed out: true
	// <nil> <nil>
	// full: true
}

// A Lock held by one process at a time makes a read-then-write safe
// across processes. Releasing a lock this process does not hold is an
// error.
func ExampleLock() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	m, err := manager.Start(ctx)
	if err != nil {
		panic(err)
	}
	defer m.Shutdown(ctx)

	lock, err := manager.NewLock(ctx, m)
	if err != nil {
		panic(err)
	}
	balance, err := manager.NewValue(ctx, m, 0)
	if err != nil {
		panic(err)
	}
	var workers []*manager.Process
	for i := 0; i < 3; i++ {
		p, err := m.Fork(ctx, "example-types-locked", lock, balance)
		if err != nil {
			panic(err)
		}
		workers = append(workers, p)
	}
	for _, p := range workers {
		if err := p.Wait(); err != nil {
			panic(err)
		}
	}
	n, err := balance.Load(ctx)
	fmt.Println(n, err)
	fmt.Println(errors.Is(lock.Release(ctx), manager.ErrNotHeld))
	// Output:
	// 30 <nil>
	// true
}

// A worker process waits on a Condition until this process changes the
// state and notifies it; WaitFor evaluates its predicate in the waiting
// process.
func ExampleCondition() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	m, err := manager.Start(ctx)
	if err != nil {
		panic(err)
	}
	defer m.Shutdown(ctx)

	cond, err := manager.NewCondition(ctx, m, nil) // nil: a Lock of its own
	if err != nil {
		panic(err)
	}
	state, err := manager.NewValue(ctx, m, "starting")
	if err != nil {
		panic(err)
	}
	p, err := m.Fork(ctx, "example-types-wait", cond, state)
	if err != nil {
		panic(err)
	}

	if err := cond.Acquire(ctx); err != nil {
		panic(err)
	}
	if err := state.Store(ctx, "ready"); err != nil {
		panic(err)
	}
	if err := cond.NotifyAll(ctx); err != nil {
		panic(err)
	}
	if err := cond.Release(ctx); err != nil {
		panic(err)
	}
	fmt.Println("worker:", p.Wait())
	// Output: worker: <nil>
}
