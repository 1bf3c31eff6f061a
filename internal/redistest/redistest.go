// Package redistest starts real redis-server processes for tests: a
// standalone server with an append-only file, and a three-master Redis
// Cluster, each on free loopback ports in a test's temporary directory,
// stopped (and waited for) when the test ends.
//
// It needs redis-server and redis-cli on PATH (Debian's redis-server
// package; .ci/run installs it). A missing binary fails the test with a
// message saying so: the engine is never tested against a fake.
package redistest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// startTimeout bounds the start of one server (or the forming of the
// cluster): generous, since the machine may be loaded.
const startTimeout = 30 * time.Second

// Server is one running redis-server process.
type Server struct {
	// Addr is its loopback address, host:port.
	Addr string
	// Dir is its working directory (AOF and cluster files).
	Dir string

	cmd  *exec.Cmd
	done chan struct{} // closed when the process has been waited for
	args []string
}

// Standalone starts a standalone redis-server with AOF (appendfsync
// always) and returns it; it is stopped when t ends.
func Standalone(t testing.TB) *Server {
	t.Helper()
	return start(t, t.TempDir(), false)
}

// Client returns a client of s, closed when t ends.
func (s *Server) Client(t testing.TB) redis.UniversalClient {
	t.Helper()
	c := redis.NewUniversalClient(&redis.UniversalOptions{Addrs: []string{s.Addr}})
	t.Cleanup(func() { c.Close() })
	return c
}

// Pid returns the server's process id.
func (s *Server) Pid() int { return s.cmd.Process.Pid }

// Kill stops the server with SIGKILL and waits for it to exit.
func (s *Server) Kill(t testing.TB) {
	t.Helper()
	s.cmd.Process.Kill()
	<-s.done
}

// Restart starts s again, after Kill, on the same port and directory:
// with AOF, it comes back with every acknowledged write.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	n := run(t, s.Dir, s.args)
	s.cmd, s.done = n.cmd, n.done
}

// Cluster is a running three-master Redis Cluster.
type Cluster struct {
	// Nodes are the three masters.
	Nodes []*Server
}

// Addrs returns the addresses of the cluster's nodes.
func (c *Cluster) Addrs() []string {
	addrs := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		addrs[i] = n.Addr
	}
	return addrs
}

// Client returns a cluster client of c, closed when t ends.
func (c *Cluster) Client(t testing.TB) redis.UniversalClient {
	t.Helper()
	cl := redis.NewUniversalClient(&redis.UniversalOptions{Addrs: c.Addrs()})
	t.Cleanup(func() { cl.Close() })
	return cl
}

// NewCluster starts three redis-server processes in cluster mode, joins
// them with redis-cli --cluster create (no replicas), and waits until
// every node reports cluster_state:ok. It is stopped when t ends.
func NewCluster(t testing.TB) *Cluster {
	t.Helper()
	c := &Cluster{}
	for i := range 3 {
		dir := filepath.Join(t.TempDir(), fmt.Sprintf("node%d", i))
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatalf("redistest: %v", err)
		}
		c.Nodes = append(c.Nodes, start(t, dir, true))
	}
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	args := append([]string{"--cluster", "create"}, c.Addrs()...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	out, err := exec.CommandContext(ctx, lookPath(t, "redis-cli"), args...).CombinedOutput()
	if err != nil {
		t.Fatalf("redistest: redis-cli --cluster create: %v\n%s", err, out)
	}
	for _, n := range c.Nodes {
		waitClusterOK(t, ctx, n.Addr)
	}
	return c
}

// waitClusterOK polls CLUSTER INFO on addr until the node says the
// cluster is ok, or ctx ends.
func waitClusterOK(t testing.TB, ctx context.Context, addr string) {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: addr})
	defer c.Close()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		info, err := c.ClusterInfo(ctx).Result()
		if err == nil && strings.Contains(info, "cluster_state:ok") {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("redistest: node %s not ok within %v: %v %q", addr, startTimeout, err, info)
		case <-tick.C:
		}
	}
}

func lookPath(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("redistest: %s not found (install Debian's redis-server package: apt-get install -y redis-server): %v", name, err)
	}
	return p
}

// start starts a server in dir on a free port.
func start(t testing.TB, dir string, cluster bool) *Server {
	t.Helper()
	var lastErr error
	// A free port can be taken by another process between the probe and
	// the server's bind: try a few.
	for range 5 {
		port, err := FreePort(cluster)
		if err != nil {
			t.Fatalf("redistest: find a free port: %v", err)
		}
		args := []string{
			"--port", strconv.Itoa(port), "--bind", "127.0.0.1",
			"--dir", dir, "--logfile", "", "--daemonize", "no",
			"--appendonly", "yes", "--appendfsync", "always", "--save", "",
			"--protected-mode", "no",
		}
		if cluster {
			args = append(args, "--cluster-enabled", "yes",
				"--cluster-config-file", filepath.Join(dir, "nodes.conf"),
				"--cluster-node-timeout", "5000")
		}
		s, err := tryRun(t, dir, args)
		if err == nil {
			return s
		}
		lastErr = err
	}
	t.Fatalf("redistest: start redis-server: %v", lastErr)
	return nil
}

// run is tryRun that fails t on error.
func run(t testing.TB, dir string, args []string) *Server {
	t.Helper()
	s, err := tryRun(t, dir, args)
	if err != nil {
		t.Fatalf("redistest: start redis-server: %v", err)
	}
	return s
}

// tryRun starts redis-server with args and waits, reading its log, for
// "Ready to accept connections", then for a PING answer. The process is
// killed and waited for when t ends.
func tryRun(t testing.TB, dir string, args []string) (*Server, error) {
	t.Helper()
	cmd := exec.Command(lookPath(t, "redis-server"), args...)
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &Server{Dir: dir, cmd: cmd, done: make(chan struct{}), args: args}
	for i, a := range args {
		if a == "--port" {
			s.Addr = net.JoinHostPort("127.0.0.1", args[i+1])
		}
	}
	ready := make(chan struct{})
	var logTail strings.Builder
	go func() {
		// Reads the log until EOF (the process's exit), so the pipe
		// never fills; keeps the start of it for errors.
		sc := bufio.NewScanner(stdout)
		signalled := false
		for sc.Scan() {
			if logTail.Len() < 8192 && !signalled {
				logTail.WriteString(sc.Text() + "\n")
			}
			if !signalled && strings.Contains(sc.Text(), "Ready to accept connections") {
				signalled = true
				close(ready)
			}
		}
		io.Copy(io.Discard, stdout)
		cmd.Wait()
		close(s.done)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-s.done
	})
	timer := time.NewTimer(startTimeout)
	defer timer.Stop()
	select {
	case <-ready:
	case <-s.done:
		return nil, fmt.Errorf("redis-server exited during start-up:\n%s", logTail.String())
	case <-timer.C:
		cmd.Process.Kill()
		<-s.done
		return nil, fmt.Errorf("redis-server not ready within %v", startTimeout)
	}
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	c := redis.NewClient(&redis.Options{Addr: s.Addr})
	defer c.Close()
	if err := c.Ping(ctx).Err(); err != nil {
		cmd.Process.Kill()
		<-s.done
		return nil, fmt.Errorf("ping %s: %w", s.Addr, err)
	}
	return s, nil
}

// FreePort returns a loopback port that is free now; for a cluster node,
// one whose bus port (port+10000) is free too. It needs no testing.TB, so
// cmd/bench starts its own servers on ports found the same way.
func FreePort(cluster bool) (int, error) {
	for range 50 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := l.Addr().(*net.TCPAddr).Port
		if !cluster {
			l.Close()
			return port, nil
		}
		if port+10000 > 65535 {
			l.Close()
			continue
		}
		bus, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port+10000)))
		l.Close()
		if err != nil {
			continue
		}
		bus.Close()
		return port, nil
	}
	return 0, errors.New("no free port pair for a cluster node")
}
