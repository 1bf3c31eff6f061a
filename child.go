package manager

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"sync"
	"syscall"
	"time"

	"github.com/goproc/manager/internal/errs"
	"github.com/goproc/manager/internal/proc"
)

// The re-executed child's side. Go cannot fork, so Start and Fork
// re-execute the program's own binary with a role in its environment
// (internal/proc); Init, first in main, finds the role and runs it: the
// manager process (runServer) or a forked worker (runWorker). Both read
// their configuration from an inherited pipe whose EOF tells them the
// parent is gone, and report on another; a worker also inherits the
// files its Fork arguments carry (inheritedFD).

// Init runs this process's role if it was started by the library (as a
// manager process or a forked worker) and then exits the process: in a
// child, Init never returns. In the program's original process it returns
// at once. Call it first in main, and in TestMain, before anything else
// runs:
//
//	func main() {
//		manager.Init()
//		...
//	}
//
// Go cannot fork, so Start and Fork re-execute the program's own binary;
// Init is where that copy finds out what to do. It removes the role from
// the environment before running it, so that programs a worker runs (the
// same binary as a subcommand, say) start as ordinary programs.
//
// A copy whose main does not call Init first runs main again; when it
// reaches Start, Fork or NewPool they fail at once with ErrInitNotCalled
// (and the process that started the copy gets that error too), instead
// of re-executing the program once more.
func Init() {
	switch role := proc.Consume(); role {
	case "":
		return
	case proc.RoleServer:
		os.Exit(runServer())
	case proc.RoleWorker:
		os.Exit(runWorker())
	default:
		fmt.Fprintf(os.Stderr, "manager: unknown process role %q in %s\n", role, proc.EnvRole)
		os.Exit(2)
	}
}

// checkInit refuses to start a process from a re-executed copy of the
// program whose main skipped Init: each copy would start another, without
// end. It also tells the process that started this one, through the
// report pipe, so that its Start or Wait fails now rather than when its
// context ends.
func checkInit(what string) error {
	role := proc.Role()
	if role == "" {
		return nil
	}
	err := fmt.Errorf("%w (%s was called in a %s process)", ErrInitNotCalled, what, role)
	tellParent.Do(func() {
		if !proc.HasPipes() {
			return
		}
		report := proc.ReportPipe()
		defer report.Close()
		if role == proc.RoleServer {
			proc.Send(report, &serverReport{Err: err.Error(), Code: errs.CodeOf(err)})
		} else {
			proc.Send(report, workerFailed(err))
		}
	})
	return err
}

// tellParent makes checkInit report to the parent once.
var tellParent sync.Once

// The causes of a worker's ctx ending, other than the manager's end
// (whose cause is the client's Err).
var (
	errParentExited = errors.New("manager: worker stopped: parent process exited")
	errTerminated   = errors.New("manager: worker stopped: terminated by SIGTERM (Fork context ended)")
)

// runServer is the manager process's main: configure, listen, report,
// serve until told to stop or until the parent dies.
func runServer() int {
	ignoreInterrupt()
	cfgPipe, report := proc.ConfigPipe(), proc.ReportPipe()
	r := proc.NewReader(cfgPipe)
	var cfg serverConfig
	if err := proc.Recv(r, &cfg); err != nil {
		fmt.Fprintf(os.Stderr, "manager: manager process: read configuration: %v\n", err)
		return 2
	}
	if cfg.MemoryLimit > 0 {
		debug.SetMemoryLimit(cfg.MemoryLimit)
	}
	if cfg.GCPercent != nil {
		debug.SetGCPercent(*cfg.GCPercent)
	}
	opts := []ServerOption{WithAuthKey(cfg.Key), WithMaxFrameSize(cfg.MaxFrame), withLimits(cfg.Limits)}
	if cfg.PprofLabels {
		opts = append(opts, WithPprofLabels())
	}
	if cfg.Network != "" {
		opts = append(opts, WithAddress(cfg.Network, cfg.Address))
	}
	if cfg.HandshakeTimeout > 0 {
		opts = append(opts, WithHandshakeTimeout(cfg.HandshakeTimeout))
	}
	if cfg.TLS != nil {
		tc, err := cfg.TLS.config()
		if err != nil {
			proc.Send(report, &serverReport{Err: err.Error()})
			return 1
		}
		opts = append(opts, WithTLS(tc))
	}
	var sink *proc.LogSink
	if cfg.LogLevel != nil {
		// The records queue until the report has been sent (start).
		sink = proc.NewLogSink(report)
		opts = append(opts, WithLogger(slog.New(sink.Handler(*cfg.LogLevel))))
		defer sink.Close()
	}
	o := buildOptions(opts)
	srv := newServer(o)
	l, dir, err := listen(o)
	if err != nil {
		proc.Send(report, &serverReport{Err: err.Error()})
		return 1
	}
	defer os.RemoveAll(dir)
	if err := proc.Send(report, &serverReport{Network: l.Addr().Network(), Address: l.Addr().String(), Pid: os.Getpid(), Dir: dir}); err != nil {
		return 1
	}
	if sink != nil {
		sink.Start() // the pipe now carries log records, until this process exits
	} else {
		report.Close()
	}
	go srv.Serve(l)

	// Wait for a shutdown message; EOF means the parent died.
	grace := time.Duration(0)
	var msg shutdownMessage
	if err := proc.Recv(r, &msg); err == nil {
		grace = msg.Grace
	}
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	srv.Shutdown(ctx)
	return 0
}

// runWorker is a worker process's main.
func runWorker() int {
	ignoreInterrupt()
	r := proc.NewReader(proc.ConfigPipe()) // one *os.File per descriptor: a second would close it when collected
	report := proc.ReportPipe()
	var cfg workerConfig
	if err := proc.Recv(r, &cfg); err != nil {
		fmt.Fprintf(os.Stderr, "manager: worker: read configuration: %v\n", err)
		return 2
	}
	fn, ok := lookupWorker(cfg.Worker)
	if !ok {
		proc.Send(report, workerFailed(fmt.Errorf("%w: worker %q is not registered in the worker process", ErrNotRegistered, cfg.Worker)))
		return 1
	}
	initInherited(cfg.Files)

	// The first cause to cancel ctx is the one context.Cause reports.
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	// The lifeline: EOF on the config pipe means the parent is gone.
	go func() {
		for {
			if _, err := r.ReadFrame(); err != nil {
				break
			}
		}
		cancel(errParentExited)
		time.Sleep(orphanGrace) // then exit even if fn ignores ctx
		os.Exit(3)
	}()
	terms := make(chan os.Signal, 1)
	signal.Notify(terms, syscall.SIGTERM)
	go func() {
		<-terms
		cancel(errTerminated)
	}()

	if cfg.Redis != nil {
		return runRedisWorker(ctx, report, fn, &cfg)
	}
	copts := []ClientOption{WithMaxFrameSize(cfg.MaxFrame)}
	if cfg.TLS != nil {
		tc, err := cfg.TLS.config()
		if err != nil {
			proc.Send(report, workerFailed(err))
			return 1
		}
		copts = append(copts, WithTLS(tc))
	}
	dctx, dcancel := context.WithTimeout(ctx, 10*time.Second)
	c, err := Connect(dctx, cfg.Network, cfg.Address, cfg.Key, copts...)
	dcancel()
	if err != nil {
		proc.Send(report, workerFailed(err))
		return 1
	}
	defer c.Close()
	go func() {
		select {
		case <-c.Done(): // the manager went away
			cancel(c.Err())
		case <-ctx.Done():
		}
	}()

	err = runWorkerFunc(ctx, fn, c, c, cfg.Args)
	return reportWorker(report, err)
}

// reportWorker sends the parent a worker's outcome, err, and returns the
// worker process's exit status.
func reportWorker(report *os.File, err error) int {
	res := &workerResult{}
	if err != nil {
		res = workerFailed(err)
	}
	proc.Send(report, res)
	if err != nil {
		return 1
	}
	return 0
}

// runWorkerFunc runs fn with c (nil on Redis) and its session s, which
// WorkerSession(ctx) returns.
func runWorkerFunc(ctx context.Context, fn WorkerFunc, c *Client, s Session, args Args) (err error) {
	ctx = context.WithValue(ctx, workerSessionKey{}, s)
	defer func() {
		if p := recover(); p != nil {
			fmt.Fprintf(os.Stderr, "manager: worker panicked: %v\n%s", p, debug.Stack())
			err = fmt.Errorf("panic: %v", p)
		}
	}()
	return fn(ctx, c, args)
}

// ignoreInterrupt makes a child process ignore the terminal's SIGINT:
// Ctrl-C goes to the whole process group, and the parent, not its
// children, decides what it means (it shuts them down in order).
func ignoreInterrupt() { signal.Ignore(os.Interrupt) }

// inherited is a worker's table of inherited files.
var inherited struct {
	mu    sync.Mutex // guards n and taken
	n     int        // how many files the parent passed
	taken []bool     // taken[i]: the descriptor was handed out once
}

// initInherited records that the parent passed n files, and marks them
// close-on-exec so that they reach this worker's own children only when
// passed explicitly (a stray copy of a pipe end would delay its EOF).
func initInherited(n int) {
	inherited.mu.Lock()
	defer inherited.mu.Unlock()
	inherited.n = n
	inherited.taken = make([]bool, n)
	for i := range n {
		syscall.CloseOnExec(proc.FirstExtraFD + i)
	}
}

// inheritedFD hands over the i-th file Fork passed to this worker: the
// caller owns the descriptor from then on. Each can be taken once (an
// argument holding one decodes once): a duplicate kept back would hold a
// pipe open after its user closed it, and the peer would never see EOF.
func inheritedFD(i int) (int, error) {
	inherited.mu.Lock()
	defer inherited.mu.Unlock()
	switch {
	case inherited.n == 0:
		return -1, fmt.Errorf("manager: no inherited descriptor %d: shared memory and pipe ends decode only in a worker they were passed to as arguments of Fork", i)
	case i < 0 || i >= inherited.n:
		return -1, fmt.Errorf("manager: no inherited descriptor %d (the worker was given %d)", i, inherited.n)
	case inherited.taken[i]:
		return -1, fmt.Errorf("manager: inherited descriptor %d was decoded already (decode each shared value or pipe end argument once)", i)
	}
	inherited.taken[i] = true
	return proc.FirstExtraFD + i, nil
}
