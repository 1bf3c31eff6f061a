// Python workers: a Go parent serves a queue of tasks and a results dict,
// and three Python processes (worker.py, using the goproc_manager client
// in python/) do the work.
//
//	go run ./examples/python            (from the repository root)
//
// The workers need Debian's python3 with python3-msgpack (-python picks
// another interpreter). Each worker gets the manager's address and key on
// its stdin, never on its command line or in its environment.
package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"time"

	"github.com/goproc/manager"
)

const workers = 3

func main() {
	manager.Init()
	python := flag.String("python", "/usr/bin/python3", "the Python interpreter (with msgpack)")
	dir := flag.String("dir", "examples/python", "the directory of worker.py (the repository's python/ is two levels up)")
	tasks := flag.Int("tasks", 30, "how many numbers to factor")
	flag.Parse()

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	m, err := manager.Start(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer m.Shutdown(context.Background())

	// Named, so that the Python side opens the same objects by name.
	queue, err := manager.OpenJoinableQueue[any](ctx, m, "tasks", 0)
	if err != nil {
		log.Fatal(err)
	}
	results, err := manager.OpenDict[int, []int](ctx, m, "results")
	if err != nil {
		log.Fatal(err)
	}

	// The address and key go to each worker through a pipe (its stdin).
	hello, _ := json.Marshal(map[string]string{"address": m.Addr().String(), "key": hex.EncodeToString(m.AuthKey())})
	worker := filepath.Join(*dir, "worker.py")
	pythonPath, _ := filepath.Abs(filepath.Join(*dir, "..", "..", "python"))
	var procs []*exec.Cmd
	for i := range workers {
		cmd := exec.CommandContext(ctx, *python, worker, fmt.Sprint(i))
		cmd.Env = append(os.Environ(), "PYTHONPATH="+pythonPath)
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		stdin, err := cmd.StdinPipe()
		if err != nil {
			log.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			log.Fatalf("start a Python worker: %v", err)
		}
		stdin.Write(hello)
		stdin.Close()
		procs = append(procs, cmd)
	}

	for n := 1; n <= *tasks; n++ {
		if err := queue.Put(ctx, 1_000_000+n); err != nil {
			log.Fatal(err)
		}
	}
	for range workers {
		queue.Put(ctx, nil) // one "stop" per worker
	}
	if err := queue.Join(ctx); err != nil { // every task got and acknowledged
		log.Fatal(err)
	}
	for _, p := range procs {
		if err := p.Wait(); err != nil {
			log.Fatalf("a Python worker failed: %v", err)
		}
	}

	got, err := results.Copy(ctx)
	if err != nil {
		log.Fatal(err)
	}
	keys := make([]int, 0, len(got))
	for k := range got {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	for _, k := range keys[:3] {
		fmt.Printf("%d = %v\n", k, got[k])
	}
	fmt.Printf("%d numbers factored by %d Python workers\n", len(got), workers)
}
