package manager

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
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

// Args are the arguments a worker was forked with.
type Args interface {
	// Decode decodes the arguments, in order, into the pointers given;
	// fewer pointers than arguments decode a prefix. Proxies decode
	// usable, bound to the worker's session.
	Decode(ptrs ...any) error
	// Len returns the number of arguments.
	Len() int
}

var workers = newFuncRegistry[WorkerFunc]("worker")

// RegisterWorker makes fn startable by name with Fork. Call it from an
// init function, so that the worker process (the same binary,
// re-executed) knows it too. It panics on a duplicate name.
func RegisterWorker(name string, fn WorkerFunc) {
	workers.add("RegisterWorker", name, fn, fn == nil)
}

func lookupWorker(name string) (WorkerFunc, bool) {
	return workers.lookup(name)
}

// ErrInitNotCalled: Start, Fork or NewPool was called in a copy of the
// program that the library started as a manager or worker process, whose
// main did not call Init first. The process that started the copy gets
// it too (from Start, or from the worker's Process.Wait).
var ErrInitNotCalled = errs.InitNotCalled

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
	if err := checkFork(name); err != nil {
		return nil, err
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

// checkFork is what Fork checks first on every kind of session: Init ran
// (a worker is this binary re-executed), and name is a registered worker.
func checkFork(name string) error {
	if err := checkInit("Fork"); err != nil {
		return err
	}
	if _, ok := lookupWorker(name); !ok {
		return fmt.Errorf("%w: worker %q (call RegisterWorker in an init function)", ErrNotRegistered, name)
	}
	return nil
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

// Some Fork arguments hold open files the worker must inherit: a
// SharedValue's or SharedArray's memory file, a pipe end. Such a value
// implements fileCarrier. Fork appends its files to the child's
// ExtraFiles, after the two pipes of internal/proc (so the child sees
// them from proc.FirstExtraFD on), and encodes, in the value's place, a
// small reference that names its files by index. In the worker, decoding
// the reference takes the inherited descriptor (see inheritedFD).
//
// Only direct arguments of Fork are carried this way; the values refuse
// to be encoded anywhere else (nested in a struct, sent to the manager),
// since a descriptor means nothing in another process.
type fileCarrier interface {
	// forkArg returns what Fork encodes in the value's place, given that
	// the files it returns are the child's inherited files first,
	// first+1, …; release (if not nil) is called once the child has
	// started or Fork has failed.
	forkArg(first int) (arg any, files []*os.File, release func(), err error)
}

// errCarried is the error a file-carrying value gives when asked to be
// encoded other than as a direct argument of Fork.
func errCarried(what string) error {
	return fmt.Errorf("manager: a %s can only be passed as a direct argument of Fork (its descriptor is inherited; it cannot travel inside another value or through the manager)", what)
}
