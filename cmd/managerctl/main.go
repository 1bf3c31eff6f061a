// Command managerctl looks inside a running manager: its statistics,
// sessions, objects, locks and queues, like redis-cli INFO and CLIENT
// LIST.
//
// Usage:
//
//	managerctl -addr ADDR [-key-file FILE] [-json] info|sessions|objects|locks|queues|get NAME
//	managerctl -addr ADDR [-key-file FILE] [-json] monitor [-n N] [-args]
//	managerctl -info-file FILE [-json] ...
//	managerctl -addr ADDR dashboard [-listen 127.0.0.1:8080] [-allow-remote] [-interval 1s] [-history 10m]
//	managerctl -redis URL [-redis-namespace NS] [-json] info|sessions|objects|locks|queues|get NAME|dashboard ...
//
// ADDR is a Unix socket path or host:port. The key is read from the
// environment variable MANAGER_AUTHKEY or from -key-file, never from the
// command line, where other users could read it: as text (surrounding
// white space trimmed, as examples/remote reads its -key-file), or in
// hex after "hex:" (a random key, as Manager.AuthKey returns it). -info-file reads both from the file a manager
// wrote with manager.WithInfoFile.
//
// -redis URL (or the environment variable MANAGER_REDIS_URL) reads the
// objects of the Redis engine instead (manager.ConnectRedis's URL forms:
// redis://, rediss://, the cluster forms), in the namespace
// -redis-namespace. A password belongs in MANAGER_REDIS_URL: on the
// command line every user sees it. There is no manager process there, so
// what only a manager counts (uptime, calls, bytes, memory) is not shown,
// and monitor is refused.
package main

import (
	"bufio"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/goproc/manager"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout, os.Getenv); err != nil {
		fmt.Fprintln(os.Stderr, "managerctl:", err)
		os.Exit(1)
	}
}

const usage = "usage: managerctl (-addr ADDR [-key-file FILE] | -info-file FILE | -redis URL [-redis-namespace NS]) [-json] [-timeout D] info|sessions|objects|locks|queues|get NAME|monitor [-n N] [-args]|dashboard [-listen ADDR]"

// run is main without the process: args are the arguments, getenv reads
// the environment.
func run(ctx context.Context, args []string, out io.Writer, getenv func(string) string) error {
	fs := flag.NewFlagSet("managerctl", flag.ContinueOnError)
	addr := fs.String("addr", "", "the manager's address: a Unix socket path or host:port")
	keyFile := fs.String("key-file", "", "a file holding the manager's key, as text or hex:HEX (default: $MANAGER_AUTHKEY)")
	infoFile := fs.String("info-file", "", "a file written by manager.WithInfoFile, giving the address and the key")
	redisURL := fs.String("redis", "", "read the Redis engine at this URL instead of a manager (default: $MANAGER_REDIS_URL); a password in it is visible in the process list")
	namespace := fs.String("redis-namespace", "", "the Redis engine's namespace (default: the library's, \"manager\")")
	asJSON := fs.Bool("json", false, "print JSON instead of tables")
	timeout := fs.Duration("timeout", 10*time.Second, "how long to wait for the manager")
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w\n%s", err, usage)
	}
	if fs.NArg() == 0 {
		return errors.New(usage)
	}
	ep, onRedis, err := redisTarget(*redisURL, *namespace, *addr, *infoFile, getenv)
	if err != nil {
		return err
	}
	if !onRedis {
		if ep.network, ep.address, ep.key, err = target(*addr, *keyFile, *infoFile, getenv); err != nil {
			return err
		}
	}
	if fs.Arg(0) == "dashboard" { // runs until interrupted: see dashboard.go
		return dashboard(ctx, fs.Args()[1:], ep, *timeout, out)
	}
	if fs.Arg(0) == "monitor" && onRedis {
		return errMonitorRedis
	}
	stream := ctx // monitor runs until stopped: -timeout bounds connecting only
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	c, err := dial(ctx, ep)
	if err != nil {
		return err
	}
	defer c.Close()
	w := bufio.NewWriter(out)
	defer w.Flush()
	p := printer{w: w, json: *asJSON, redis: onRedis}
	switch cmd := fs.Arg(0); cmd {
	case "info":
		st, err := c.Stats(ctx)
		if err != nil {
			return err
		}
		objs, err := c.Objects(ctx)
		if err != nil {
			return err
		}
		return p.info(st, objs)
	case "sessions":
		st, err := c.Stats(ctx)
		if err != nil {
			return err
		}
		return p.sessions(st.Sessions)
	case "objects", "locks", "queues":
		objs, err := c.Objects(ctx)
		if err != nil {
			return err
		}
		return p.objects(cmd, objs)
	case "get":
		if fs.NArg() != 2 {
			return errors.New("get takes one NAME")
		}
		return get(ctx, c, fs.Arg(1), w)
	case "monitor":
		return monitor(stream, c.(*manager.Client), fs.Args()[1:], w, *asJSON) // see monitor.go; not on Redis (above)
	default:
		return fmt.Errorf("unknown command %q\n%s", cmd, usage)
	}
}

// target returns where the manager is and its key.
func target(addr, keyFile, infoFile string, getenv func(string) string) (network, address string, key []byte, err error) {
	if infoFile != "" {
		info, err := manager.ReadInfoFile(infoFile)
		if err != nil {
			return "", "", nil, err
		}
		return info.Network, info.Addr, info.Key, nil
	}
	if addr == "" {
		return "", "", nil, errors.New("give -addr, -info-file or -redis\n" + usage)
	}
	network = "tcp"
	if strings.Contains(addr, "/") || !strings.Contains(addr, ":") {
		network = "unix"
	}
	text := getenv("MANAGER_AUTHKEY")
	if keyFile != "" {
		b, err := os.ReadFile(keyFile)
		if err != nil {
			return "", "", nil, fmt.Errorf("read key file: %w", err)
		}
		text = string(b)
	}
	text = strings.TrimSpace(text)
	if text == "" {
		return "", "", nil, errors.New("no key: set MANAGER_AUTHKEY or give -key-file")
	}
	if h, ok := strings.CutPrefix(text, "hex:"); ok {
		if key, err = hex.DecodeString(h); err != nil {
			return "", "", nil, fmt.Errorf("the key after hex: must be hex: %w", err)
		}
		return network, addr, key, nil
	}
	key = []byte(text)
	return network, addr, key, nil
}

// get prints a named object's contents as JSON: a Dict's, Namespace's
// or List's items, a Value's value, or, for other types, its inspection.
func get(ctx context.Context, c inspector, name string, w io.Writer) error {
	info, err := c.Inspect(ctx, name)
	if err != nil {
		return err
	}
	var v any
	switch info.Type {
	case "Dict":
		d, err := manager.OpenDict[string, any](ctx, c, name)
		if err != nil {
			return err
		}
		defer d.Close()
		items, err := d.Items(ctx)
		if err != nil {
			return err
		}
		m := make(map[string]any, len(items))
		for _, it := range items {
			m[it.Key] = it.Value
		}
		v = m
	case "List":
		l, err := manager.OpenList[any](ctx, c, name)
		if err != nil {
			return err
		}
		defer l.Close()
		if v, err = l.Copy(ctx); err != nil {
			return err
		}
	default:
		v = info
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
