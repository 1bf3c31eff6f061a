// Counter: 10 processes each add 1 ten times to a shared number. With
// Value.Add, which the manager performs atomically, the total is always
// 100. With a load followed by a store (Python's v.value += 1), two
// processes can load the same number and one increment is lost.
//
//	go run ./examples/counter
package main

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/goproc/manager"
)

const (
	processes = 10
	adds      = 10
)

func init() {
	manager.RegisterWorker("add", func(ctx context.Context, c *manager.Client, args manager.Args) error {
		var v *manager.Value[int]
		var atomic bool
		if err := args.Decode(&v, &atomic); err != nil {
			return err
		}
		for i := 0; i < adds; i++ {
			if atomic {
				if _, err := v.Add(ctx, 1); err != nil {
					return err
				}
				continue
			}
			n, err := v.Load(ctx) // unsafe: another process may store in between
			if err != nil {
				return err
			}
			if err := v.Store(ctx, n+1); err != nil {
				return err
			}
		}
		return nil
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

	for _, atomic := range []bool{true, false} {
		v, err := manager.NewValue(ctx, m, 0)
		if err != nil {
			log.Fatal(err)
		}
		var procs []*manager.Process
		for i := 0; i < processes; i++ {
			p, err := m.Fork(ctx, "add", v, atomic)
			if err != nil {
				log.Fatal(err)
			}
			procs = append(procs, p)
		}
		for _, p := range procs {
			if err := p.Wait(); err != nil {
				log.Fatal(err)
			}
		}
		total, err := v.Load(ctx)
		if err != nil {
			log.Fatal(err)
		}
		if atomic {
			fmt.Printf("Value.Add:      %d processes x %d adds = %d (always %d)\n", processes, adds, total, processes*adds)
		} else {
			fmt.Printf("Load then Store: %d processes x %d adds = %d (increments are lost when two processes interleave; a lucky run may still reach %d)\n", processes, adds, total, processes*adds)
		}
	}
}
