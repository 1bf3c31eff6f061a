package manager

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"sync"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/goproc/manager/internal/errs"
	"github.com/goproc/manager/internal/wire"
)

// A TaskFunc is a task a Pool runs in its worker processes. ctx ends when
// the pool is terminated (or its NewPool context ends); c is the worker's
// session with the manager; args are Submit's arguments. The result must
// be msgpack-encodable; it is decoded by AsyncResult.Get.
type TaskFunc func(ctx context.Context, c *Client, args Args) (any, error)

var tasks = newFuncRegistry[TaskFunc]("task")

// RegisterTask makes fn runnable by name in a Pool. Call it from an init
// function, so that the pool's worker processes (the same binary,
// re-executed) know it too. It panics on a duplicate name.
func RegisterTask(name string, fn TaskFunc) {
	tasks.add("RegisterTask", name, fn, fn == nil)
}

func lookupTask(name string) (TaskFunc, bool) {
	return tasks.lookup(name)
}

// A Pool is a set of worker processes that run tasks (Python's
// multiprocessing.Pool). Each worker is a process started with Fork,
// joined to the parent by a Pipe; the parent hands each idle worker the
// next queued task, one at a time, and reads back its result.
//
// A worker that dies while running a task (it crashed, called os.Exit, or
// was killed) fails that task with a *WorkerCrashError and is replaced;
// the tasks still queued run on.
//
// Close then Wait is Python's close() then join(): the queued tasks run
// to the end. Terminate stops at once. A Pool must end with one of them,
// or its goroutines and processes outlive their use. A Pool is safe for
// concurrent use.
type Pool struct {
	c      *Client
	ctx    context.Context // the workers' lifetime
	cancel context.CancelFunc

	mu         sync.Mutex // guards queue, closed and terminated
	cond       *sync.Cond // signalled when a task is queued or the pool stops
	queue      []*AsyncResult
	closed     bool // no new tasks (Close or Terminate)
	terminated bool // no more tasks at all (Terminate)

	slots sync.WaitGroup // one goroutine per worker
	done  chan struct{}  // closed when every slot has ended
}

// poolWorkerName is the worker every pool process runs.
const poolWorkerName = "manager.pool"

func init() { RegisterWorker(poolWorkerName, runPoolWorker) }

// NewPool starts a pool of n worker processes for s's manager (n >= 1);
// it returns once all have been started. ctx is the workers' lifetime, as
// for Fork: when it ends, the pool is terminated. Every task the pool runs
// must be registered with RegisterTask.
func NewPool(ctx context.Context, s Session, n int) (*Pool, error) {
	if err := checkInit("NewPool"); err != nil {
		return nil, err
	}
	if n < 1 {
		return nil, fmt.Errorf("%w: NewPool: %d workers (want at least 1)", ErrBadArguments, n)
	}
	c, err := sessionClient(s, "NewPool")
	if err != nil {
		return nil, err
	}
	pctx, cancel := context.WithCancel(ctx)
	p := &Pool{c: c, ctx: pctx, cancel: cancel, done: make(chan struct{})}
	p.cond = sync.NewCond(&p.mu)
	workers := make([]*poolWorker, 0, n)
	for range n {
		w, err := p.startWorker()
		if err != nil {
			cancel() // stops those started
			for _, w := range workers {
				w.stop()
			}
			return nil, errorf("manager: NewPool: %w", err)
		}
		workers = append(workers, w)
	}
	p.slots.Add(n)
	for _, w := range workers {
		go p.runSlot(w)
	}
	stopOnCtx := context.AfterFunc(ctx, p.stop)
	go func() {
		p.slots.Wait()
		stopOnCtx()
		p.cancel()
		close(p.done)
	}()
	return p, nil
}

// Submit queues the task registered as task, to be called with args
// (msgpack-encodable values; proxies arrive usable), and returns its
// AsyncResult at once (Python's apply_async). It fails if the task is not
// registered (ErrNotRegistered), an argument cannot be encoded, or the
// pool is closed (ErrClosed). ctx bounds the submission only; it blocks
// only when an argument holds a proxy (one round trip to the manager, to
// keep the object alive in transit).
func (p *Pool) Submit(ctx context.Context, task string, args ...any) (*AsyncResult, error) {
	if _, ok := lookupTask(task); !ok {
		return nil, fmt.Errorf("%w: task %q (call RegisterTask in an init function)", ErrNotRegistered, task)
	}
	t := &AsyncResult{task: task, done: make(chan struct{})}
	encoded, hasProxies, err := encodeArgs(args)
	if err != nil {
		return nil, errorf("manager: Submit(%q): %w", task, err)
	}
	t.args = encoded
	if hasProxies {
		// As Fork does: reference the objects before they leave this
		// process, so none can be freed before the worker has them.
		if err := p.c.pinArgs(ctx, t.args); err != nil {
			return nil, errorf("manager: Submit(%q): %w", task, err)
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, errorf("manager: Submit(%q): the pool is closed: %w", task, ErrClosed)
	}
	p.queue = append(p.queue, t)
	p.cond.Signal()
	return t, nil
}

// PoolMap runs task once for each input (its single argument) and returns
// the results in the order of inputs (Python's Pool.map), decoded as R.
// It blocks until every result is in, ctx ends, or a task fails; then it
// returns the first failure in input order (tasks already queued still
// run, and their results are dropped).
func PoolMap[R, A any](ctx context.Context, p *Pool, task string, inputs []A) ([]R, error) {
	results := make([]*AsyncResult, len(inputs))
	for i, in := range inputs {
		r, err := p.Submit(ctx, task, in)
		if err != nil {
			return nil, err
		}
		results[i] = r
	}
	out := make([]R, len(inputs))
	for i, r := range results {
		if err := r.Get(ctx, &out[i]); err != nil {
			return nil, errorf("manager: PoolMap(%q): input %d: %w", task, i, err)
		}
	}
	return out, nil
}

// Close stops the pool taking tasks (Python's close()): the queued tasks
// still run, then the workers exit. It does not block; Wait waits for the
// end. Close may be called more than once.
func (p *Pool) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	p.cond.Broadcast()
	return nil
}

// Wait blocks until a closed (or terminated) pool has run its tasks and
// every worker has exited (Python's join()), or ctx ends. Calling it on a
// pool that is still open is an error, as it would never return.
func (p *Pool) Wait(ctx context.Context) error {
	p.mu.Lock()
	closed := p.closed
	p.mu.Unlock()
	if !closed {
		return errorf("manager: Pool.Wait on an open pool (call Close or Terminate first): %w", ErrBadArguments)
	}
	select {
	case <-p.done:
		return nil
	case <-ctx.Done():
		return errorf("manager: Pool.Wait: %w", ctx.Err())
	}
}

// Terminate stops the pool now (Python's terminate()): queued tasks fail
// with ErrClosed, running tasks see their ctx end and then fail with
// ErrClosed too, and the workers are stopped (SIGTERM, then SIGKILL after
// 5 s). It blocks until every worker has exited or ctx ends. It may be
// called more than once, and after Close.
func (p *Pool) Terminate(ctx context.Context) error {
	p.stop()
	select {
	case <-p.done:
		return nil
	case <-ctx.Done():
		return errorf("manager: Pool.Terminate: %w", ctx.Err())
	}
}

// stop marks the pool terminated, fails the queued tasks and ends the
// workers' context.
func (p *Pool) stop() {
	p.mu.Lock()
	queued := p.queue
	p.queue, p.closed, p.terminated = nil, true, true
	p.cond.Broadcast()
	p.mu.Unlock()
	for _, t := range queued {
		t.finish(nil, errorf("manager: pool task %q: the pool was terminated before it ran: %w", t.task, ErrClosed))
	}
	p.cancel()
}

// next returns the next task to run, blocking until there is one, or nil
// when the slot should end (the pool is closed and drained, or
// terminated).
func (p *Pool) next() *AsyncResult {
	p.mu.Lock()
	defer p.mu.Unlock()
	for len(p.queue) == 0 && !p.closed {
		p.cond.Wait()
	}
	if p.terminated || len(p.queue) == 0 {
		return nil
	}
	t := p.queue[0]
	p.queue[0] = nil
	p.queue = p.queue[1:]
	return t
}

// replaceable reports whether a lost worker should be replaced at once:
// not when the pool is stopping and nothing is left to run.
func (p *Pool) replaceable() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return !p.terminated && !(p.closed && len(p.queue) == 0) && p.ctx.Err() == nil && p.c.Err() == nil
}

// stopping reports whether the pool is being terminated (its context may
// end a moment before Terminate's flag is set).
func (p *Pool) stopping() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.terminated || p.ctx.Err() != nil
}

// runSlot feeds one worker (and its replacements) until the pool ends.
func (p *Pool) runSlot(w *poolWorker) {
	defer p.slots.Done()
	defer func() {
		if w != nil {
			w.stop()
		}
	}()
	for {
		t := p.next()
		if t == nil {
			return
		}
		if w != nil && w.exited() {
			w.stop() // it died while idle: replace it before use
			w = nil
		}
		if w == nil {
			var err error
			if w, err = p.startWorker(); err != nil {
				if p.stopping() {
					err = ErrClosed
				}
				t.finish(nil, errorf("manager: pool task %q: start a worker: %w", t.task, err))
				continue
			}
		}
		var rep poolReply
		err := w.run(p.ctx, t, &rep)
		if err == nil {
			t.finish(&rep, nil)
			continue
		}
		if errors.Is(err, errTaskTooLarge) {
			t.finish(nil, errorf("manager: pool task %q: %w", t.task, err))
			continue
		}
		exitErr := w.stop()
		if p.stopping() {
			t.finish(nil, errorf("manager: pool task %q: the pool was terminated while it ran: %w", t.task, ErrClosed))
		} else {
			t.finish(nil, &WorkerCrashError{Task: t.task, Pid: w.proc.Pid(), Err: crashCause(exitErr, err)})
		}
		w = nil
		if p.replaceable() {
			w, _ = p.startWorker() // if it fails, the next task tries again
		}
	}
}

// crashCause is why a worker was lost: its exit, or else the pipe error.
func crashCause(exitErr, pipeErr error) error {
	if exitErr != nil {
		return exitErr
	}
	return pipeErr
}

// poolWorker is one worker process and the parent's end of its pipe.
type poolWorker struct {
	proc *Process
	end  *PipeEnd
}

func (p *Pool) startWorker() (*poolWorker, error) {
	mine, theirs, err := Pipe()
	if err != nil {
		return nil, err
	}
	proc, err := p.c.Fork(p.ctx, poolWorkerName, theirs)
	theirs.Close() // the worker has its copy; ours would hide its death
	if err != nil {
		mine.Close()
		return nil, err
	}
	return &poolWorker{proc: proc, end: mine}, nil
}

// run has the worker run t and reads its reply. An error means the
// worker is lost (or the pool was terminated).
func (w *poolWorker) run(ctx context.Context, t *AsyncResult, rep *poolReply) error {
	if err := w.end.Send(ctx, &poolRequest{Task: t.task, Args: t.args}); err != nil {
		if errors.Is(err, ErrFrameTooLarge) {
			return fmt.Errorf("%w: %w", errTaskTooLarge, err) // nothing was sent: the worker is fine
		}
		return err
	}
	return w.end.Recv(ctx, rep)
}

// errTaskTooLarge marks a task whose arguments exceed the pipe's message
// limit: it fails, and its worker stays.
var errTaskTooLarge = errors.New("the task's arguments are too large")

func (w *poolWorker) exited() bool {
	select {
	case <-w.proc.Done():
		return true
	default:
		return false
	}
}

// stop closes the worker's pipe, which makes an idle worker return, and
// waits for the process to exit; a worker still running a task is being
// stopped through its Fork context (the pool's), which kills it after the
// grace period. It returns the worker's exit error.
func (w *poolWorker) stop() error {
	w.end.Close()
	return w.proc.Wait()
}

// poolRequest and poolReply are the messages on a worker's pipe.
type poolRequest struct {
	//lint:ignore U1000 msgpack reads this field's tag (as_array), never its value
	_msgpack struct{} `msgpack:",as_array"`
	Task     string
	Args     encodedArgs
}

type poolReply struct {
	//lint:ignore U1000 msgpack reads this field's tag (as_array), never its value
	_msgpack struct{} `msgpack:",as_array"`
	Result   []byte   // msgpack, when the task succeeded
	Failed   bool
	Type     string // the error's Go type, or "panic"
	Message  string
	Code     string // the library sentinel the error wrapped, if any
}

// runPoolWorker is the body of every pool process: run the tasks the
// parent sends, one at a time, until the parent closes the pipe.
func runPoolWorker(ctx context.Context, c *Client, args Args) error {
	var end *PipeEnd
	if err := args.Decode(&end); err != nil {
		return err
	}
	defer end.Close()
	for {
		var req poolRequest
		err := end.Recv(ctx, &req)
		if err == io.EOF || ctx.Err() != nil {
			return nil // the pool closed (EOF) or was terminated
		}
		if err != nil {
			return err
		}
		rep := runTask(ctx, c, &req)
		err = end.Send(ctx, &rep)
		if errors.Is(err, ErrFrameTooLarge) {
			err = fmt.Errorf("the result is too large: %w", err)
			rep = poolReply{Failed: true, Type: fmt.Sprintf("%T", err), Message: err.Error(), Code: errs.CodeOf(err)}
			err = end.Send(ctx, &rep)
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
	}
}

// runTask calls one task, turning its error or panic into a reply.
func runTask(ctx context.Context, c *Client, req *poolRequest) (rep poolReply) {
	fn, ok := lookupTask(req.Task)
	if !ok {
		err := fmt.Errorf("%w: task %q is not registered in the worker process", ErrNotRegistered, req.Task)
		return poolReply{Failed: true, Type: fmt.Sprintf("%T", err), Message: err.Error(), Code: errs.CodeOf(err)}
	}
	defer func() {
		if v := recover(); v != nil {
			rep = poolReply{Failed: true, Type: "panic", Message: fmt.Sprintf("panic: %v\n%s", v, debug.Stack())}
		}
	}()
	res, err := fn(ctx, c, req.Args)
	if err != nil {
		return poolReply{Failed: true, Type: fmt.Sprintf("%T", err), Message: err.Error(), Code: errs.CodeOf(err)}
	}
	b, err := msgpack.Marshal(res)
	if err != nil {
		err = fmt.Errorf("encode the result (%T): %w", res, err)
		return poolReply{Failed: true, Type: fmt.Sprintf("%T", err), Message: err.Error()}
	}
	return poolReply{Result: b}
}

// An AsyncResult is the pending result of a task submitted to a Pool (Python's
// AsyncResult). It is safe for concurrent use.
type AsyncResult struct {
	task string
	args encodedArgs

	done   chan struct{} // closed when result and err are set
	result []byte
	err    error
}

func (t *AsyncResult) finish(rep *poolReply, err error) {
	switch {
	case err != nil:
		t.err = err
	case rep.Failed:
		t.err = &RemoteError{Method: t.task, Type: rep.Type, Message: rep.Message, code: rep.Code}
	default:
		t.result = rep.Result
	}
	t.args = nil
	close(t.done)
}

// Done returns a channel closed when the task has finished (or failed).
func (t *AsyncResult) Done() <-chan struct{} { return t.done }

// Wait blocks until the task has finished or ctx ends, and returns the
// task's error: a *RemoteError for an error the task returned or a panic
// in it (errors.Is matches the library's sentinels across it), a
// *WorkerCrashError when its worker died, an ErrClosed error when the
// pool was terminated first, or ctx's error.
func (t *AsyncResult) Wait(ctx context.Context) error {
	select {
	case <-t.done:
		return t.err
	case <-ctx.Done():
		return errorf("manager: pool task %q: %w", t.task, ctx.Err())
	}
}

// Get waits as Wait does, then decodes the task's result into out (a
// pointer, as for msgpack.Unmarshal; nil discards it).
func (t *AsyncResult) Get(ctx context.Context, out any) error {
	if err := t.Wait(ctx); err != nil {
		return err
	}
	if out == nil {
		return nil
	}
	if err := wire.Scan(t.result, nil); err != nil {
		return errorf("manager: pool task %q: %w: %v", t.task, ErrProtocol, err)
	}
	if err := msgpack.NewDecoder(bytes.NewReader(t.result)).Decode(out); err != nil {
		return errorf("manager: pool task %q: decode the result into %T: %w", t.task, out, err)
	}
	return nil
}

// WorkerCrashError is the error of a pool task whose worker process died
// while running it. errors.Is(err, ErrProcessExited) holds, and
// errors.As finds the worker's *ExitError (exit code, signal).
type WorkerCrashError struct {
	Task string // the task that was running
	Pid  int    // the worker's pid
	Err  error  // how the worker ended: usually an *ExitError
}

// Error describes the crash.
func (e *WorkerCrashError) Error() string {
	return fmt.Sprintf("manager: pool task %q: its worker (pid %d) died: %v", e.Task, e.Pid, e.Err)
}

// Unwrap returns how the worker ended.
func (e *WorkerCrashError) Unwrap() error { return e.Err }

// Is reports whether target is ErrProcessExited.
func (e *WorkerCrashError) Is(target error) bool { return target == errs.ProcessExited }
