package manager_test

import (
	"context"
	"fmt"
	"time"

	"github.com/goproc/manager"
)

// Calculator is a custom shared type used by the examples.
type Calculator struct{ memory int }

// Add returns x + y and remembers the result.
func (c *Calculator) Add(x, y int) int { c.memory = x + y; return c.memory }

// Memory returns the last result.
func (c *Calculator) Memory() int { return c.memory }

func init() {
	manager.Register[*Calculator]("ExampleCalculator", func() *Calculator { return &Calculator{} })
	manager.RegisterWorker("example-add", func(ctx context.Context, c *manager.Client, args manager.Args) error {
		var calc *manager.Proxy
		if err := args.Decode(&calc); err != nil {
			return err
		}
		sum, err := manager.Call[int](ctx, calc, "Add", 4, 3)
		fmt.Println("worker computed", sum)
		return err
	})
}

// A custom type registered in init is created in the manager and called
// by method name.
func ExampleRegister() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	m, err := manager.Start(ctx, manager.InProcess())
	if err != nil {
		panic(err)
	}
	defer m.Shutdown(ctx)

	calc, err := manager.New(ctx, m, "ExampleCalculator")
	if err != nil {
		panic(err)
	}
	sum, err := manager.Call[int](ctx, calc, "Add", 2, 40)
	fmt.Println(sum, err)
	// Output: 42 <nil>
}

// A proxy passed to Fork arrives usable in the worker process, and the
// parent sees what the worker did.
func ExampleClient_Fork() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	m, err := manager.Start(ctx)
	if err != nil {
		panic(err)
	}
	defer m.Shutdown(ctx)

	calc, err := manager.New(ctx, m, "ExampleCalculator")
	if err != nil {
		panic(err)
	}
	p, err := m.Fork(ctx, "example-add", calc)
	if err != nil {
		panic(err)
	}
	if err := p.Wait(); err != nil {
		panic(err)
	}
	memory, err := manager.Call[int](ctx, calc, "Memory")
	fmt.Println("parent sees", memory, err)
	// Output:
	// worker computed 7
	// parent sees 7 <nil>
}
