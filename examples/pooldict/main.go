// Pooldict: a pool of worker processes filling one shared dict, and the
// nested-update trap of Python's managers (d['k']['x'] = 1 is lost)
// shown next to its fix, Dict.Modify.
//
//	go run ./examples/pooldict
package main

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/goproc/manager"
)

const (
	workers = 4
	keys    = 100
)

func init() {
	// fill stores d[i] = i for its share of the keys.
	manager.RegisterWorker("fill", func(ctx context.Context, c *manager.Client, args manager.Args) error {
		var d *manager.Dict[int, int]
		var worker int
		if err := args.Decode(&d, &worker); err != nil {
			return err
		}
		for i := worker; i < keys; i += workers {
			if err := d.Store(ctx, i, i); err != nil {
				return err
			}
		}
		return nil
	})
	// nested adds its keys to the map stored under "nested", either by
	// loading, changing and storing the map (unsafe: another worker's
	// store in between is overwritten) or with Modify (atomic).
	manager.RegisterWorker("nested", func(ctx context.Context, c *manager.Client, args manager.Args) error {
		var d *manager.Dict[string, map[string]int]
		var worker int
		var atomic bool
		if err := args.Decode(&d, &worker, &atomic); err != nil {
			return err
		}
		for i := worker; i < keys; i += workers {
			key := fmt.Sprint("k", i)
			if atomic {
				_, err := d.Modify(ctx, "nested", func(m map[string]int, _ bool) (map[string]int, error) {
					if m == nil {
						m = map[string]int{}
					}
					m[key] = i
					return m, nil
				})
				if err != nil {
					return err
				}
				continue
			}
			m, _, err := d.Load(ctx, "nested") // a copy
			if err != nil {
				return err
			}
			if m == nil {
				m = map[string]int{}
			}
			m[key] = i
			if err := d.Store(ctx, "nested", m); err != nil {
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

	d, err := manager.NewDict[int, int](ctx, m)
	if err != nil {
		log.Fatal(err)
	}
	runPool(ctx, m, "fill", d)
	n, err := d.Len(ctx)
	if err != nil {
		log.Fatal(err)
	}
	v, _, err := d.Load(ctx, 42)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%d workers filled d[i] = i: %d keys, d[42] = %d\n", workers, n, v)

	for _, atomic := range []bool{false, true} {
		nested, err := manager.NewDict[string, map[string]int](ctx, m)
		if err != nil {
			log.Fatal(err)
		}
		runPool(ctx, m, "nested", nested, atomic)
		got, _, err := nested.Load(ctx, "nested")
		if err != nil {
			log.Fatal(err)
		}
		if atomic {
			fmt.Printf("nested update with Modify:     %d of %d keys kept (always all)\n", len(got), keys)
		} else {
			fmt.Printf("nested update with Load/Store: %d of %d keys kept (updates overwritten by another worker are lost; a lucky run may keep all)\n", len(got), keys)
		}
	}
}

// runPool runs the worker name in each of the pool's processes, passing
// its index after obj, and waits for them all.
func runPool(ctx context.Context, m *manager.Manager, name string, obj any, more ...any) {
	var procs []*manager.Process
	for w := 0; w < workers; w++ {
		args := append([]any{obj, w}, more...)
		p, err := m.Fork(ctx, name, args...)
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
}
