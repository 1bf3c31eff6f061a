package manager

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"runtime/debug"
	"sync"
	"syscall"
	"time"

	"github.com/goproc/manager/internal/errs"
	"github.com/goproc/manager/internal/proc"
)

// forkGrace is how long a worker has to exit after SIGTERM (its Fork
// context ended) before it is killed.
const forkGrace = 5 * time.Second

// orphanGrace is how long a worker whose parent died has to return
// before it exits anyway.
const orphanGrace = time.Second

// A WorkerFunc is the body of a worker process started by Fork. ctx ends
// when the worker should stop, and context.Cause(ctx) says why: an error
// satisfying errors.Is(err, ErrManagerGone) when the manager went away
// (the client's Err), one saying "parent process exited" when the
// process that forked the worker died, or one saying "terminated by
// SIGTERM" when the worker was sent SIGTERM (which Fork does when its
// ctx ends). c is the worker's own session with the parent's manager
// (nil in a worker forked by RedisSession.Fork: WorkerSession(ctx)
// returns the worker's session on either engine); args are Fork's
// arguments.
//
// The error it returns reaches the parent's Process.Wait, where
// errors.Is matches the library's sentinels (ErrManagerGone,
// ErrBrokenBarrier…) and context errors it wraps.
type WorkerFunc func(ctx context.Context, c *Client, args Args) error

// The causes of a worker's ctx ending, other than the manager's end
// (whose cause is the client's Err).
var (
	errParentExited = errors.New("manager: worker stopped: parent process exited")
	errTerminated   = errors.New("manager: worker stopped: terminated by SIGTERM (Fork context ended)")
)

// Args are the arguments a worker was forked with.
type Args interface {
	// Decode decodes the arguments, in order, into the pointers given;
	// fewer pointers than arguments decode a prefix. Proxies decode
	// usable, bound to the worker's session.
	Decode(ptrs ...any) error
	// Len returns the number of arguments.
	Len() int
}

var workers = struct {
	mu sync.RWMutex // guards m
	m  map[string]WorkerFunc
}{m: map[string]WorkerFunc{}}

// RegisterWorker makes fn startable by name with Fork. Call it from an
// init function, so that the worker process (the same binary,
// re-executed) knows it too. It panics on a duplicate name.
func RegisterWorker(name string, fn WorkerFunc) {
	if name == "" || fn == nil {
		panic("manager: RegisterWorker: empty name or nil func")
	}
	workers.mu.Lock()
	defer workers.mu.Unlock()
	if _, dup := workers.m[name]; dup {
		panic(fmt.Sprintf("manager: RegisterWorker(%q): name already registered: register each worker once, from one init function", name))
	}
	workers.m[name] = fn
}

func lookupWorker(name string) (WorkerFunc, bool) {
	workers.mu.RLock()
	defer workers.mu.RUnlock()
	fn, ok := workers.m[name]
	return fn, ok
}

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

// ErrInitNotCalled: Start, Fork or NewPool was called in a copy of the
// program that the library started as a manager or worker process, whose
// main did not call Init first. The process that started the copy gets
// it too (from Start, or from the worker's Process.Wait).
var ErrInitNotCalled = errs.InitNotCalled

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

// workerConfig is what Fork sends a worker; workerResult its answer.
type workerConfig struct {
	Worker   string
	Args     encodedArgs
	Network  string
	Address  string
	Key      []byte
	MaxFrame int
	Files    int        // inherited files (see fileCarrier), from proc.FirstExtraFD on
	TLS      *workerTLS // how to reach a manager that serves TLS, or nil

	// Redis is the Redis session to open instead of a manager's
	// (RedisSession.Fork), or nil.
	Redis *redisWorkerConfig
}

type workerResult struct {
	Err  string
	Code string // errs.CodeOf(the error): the sentinel it wraps, if any
}

// workerFailed is the result of a worker that failed with err.
func workerFailed(err error) *workerResult {
	return &workerResult{Err: err.Error(), Code: errs.CodeOf(err)}
}

// A Process is a worker process started by Fork.
type Process struct {
	worker string
	cmd    *exec.Cmd
	done   chan struct{}
	err    error // set before done is closed
}

// Fork starts a worker process running the worker registered as name
// with RegisterWorker, connected to the same manager as c, and passes it
// args (msgpack-encodable values; proxies arrive usable; SharedValue,
// SharedArray, SharedLock and PipeEnd arguments are inherited as open
// descriptors, and arrive usable too). The process
// lives until the worker returns; when ctx ends it is sent SIGTERM (its
// WorkerFunc's ctx ends) and killed 5 s later if still running. It also
// exits when this process dies.
//
// When c reaches its manager over TLS, the worker trusts exactly the
// certificate c's session verified and presents c's client certificates
// (a config whose client certificate comes from a callback cannot be
// sent, and Fork refuses it).
//
// The worker's stdout and stderr are this process's. A client that is
// closed, or whose manager is gone, starts nothing: Fork returns an error
// satisfying errors.Is(err, ErrClosed) or errors.Is(err, ErrManagerGone)
// at once.
func (c *Client) Fork(ctx context.Context, name string, args ...any) (*Process, error) {
	if c == nil {
		return nil, &opError{"Fork", ErrNilProxy}
	}
	if err := checkInit("Fork"); err != nil {
		return nil, err
	}
	if _, ok := lookupWorker(name); !ok {
		return nil, fmt.Errorf("%w: worker %q (call RegisterWorker in an init function)", ErrNotRegistered, name)
	}
	// A worker would only fail to connect: say why now.
	if c.closing.Load() {
		return nil, errorf("manager: Fork(%q): %w", name, ErrClosed)
	}
	if err := c.Err(); err != nil {
		return nil, errorf("manager: Fork(%q): %w", name, err)
	}
	cfg := workerConfig{Worker: name, Network: c.network, Address: c.addr, Key: c.key, MaxFrame: c.maxFrame}
	tlsCfg, err := c.forkTLS()
	if err != nil {
		return nil, fmt.Errorf("manager: Fork(%q): %w", name, err)
	}
	cfg.TLS = tlsCfg
	return startWorker(ctx, cfg, args, c.pinArgs)
}

// startWorker starts the worker process of cfg (whose Worker is
// registered) with args, after pin has referenced the objects whose
// proxies the encoded arguments carry: Fork's part common to every
// engine.
func startWorker(ctx context.Context, cfg workerConfig, args []any, pin func(context.Context, encodedArgs) error) (*Process, error) {
	name := cfg.Worker
	var files []*os.File               // inherited by the child after the two pipes
	args = append([]any(nil), args...) // descriptors are replaced by references below; the caller's slice stays as it was
	for i, a := range args {
		if fc, ok := a.(fileCarrier); ok {
			ref, fs, release, err := fc.forkArg(len(files))
			if err != nil {
				return nil, errorf("manager: Fork(%q): argument %d: %w", name, i+1, err)
			}
			if release != nil {
				defer release() // after the child has its copies
			}
			args[i], files = ref, append(files, fs...)
		}
	}
	encoded, hasProxies, err := encodeArgs(args)
	if err != nil {
		return nil, errorf("manager: Fork(%q): %w", name, err)
	}
	cfg.Args = encoded
	cfg.Files = len(files)
	if hasProxies {
		if err := pin(ctx, cfg.Args); err != nil {
			return nil, errorf("manager: Fork(%q): %w", name, err)
		}
	}
	// Encode first: a configuration that cannot be sent starts nothing.
	frame, err := proc.Encode(&cfg)
	if err != nil {
		return nil, fmt.Errorf("manager: Fork(%q): encode the worker's configuration: %w", name, err)
	}
	child, err := proc.Start(ctx, proc.RoleWorker, func(cmd *exec.Cmd) {
		cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
		cmd.WaitDelay = forkGrace
		cmd.ExtraFiles = append(cmd.ExtraFiles, files...)
	})
	if err != nil {
		return nil, errorf("manager: Fork(%q): %w", name, err)
	}
	p := &Process{worker: name, cmd: child.Cmd, done: make(chan struct{})}
	if _, err := child.Config.Write(frame); err != nil {
		// The worker is gone (or going) without its configuration: it
		// never ran. Kill and reap it, and say so.
		child.Cmd.Process.Kill()
		child.Cmd.Wait()
		child.Config.Close()
		child.Report.Close()
		return nil, p.exitError(fmt.Sprintf("exited before it read its configuration (%v); did its main call manager.Init first?", err))
	}
	go p.reap(child)
	return p, nil
}

// exitError describes the reaped worker's end, with message (the error
// the worker reported, or what the parent saw) if not empty.
func (p *Process) exitError(message string) *ExitError {
	e := &ExitError{Worker: p.worker, Pid: p.cmd.Process.Pid, Message: message, ExitCode: -1}
	if st := p.cmd.ProcessState; st != nil {
		e.ExitCode = st.ExitCode()
		if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			e.Signal = ws.Signal()
		}
	}
	return e
}

// reap collects the worker's result and exit status. The config pipe
// stays open until the worker has exited: it is the worker's lifeline.
func (p *Process) reap(child *proc.Child) {
	var res workerResult
	resErr := proc.Recv(proc.NewReader(child.Report), &res)
	child.Report.Close()
	if errors.Is(errs.FromCode(res.Code), ErrInitNotCalled) {
		// Not a worker but a copy of the program running its main, which
		// does not watch the lifeline: it would run on, orphaned.
		p.cmd.Process.Kill()
	}
	waitErr := p.cmd.Wait()
	child.Config.Close()
	// A worker stopped by its Fork context that returned nil and exited 0
	// succeeded; exec still reports the context's error for it.
	exitedCleanly := waitErr == nil || p.cmd.ProcessState != nil && p.cmd.ProcessState.Success()
	if exitedCleanly && resErr == nil && res.Err == "" {
		close(p.done)
		return
	}
	msg := res.Err
	if msg == "" && resErr != nil && exitedCleanly {
		// A copy of the program that ran main to its end, not the worker.
		msg = "exited without reporting a result; did its main call manager.Init first?"
	}
	e := p.exitError(msg)
	e.cause = errs.FromCode(res.Code)
	p.err = e
	close(p.done)
}

// Pid returns the worker's process id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Done returns a channel closed when the worker has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Wait blocks until the worker exits and returns nil if its WorkerFunc
// returned nil and it exited cleanly — also when it stopped because its
// Fork context ended (unlike os/exec's Wait) — or an *ExitError with the error it returned (its text,
// and the library sentinel it wraps, for errors.Is), or its exit status
// or signal. Bound it with Done and a select where needed.
func (p *Process) Wait() error {
	<-p.done
	return p.err
}

// Signal sends sig to the worker.
func (p *Process) Signal(sig os.Signal) error { return p.cmd.Process.Signal(sig) }

// ExitError reports a worker that did not finish cleanly. It satisfies
// errors.Is(err, ErrProcessExited) and, when the worker's error wrapped
// one of the library's sentinels (ErrManagerGone, ErrBrokenBarrier…), an
// error registered with RegisterError, or a context error,
// errors.Is(err, that error) too: it crosses the process boundary as a
// code, like a RemoteError's.
type ExitError struct {
	Worker   string
	Pid      int
	Message  string    // the error the WorkerFunc returned, if it did
	ExitCode int       // -1 when killed by a signal
	Signal   os.Signal // the signal that killed it, if any

	cause error // the sentinel the worker's error wrapped, or nil
}

// Error describes how the worker ended.
func (e *ExitError) Error() string {
	switch {
	case e.Message != "":
		return fmt.Sprintf("manager: worker %q (pid %d): %s", e.Worker, e.Pid, errs.TextOf(e.Message))
	case e.Signal != nil:
		return fmt.Sprintf("manager: worker %q (pid %d) killed by signal: %v", e.Worker, e.Pid, e.Signal)
	default:
		return fmt.Sprintf("manager: worker %q (pid %d) exited with status %d", e.Worker, e.Pid, e.ExitCode)
	}
}

// Is reports whether target is ErrProcessExited. (The sentinel the
// worker's error wrapped is matched through Unwrap.)
func (e *ExitError) Is(target error) bool { return target == errs.ProcessExited }

// Unwrap returns the library sentinel or context error that the worker's
// error wrapped, or nil.
func (e *ExitError) Unwrap() error { return e.cause }

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
	copts := []Option{WithMaxFrameSize(cfg.MaxFrame)}
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
