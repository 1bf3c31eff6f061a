// Command wakeupbench measures how a reply reaches a waiting goroutine:
// a two-process ping-pong of 16-byte frames over a Unix socket (the
// anchors' L1 floor), with each side reading in one of four ways:
//
//   - poller: net.Conn.Read, parked on Go's network poller (what the
//     library does, and the floor the targets are ratios to);
//   - poll: a goroutine locked to its OS thread, poll(2) then read(2) on
//     the socket, left non-blocking so that writes stay on the poller;
//   - block: a goroutine locked to its OS thread, read(2) on the socket
//     set to blocking mode;
//   - poll-noepoll: as poll, with the socket also taken out of the
//     runtime's epoll set (an experiment: what a locked reader would
//     gain if the socket's events no longer woke the runtime's thread
//     sleeping in epoll_wait; the library cannot do this through the
//     net package).
//
// With -waiter (the default) the echo child also keeps a goroutine
// parked on the network poller, as every server does (its listener's
// Accept): a thread then sleeps in epoll_wait, and the socket's events
// wake it as well as the locked reader. The child reports its context
// switches per round trip.
//
// Every combination of server and client side runs in each round, in an
// order rotated from round to round, and the report gives each one's
// median p50 over the rounds and its ratio to poller/poller measured in
// the same rounds: on a shared machine only such ratios mean anything.
//
//	go run ./cmd/wakeupbench [-rounds 5] [-n 5000] [-modes poller,poll,block]
//
// With -base and -new it compares two builds of the library instead
// (see ab.go):
//
//	go run ./cmd/wakeupbench -rounds 6 -base /tmp/base -new /tmp/new
//
// Each row is one JSON object on stdout; the table goes to stdout last.
//
// What it showed (2026-12-05, 2 cores at load 25-45; see issue 13): a
// locked reader gains only if its socket leaves the runtime's epoll set.
// With a goroutine parked on the poller on both sides (-clientwaiter, as
// in the library), poll/poll was 1.74× poller/poller and the server made
// 2.4-3.4 context switches per round trip instead of 1.7, while
// poll-noepoll on both sides was 0.67× (server side alone 0.85×, client
// side alone 0.86×). The library's locked reader on a socket still in
// the epoll set (commit 7aa53a0, reverted) lost in A/B: W1 p50 1.18×,
// W8 ops/s 0.52×.
package main

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

const frame = 16

const roleEnv = "WAKEUPBENCH_ROLE" // set in the echo child: its read mode

var (
	rounds  = flag.Int("rounds", 5, "rounds; every combination runs once per round")
	iters   = flag.Int("n", 5000, "round trips per combination per round")
	modes   = flag.String("modes", "poller,poll,block", "read modes to combine (server × client)")
	waiter  = flag.Bool("waiter", true, "the echo child also waits on the network poller (an idle listener), as a server does")
	cwaiter = flag.Bool("clientwaiter", false, "this process (the client side) also waits on the network poller, as a Client does (its watch connection)")
	base    = flag.String("base", "", "A/B mode: the base build's binaries' `prefix` (see ab.go)")
	newer   = flag.String("new", "", "A/B mode: the new build's binaries' `prefix`")
)

func main() {
	if mode := os.Getenv(roleEnv); mode != "" {
		if err := echo(mode, os.Getenv("WAKEUPBENCH_SOCK")); err != nil {
			fmt.Fprintln(os.Stderr, "wakeupbench child:", err)
			os.Exit(1)
		}
		return
	}
	flag.Parse()
	run := run
	if *base != "" || *newer != "" {
		run = func() error { return runAB(*base, *newer) }
	}
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "wakeupbench:", err)
		os.Exit(1)
	}
}

// A side reads and writes one connection in one mode.
type side struct {
	nc   net.Conn
	mode string
	rc   syscall.RawConn
	fd   int // block: a blocking duplicate of the socket
}

func newSide(nc net.Conn, mode string) (*side, error) {
	s := &side{nc: nc, mode: mode, fd: -1}
	switch mode {
	case "poller":
		return s, nil
	case "poll", "block", "poll-noepoll":
	default:
		return nil, fmt.Errorf("unknown mode %q", mode)
	}
	rc, err := nc.(*net.UnixConn).SyscallConn()
	if err != nil {
		return nil, err
	}
	s.rc = rc
	runtime.LockOSThread()
	if mode == "poll-noepoll" {
		s.mode = "poll"
		if err := leaveEpoll(rc); err != nil {
			return nil, err
		}
	}
	if mode == "block" {
		var derr error
		if err := rc.Control(func(fd uintptr) {
			s.fd, derr = unix.Dup(int(fd))
		}); err != nil {
			return nil, err
		}
		if derr != nil {
			return nil, derr
		}
		// O_NONBLOCK belongs to the open file, shared with nc's fd.
		if err := unix.SetNonblock(s.fd, false); err != nil {
			return nil, err
		}
	}
	return s, nil
}

func (s *side) close() {
	if s.fd >= 0 {
		unix.Close(s.fd)
	}
	if s.mode != "poller" {
		runtime.UnlockOSThread()
	}
	s.nc.Close()
}

func (s *side) readFull(p []byte) error {
	for len(p) > 0 {
		n, err := s.read(p)
		if n == 0 && err == nil {
			err = io.EOF
		}
		if err != nil {
			return err
		}
		p = p[n:]
	}
	return nil
}

func (s *side) read(p []byte) (int, error) {
	switch s.mode {
	case "poll":
		var n int
		var rerr error
		err := s.rc.Read(func(fd uintptr) bool {
			pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
			for {
				if _, rerr = unix.Poll(pfd, -1); rerr != unix.EINTR {
					break
				}
			}
			if rerr == nil {
				n, rerr = unix.Read(int(fd), p)
			}
			return true
		})
		if err != nil {
			return 0, err
		}
		return n, rerr
	case "block":
		for {
			n, err := unix.Read(s.fd, p)
			if err != unix.EINTR {
				return n, err
			}
		}
	}
	return s.nc.Read(p)
}

func (s *side) write(p []byte) error {
	if s.mode == "block" {
		_, err := unix.Write(s.fd, p)
		return err
	}
	_, err := s.nc.Write(p)
	return err
}

// leaveEpoll takes the socket out of the runtime's epoll set (found as
// the process's eventpoll descriptor), so that its events no longer wake
// the thread sleeping in epoll_wait: an experiment only, the runtime
// does not expect it (the socket must never be read through the poller
// again).
func leaveEpoll(rc syscall.RawConn) error {
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return err
	}
	epfd := -1
	for _, e := range fds {
		if l, _ := os.Readlink("/proc/self/fd/" + e.Name()); l == "anon_inode:[eventpoll]" {
			fmt.Sscan(e.Name(), &epfd)
		}
	}
	if epfd < 0 {
		return errors.New("no eventpoll descriptor")
	}
	var cerr error
	if err := rc.Control(func(fd uintptr) {
		cerr = unix.EpollCtl(epfd, unix.EPOLL_CTL_DEL, int(fd), nil)
	}); err != nil {
		return err
	}
	return cerr
}

// switches counts this process's context switches, voluntary and not,
// over all its threads.
func switches() int {
	tasks, _ := os.ReadDir("/proc/self/task")
	total := 0
	for _, t := range tasks {
		b, _ := os.ReadFile("/proc/self/task/" + t.Name() + "/status")
		for _, line := range strings.Split(string(b), "\n") {
			var n int
			if _, err := fmt.Sscanf(line, "voluntary_ctxt_switches: %d", &n); err == nil {
				total += n
			}
			if _, err := fmt.Sscanf(line, "nonvoluntary_ctxt_switches: %d", &n); err == nil {
				total += n
			}
		}
	}
	return total
}

// echo is the child: it dials sock and echoes frames until EOF, and
// writes how many context switches its threads made, per frame, to
// sock+".cs".
func echo(mode, sock string) error {
	if os.Getenv("WAKEUPBENCH_WAITER") != "" {
		// A server always has a goroutine parked on the poller (its
		// listener's Accept), so a thread of the runtime sleeps in
		// epoll_wait, where the socket's own events wake it too.
		l, err := net.Listen("unix", sock+".idle")
		if err != nil {
			return err
		}
		defer l.Close()
		go l.Accept()
	}
	nc, err := net.Dial("unix", sock)
	if err != nil {
		return err
	}
	s, err := newSide(nc, mode)
	if err != nil {
		return err
	}
	defer s.close()
	var buf [frame]byte
	frames, cs0 := 0, switches()
	for {
		if err := s.readFull(buf[:]); err != nil {
			if errors.Is(err, io.EOF) {
				return os.WriteFile(sock+".cs", fmt.Appendf(nil, "%f", float64(switches()-cs0)/float64(max(frames, 1))), 0o600)
			}
			return err
		}
		frames++
		if err := s.write(buf[:]); err != nil {
			return err
		}
	}
}

// pair is one combination: the echo child reads in server mode, this
// process in client mode.
type pair struct{ server, client string }

func (p pair) String() string { return p.server + "/" + p.client }

// measure runs n round trips of one combination and returns the p50 in µs.
func measure(dir string, p pair, n int) (float64, float64, error) {
	sock := filepath.Join(dir, "echo.sock")
	os.Remove(sock)
	l, err := net.Listen("unix", sock)
	if err != nil {
		return 0, 0, err
	}
	defer l.Close()
	exe, err := os.Executable()
	if err != nil {
		return 0, 0, err
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), roleEnv+"="+p.server, "WAKEUPBENCH_SOCK="+sock)
	if *waiter {
		os.Remove(sock + ".idle")
		cmd.Env = append(cmd.Env, "WAKEUPBENCH_WAITER=1")
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return 0, 0, err
	}
	nc, err := l.Accept()
	if err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		return 0, 0, err
	}
	done := make(chan struct{})
	var p50 float64
	go func() { // its own goroutine: the client mode locks its thread
		defer close(done)
		var s *side
		if s, err = newSide(nc, p.client); err != nil {
			nc.Close()
			return
		}
		defer s.close()
		lat := make([]time.Duration, 0, n)
		var buf [frame]byte
		for i := range n + n/10 { // the first tenth warms up
			binary.LittleEndian.PutUint64(buf[:], uint64(i))
			t := time.Now()
			if err = s.write(buf[:]); err != nil {
				return
			}
			if err = s.readFull(buf[:]); err != nil {
				return
			}
			if got := binary.LittleEndian.Uint64(buf[:]); got != uint64(i) {
				err = fmt.Errorf("echo of %d came back as %d", i, got)
				return
			}
			if i >= n/10 {
				lat = append(lat, time.Since(t))
			}
		}
		slices.Sort(lat)
		p50 = float64(lat[len(lat)/2]) / float64(time.Microsecond)
	}()
	<-done
	if werr := cmd.Wait(); err == nil {
		err = werr
	}
	var cs float64
	if b, rerr := os.ReadFile(sock + ".cs"); rerr == nil {
		fmt.Sscan(string(b), &cs)
	}
	return p50, cs, err
}

func run() error {
	ms := strings.Split(*modes, ",")
	var pairs []pair
	for _, s := range ms {
		for _, c := range ms {
			pairs = append(pairs, pair{s, c})
		}
	}
	dir, err := os.MkdirTemp("", "wakeupbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if *cwaiter {
		l, err := net.Listen("unix", filepath.Join(dir, "idle.sock"))
		if err != nil {
			return err
		}
		defer l.Close()
		go l.Accept()
	}
	p50s := map[pair][]float64{}
	css := map[pair][]float64{}
	ratios := map[pair][]float64{}
	base := pair{"poller", "poller"}
	for r := range *rounds {
		got := map[pair]float64{}
		for i := range pairs {
			p := pairs[(i+r)%len(pairs)] // rotate the order
			v, cs, err := measure(dir, p, *iters)
			if err != nil {
				return fmt.Errorf("%v: %w", p, err)
			}
			got[p] = v
			p50s[p] = append(p50s[p], v)
			css[p] = append(css[p], cs)
			json.NewEncoder(os.Stdout).Encode(map[string]any{"round": r + 1, "server": p.server, "client": p.client, "p50_us": v, "server_switches_per_rt": cs})
		}
		if b, ok := got[base]; ok {
			for p, v := range got {
				ratios[p] = append(ratios[p], v/b)
			}
		}
	}
	fmt.Printf("\n| server/client | p50 µs (median of %d rounds) | ÷ poller/poller (median of per-round ratios) | server context switches per round trip |\n|---|---|---|---|\n", *rounds)
	for _, p := range pairs {
		fmt.Printf("| %v | %.1f | %.2f | %.2f |\n", p, median(p50s[p]), median(ratios[p]), median(css[p]))
	}
	return nil
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	v = slices.Clone(v)
	slices.Sort(v)
	return v[len(v)/2]
}
