// Maths: a custom type registered with the manager and called from a
// forked worker process (Python's BaseManager.register('Maths', MathsClass)).
//
//	go run ./examples/maths
package main

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/goproc/manager"
)

// Maths is served by the manager process.
type Maths struct{}

// Add returns x + y.
func (Maths) Add(x, y int) int { return x + y }

// Mul returns x * y.
func (Maths) Mul(x, y int) int { return x * y }

func init() {
	manager.Register[*Maths]("Maths", func() *Maths { return &Maths{} })
	manager.RegisterWorker("calculate", func(ctx context.Context, c *manager.Client, args manager.Args) error {
		maths, err := manager.New(ctx, c, "Maths")
		if err != nil {
			return err
		}
		defer maths.Close()
		sum, err := manager.Call[int](ctx, maths, "Add", 4, 3)
		if err != nil {
			return err
		}
		product, err := manager.Call[int](ctx, maths, "Mul", 7, 8)
		if err != nil {
			return err
		}
		fmt.Println(sum)
		fmt.Println(product)
		return nil
	})
}

func main() {
	manager.Init()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	m, err := manager.Start(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer m.Shutdown(context.Background())

	p, err := m.Fork(ctx, "calculate")
	if err != nil {
		log.Fatal(err)
	}
	if err := p.Wait(); err != nil {
		log.Fatal(err)
	}
}
