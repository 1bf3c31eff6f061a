// Namespace: shared attributes, Python's manager.Namespace(). The parent
// sets attributes, a worker process reads them and sets its own, and the
// parent reads everything back with Vars.
//
//	go run ./examples/namespace
package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/goproc/manager"
)

func init() {
	manager.RegisterWorker("worker", func(ctx context.Context, c *manager.Client, args manager.Args) error {
		var ns *manager.Namespace
		if err := args.Decode(&ns); err != nil {
			return err
		}
		var task string
		var size int
		if _, err := ns.Get(ctx, "task", &task); err != nil {
			return err
		}
		if _, err := ns.Get(ctx, "size", &size); err != nil {
			return err
		}
		if err := ns.Set(ctx, "result", fmt.Sprintf("%s of %d items done", task, size)); err != nil {
			return err
		}
		return ns.Set(ctx, "workerPid", os.Getpid())
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

	ns, err := manager.NewNamespace(ctx, m)
	if err != nil {
		log.Fatal(err)
	}
	// ns.task = "resize"; ns.size = 3
	if err := ns.Set(ctx, "task", "resize"); err != nil {
		log.Fatal(err)
	}
	if err := ns.Set(ctx, "size", 3); err != nil {
		log.Fatal(err)
	}
	p, err := m.Fork(ctx, "worker", ns)
	if err != nil {
		log.Fatal(err)
	}
	if err := p.Wait(); err != nil {
		log.Fatal(err)
	}

	// vars(ns), decoded into a struct.
	var vars struct {
		Task      string `msgpack:"task"`
		Size      int    `msgpack:"size"`
		Result    string `msgpack:"result"`
		WorkerPid int    `msgpack:"workerPid"`
	}
	if err := ns.Vars(ctx, &vars); err != nil {
		log.Fatal(err)
	}
	names, err := ns.Names(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("attributes:", names)
	fmt.Println("result set by the worker:", vars.Result)
	fmt.Println("set by another process:", vars.WorkerPid == p.Pid())

	// del ns.size; hasattr(ns, "size")
	if _, err := ns.Delete(ctx, "size"); err != nil {
		log.Fatal(err)
	}
	has, err := ns.Has(ctx, "size")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("has size after delete:", has)
}
