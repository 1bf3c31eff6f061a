package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/goproc/manager/internal/redisengine"
	"github.com/goproc/manager/internal/redistest"
)

// The Redis the Redis-side rows run against: one the bench starts itself
// (a standalone redis-server on a Unix socket without persistence, as the
// anchors' L4 runs it, or a three-master cluster on loopback ports), or
// the one -redis-url names. internal/redistest's servers cannot serve
// here (only its FreePort is shared): they need a testing.TB, and its standalone server fsyncs every write (AOF
// appendfsync always), which would make every write a disk flush in a
// benchmark.

// redisStartTimeout bounds the start of one server or the forming of the
// cluster; generous, since the machine may be loaded.
const redisStartTimeout = 30 * time.Second

// A redisServer is what the Redis-side rows run against: its URL (for
// manager.ConnectRedis and for the plain go-redis client alike) and how
// to stop what the bench started.
type redisServer struct {
	url     string
	cluster bool
	procs   []*exec.Cmd
	dir     string
}

// startRedis returns the Redis to run against: -redis-url's, or a server
// (a cluster with -redis-cluster) that the bench starts now.
func startRedis(ctx context.Context) (*redisServer, error) {
	if *redisURL != "" {
		return &redisServer{url: *redisURL, cluster: redisengine.IsClusterURL(*redisURL)}, nil
	}
	if _, err := exec.LookPath("redis-server"); err != nil {
		return nil, fmt.Errorf("redis-server is not on PATH (apt-get install -y redis-server), or give -redis-url: %w", err)
	}
	dir, err := os.MkdirTemp("", "bench-redis-")
	if err != nil {
		return nil, err
	}
	rs := &redisServer{dir: dir, cluster: *redisCluster}
	ctx, cancel := context.WithTimeout(ctx, redisStartTimeout)
	defer cancel()
	if err := rs.start(ctx); err != nil {
		logs, _ := filepath.Glob(filepath.Join(dir, "*.log"))
		for _, l := range logs {
			b, _ := os.ReadFile(l)
			err = fmt.Errorf("%w\n%s: %s", err, filepath.Base(l), b)
		}
		rs.stop()
		return nil, err
	}
	return rs, nil
}

func (rs *redisServer) start(ctx context.Context) error {
	common := []string{"--save", "", "--appendonly", "no", "--daemonize", "no", "--loglevel", "warning", "--protected-mode", "no"}
	if !rs.cluster {
		sock := filepath.Join(rs.dir, "redis.sock")
		args := append([]string{"--port", "0", "--unixsocket", sock, "--unixsocketperm", "700", "--dir", rs.dir}, common...)
		if err := rs.run(ctx, args); err != nil {
			return err
		}
		rs.url = "unix://" + sock
		return waitPing(ctx, rs.url)
	}
	var addrs []string
	for i := range 3 {
		port, err := redistest.FreePort(true)
		if err != nil {
			return err
		}
		dir := filepath.Join(rs.dir, strconv.Itoa(i))
		if err := os.Mkdir(dir, 0o700); err != nil {
			return err
		}
		args := append([]string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", dir,
			"--cluster-enabled", "yes", "--cluster-config-file", filepath.Join(dir, "nodes.conf"),
			"--cluster-node-timeout", "5000"}, common...)
		if err := rs.run(ctx, args); err != nil {
			return err
		}
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		if err := waitPing(ctx, "redis://"+addr); err != nil {
			return err
		}
		addrs = append(addrs, addr)
	}
	args := append(append([]string{"--cluster", "create"}, addrs...), "--cluster-replicas", "0", "--cluster-yes")
	if out, err := exec.CommandContext(ctx, "redis-cli", args...).CombinedOutput(); err != nil {
		return fmt.Errorf("redis-cli --cluster create: %w\n%s", err, out)
	}
	for _, a := range addrs {
		if err := waitClusterOK(ctx, a); err != nil {
			return err
		}
	}
	rs.url = "redis://" + addrs[0] + "?addr=" + addrs[1] + "&addr=" + addrs[2]
	return nil
}

// run starts one redis-server with args; its log goes to a file beside
// its data (shown if the start fails). It dies with this process
// (Pdeathsig) if stop never runs.
func (rs *redisServer) run(ctx context.Context, args []string) error {
	log, err := os.Create(filepath.Join(rs.dir, fmt.Sprintf("redis-%d.log", len(rs.procs))))
	if err != nil {
		return err
	}
	defer log.Close() // the child has its own copy
	cmd := exec.Command("redis-server", args...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start redis-server: %w", err)
	}
	rs.procs = append(rs.procs, cmd)
	return ctx.Err()
}

// stop stops the servers the bench started (SIGTERM, then SIGKILL after
// 5 s), waits for them, and removes their directory.
func (rs *redisServer) stop() {
	for _, cmd := range rs.procs {
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	}
	rs.procs = nil
	if rs.dir != "" {
		os.RemoveAll(rs.dir)
	}
}

// waitPing waits until the server at url answers PING, or ctx ends.
func waitPing(ctx context.Context, url string) error {
	c, err := redisengine.ClientFromURL(url)
	if err != nil {
		return err
	}
	defer c.Close()
	return poll(ctx, func() error { return c.Ping(ctx).Err() })
}

// waitClusterOK waits until the node at addr says cluster_state:ok.
func waitClusterOK(ctx context.Context, addr string) error {
	c := redis.NewClient(&redis.Options{Addr: addr})
	defer c.Close()
	return poll(ctx, func() error {
		info, err := c.ClusterInfo(ctx).Result()
		if err == nil && !strings.Contains(info, "cluster_state:ok") {
			err = fmt.Errorf("node %s: cluster not ok yet", addr)
		}
		return err
	})
}

// poll calls try every 20 ms until it succeeds or ctx ends.
func poll(ctx context.Context, try func() error) error {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		err := try()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("redis not ready within %v: %w", redisStartTimeout, err)
		case <-tick.C:
		}
	}
}

// commandStats reads INFO commandstats of every node: the calls and the
// server-side microseconds of each command, summed over the nodes. It
// says where the server's time goes (an EVALSHA of our scripts against a
// plain HGET), which a client-side CPU profile cannot.
func commandStats(ctx context.Context, c redis.UniversalClient) (map[string][2]float64, error) {
	stats := map[string][2]float64{}
	var mu sync.Mutex // guards stats: ForEachMaster calls read concurrently
	read := func(ctx context.Context, c *redis.Client) error {
		info, err := c.Info(ctx, "commandstats").Result()
		if err != nil {
			return err
		}
		sc := bufio.NewScanner(strings.NewReader(info))
		for sc.Scan() {
			name, rest, ok := strings.Cut(strings.TrimSpace(sc.Text()), ":")
			if !ok || !strings.HasPrefix(name, "cmdstat_") {
				continue
			}
			var calls, usec float64
			for _, kv := range strings.Split(rest, ",") {
				k, v, _ := strings.Cut(kv, "=")
				f, _ := strconv.ParseFloat(v, 64)
				switch k {
				case "calls":
					calls = f
				case "usec":
					usec = f
				}
			}
			name = strings.TrimPrefix(name, "cmdstat_")
			mu.Lock()
			s := stats[name]
			stats[name] = [2]float64{s[0] + calls, s[1] + usec}
			mu.Unlock()
		}
		return sc.Err()
	}
	var err error
	switch c := c.(type) {
	case *redis.ClusterClient:
		err = c.ForEachMaster(ctx, read)
	case *redis.Client:
		err = read(ctx, c)
	default:
		err = fmt.Errorf("commandstats: a %T", c)
	}
	return stats, err
}
