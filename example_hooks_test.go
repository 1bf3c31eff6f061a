package manager_test

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/goproc/manager"
)

// A client interceptor sees every method call a proxy makes, and its
// error; here it counts calls and failures per method.
func ExampleWithInterceptors() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var mu sync.Mutex
	counts := map[string]int{}
	count := func(next manager.CallFunc) manager.CallFunc {
		return func(ctx context.Context, call manager.CallInfo) error {
			err := next(ctx, call)
			mu.Lock()
			counts[call.TypeID+"."+call.Method+" "+manager.ErrorCode(err)]++
			mu.Unlock()
			return err
		}
	}
	m, err := manager.Start(ctx, manager.InProcess(), manager.WithInterceptors(count))
	if err != nil {
		panic(err)
	}
	defer m.Shutdown(ctx)

	d, err := manager.NewDict[string, int](ctx, m)
	if err != nil {
		panic(err)
	}
	d.Store(ctx, "a", 1)
	d.Store(ctx, "b", 2)
	q, err := manager.NewQueue[string](ctx, m, 0)
	if err != nil {
		panic(err)
	}
	q.TryGet(ctx) // fails: the queue is empty

	mu.Lock()
	defer mu.Unlock()
	fmt.Println(counts["Dict.Store "], counts["Queue.TryGetAs empty"])
	// Output: 2 1
}

// A server interceptor runs in the manager around every call it
// executes; here it times the calls and refuses one method.
func ExampleWithServerInterceptors() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var mu sync.Mutex
	var slowest time.Duration
	policy := func(next manager.ServerCallFunc) manager.ServerCallFunc {
		return func(ctx context.Context, call manager.ServerCallInfo) error {
			if call.TypeID == "Dict" && call.Method == "Clear" {
				return fmt.Errorf("clearing dicts is not allowed here")
			}
			start := time.Now()
			err := next(ctx, call)
			mu.Lock()
			slowest = max(slowest, time.Since(start))
			mu.Unlock()
			return err
		}
	}
	// Server interceptors need the server in this process: InProcess (or
	// NewServer).
	m, err := manager.Start(ctx, manager.InProcess(), manager.WithServerInterceptors(policy))
	if err != nil {
		panic(err)
	}
	defer m.Shutdown(ctx)

	d, err := manager.NewDict[string, int](ctx, m)
	if err != nil {
		panic(err)
	}
	fmt.Println(d.Store(ctx, "a", 1))
	fmt.Println(d.Clear(ctx))
	mu.Lock()
	fmt.Println(slowest > 0)
	mu.Unlock()
	// Output:
	// <nil>
	// manager: Dict.Clear: clearing dicts is not allowed here
	// true
}
