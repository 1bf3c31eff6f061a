package manager

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/goproc/manager/internal/errs"
	"github.com/goproc/manager/internal/proc"
	"github.com/goproc/manager/internal/server"
	"github.com/goproc/manager/internal/wire"
)

// defaultShutdownGrace is how long a manager process lets executing
// calls finish when Shutdown's context has no deadline.
const defaultShutdownGrace = 10 * time.Second

// A Manager is a running manager: the process (or, with InProcess, the
// goroutine) that owns the shared objects, and this process's session
// with it. It embeds the *Client of that session, so every constructor
// and Fork take it directly; its own Close and Shutdown stop the manager
// (a Client's Close would end only the session).
//
// A Manager is safe for concurrent use.
type Manager struct {
	*Client

	key []byte
	pid int

	// In-process managers:
	srv *Server
	dir string // private socket directory, removed by Shutdown

	// Manager processes:
	child    *proc.Child
	exited   chan struct{}          // closed when the manager process has been reaped and its directory removed
	procDir  atomic.Pointer[string] // its private socket directory, once reported
	logsDone chan struct{}          // closed when forwardLogs has ended; nil when the parent wants no records

	shutdownOnce sync.Once
	shutdownErr  error
	shutdownDone chan struct{}
}

// serverConfig is what Start sends a manager process; serverReport is
// its answer once it listens.
type serverConfig struct {
	Key              []byte
	MaxFrame         int
	Network          string
	Address          string
	HandshakeTimeout time.Duration
	TLS              *tlsTravel  // nil: no TLS
	LogLevel         *slog.Level // nil: the parent wants no records; else send those at or above it (internal/proc/logpipe.go)
	Limits           server.Limits
	PprofLabels      bool  // WithPprofLabels
	MemoryLimit      int64 // > 0: debug.SetMemoryLimit (WithMemoryLimit)
	GCPercent        *int  // non-nil: debug.SetGCPercent (WithGCPercent)
}

type serverReport struct {
	Network string
	Address string
	Pid     int
	Dir     string // the private socket directory, removed by the parent when it reaps the process
	Err     string
	Code    string // errs.CodeOf the error, if any: the sentinel it wraps
}

// shutdownMessage asks a manager process to shut down.
type shutdownMessage struct {
	Grace time.Duration
}

// Start starts a manager and connects to it. By default the manager is a
// new process (this program's binary re-executed in the server role, so
// main must call Init first); with InProcess it serves from a goroutine.
//
// The manager listens on a Unix socket in a new private directory
// (0700, socket 0600) unless WithAddress says otherwise, with a random key
// unless WithAuthKey gives one. It lives until Shutdown, and a manager
// process also exits when this process dies: it is never orphaned.
//
// Every option applies in both modes: a manager process receives its
// settings (address, key, frame size, handshake timeout, TLS) over a
// private pipe, and its log records come back to WithLogger's logger. A
// TLS config that cannot be copied to another process is refused (see
// WithTLS). A manager's private directory left behind by a manager that
// was killed with its parent is removed by the next Start.
//
// In a copy of the program started by the library whose main did not
// call Init first, Start fails with ErrInitNotCalled.
//
// ctx bounds the start-up only.
func Start(ctx context.Context, opts ...StartOption) (*Manager, error) {
	if err := checkInit("Start"); err != nil {
		return nil, err
	}
	o := buildOptions(opts)
	if len(o.key) == 0 {
		o.key = wire.NewKey()
	}
	start := startProcess
	if o.inProcess {
		start = startInProcess
	}
	m, err := start(ctx, o)
	if err == nil && o.infoFile != "" {
		if err = writeInfoFile(o.infoFile, m); err != nil {
			m.Close()
			return nil, err
		}
	}
	return m, err
}

// listen opens the manager's listener: the configured address, or a Unix
// socket in a new private directory (returned, for removal).
func listen(o options) (net.Listener, string, error) {
	if o.network != "" {
		l, err := net.Listen(o.network, o.address)
		if err != nil {
			return nil, "", fmt.Errorf("listen: %w", err)
		}
		if o.network == "unix" {
			os.Chmod(o.address, 0o600)
		}
		return l, "", nil
	}
	return proc.ListenPrivate()
}

// ownClient returns the options of the Manager's own client under the
// options o of Start: o, trusting the server's certificates under TLS.
func (o options) ownClient() options {
	if o.tls != nil {
		o.tls = ownClientTLS(o.tls)
	}
	return o
}

func startInProcess(ctx context.Context, o options) (*Manager, error) {
	proc.SweepStaleDirs()
	srv := newServer(o) // o.key is set: Start made one if none was given
	l, dir, err := listen(o)
	if err != nil {
		return nil, err
	}
	go srv.Serve(l) // Shutdown ends it and waits for it
	c, err := connect(ctx, l.Addr().Network(), l.Addr().String(), o.key, o.ownClient())
	if err != nil {
		srv.Close()
		os.RemoveAll(dir)
		return nil, err
	}
	return &Manager{Client: c, key: o.key, pid: os.Getpid(), srv: srv, dir: dir, shutdownDone: make(chan struct{})}, nil
}

func startProcess(ctx context.Context, o options) (*Manager, error) {
	// Every option must reach the manager process, or Start refuses it:
	// check what cannot travel before starting anything.
	tlsCfg, err := encodeTLS(o.tls)
	if err != nil {
		return nil, err
	}
	if len(o.serverInterceptors) > 0 {
		return nil, fmt.Errorf("manager: Start: %w: WithServerInterceptors in a manager process (functions cannot travel to it): add InProcess, or serve with NewServer in a process of your own", ErrNotSupported)
	}
	cfg := serverConfig{Key: o.key, MaxFrame: o.maxFrame, Network: o.network, Address: o.address, HandshakeTimeout: o.handshakeTimeout, TLS: tlsCfg, Limits: o.limits,
		PprofLabels: o.pprofLabels, MemoryLimit: o.memoryLimit, GCPercent: o.gcPercent}
	if lv, ok := proc.MinLevel(o.logger); ok {
		cfg.LogLevel = &lv
	}
	child, err := proc.Start(context.Background(), proc.RoleServer, nil)
	if err != nil {
		return nil, fmt.Errorf("manager: %w", err)
	}
	m := &Manager{key: o.key, child: child, exited: make(chan struct{}), shutdownDone: make(chan struct{})}
	go func() {
		child.Cmd.Wait()
		// A manager process that was killed could not remove its
		// directory: its parent does.
		if dir := m.procDir.Load(); dir != nil {
			os.RemoveAll(*dir)
		}
		close(m.exited)
	}()
	fail := func(err error) (*Manager, error) {
		child.Config.Close() // tells the manager process to exit
		child.Report.Close()
		if errors.Is(err, ErrInitNotCalled) {
			// A copy running the program's main does not read the
			// pipe: it would run on, orphaned.
			child.Cmd.Process.Kill()
		}
		select {
		case <-m.exited:
		case <-time.After(time.Second):
			child.Cmd.Process.Kill()
			<-m.exited
		}
		return nil, err
	}
	if err := proc.Send(child.Config, &cfg); err != nil {
		return fail(fmt.Errorf("manager: configure manager process: %w", err))
	}
	proc.SweepStaleDirs() // while the manager process starts
	if d, ok := ctx.Deadline(); ok {
		child.Report.SetReadDeadline(d)
	}
	stop := context.AfterFunc(ctx, func() { child.Report.SetReadDeadline(wire.LongAgo) })
	var rep serverReport
	reports := proc.NewReader(child.Report)
	err = proc.Recv(reports, &rep)
	stop()
	if rep.Dir != "" && proc.IsPrivateDir(rep.Dir) {
		m.procDir.Store(&rep.Dir)
	}
	switch {
	case ctx.Err() != nil:
		return fail(fmt.Errorf("manager: start: %w", ctx.Err()))
	case err != nil:
		return fail(fmt.Errorf("manager: the manager process did not start (did main call manager.Init first?): %w", err))
	case rep.Err != "" && errs.FromCode(rep.Code) != nil:
		// The error names what to do (ErrInitNotCalled does): keep its
		// sentinel for errors.Is.
		return fail(fmt.Errorf("%w (reported by the manager process, pid %d)", errs.FromCode(rep.Code), child.Cmd.Process.Pid))
	case rep.Err != "":
		return fail(fmt.Errorf("manager: manager process: %s", rep.Err))
	}
	c, err := connect(ctx, rep.Network, rep.Address, o.key, o.ownClient())
	if err != nil {
		return fail(err)
	}
	m.Client, m.pid = c, rep.Pid
	if cfg.LogLevel != nil {
		child.Report.SetReadDeadline(time.Time{})
		m.logsDone = make(chan struct{})
		go proc.ForwardLogs(child.Report, reports, o.logger, m.logsDone)
	} else {
		child.Report.Close()
	}
	return m, nil
}

// waitLogs waits until the manager process's last log records have been
// re-emitted: its pipe ends when the process has exited.
func (m *Manager) waitLogs() {
	if m.logsDone != nil {
		<-m.logsDone
	}
}

// engine makes a *Manager a Session; a nil *Manager has none, so
// constructors given one return ErrNilProxy rather than panicking.
func (m *Manager) engine() engine {
	if m == nil {
		return nil
	}
	return m.Client.engine()
}

// AuthKey returns the manager's key; with Addr it is what Connect needs
// to reach the manager from an unrelated process. Treat it as a secret.
func (m *Manager) AuthKey() []byte {
	if m == nil {
		return nil
	}
	return append([]byte(nil), m.key...)
}

// Pid returns the manager process's pid (this process's, for InProcess).
func (m *Manager) Pid() int {
	if m == nil {
		return 0
	}
	return m.pid
}

// Server returns the in-process server, or nil for a manager process.
func (m *Manager) Server() *Server {
	if m == nil {
		return nil
	}
	return m.srv
}

// session is the manager's own session, nil for a nil *Manager: the
// methods below are the embedded Client's, made safe on a nil *Manager
// (a promoted method would dereference it before it could check).
func (m *Manager) session() *Client {
	if m == nil {
		return nil
	}
	return m.Client
}

// Done is Client.Done of the manager's own session.
func (m *Manager) Done() <-chan struct{} { return m.session().Done() }

// Err is Client.Err of the manager's own session.
func (m *Manager) Err() error { return m.session().Err() }

// Addr is Client.Addr: where the manager listens.
func (m *Manager) Addr() net.Addr { return m.session().Addr() }

// ManagerPid is Client.ManagerPid; see also Pid.
func (m *Manager) ManagerPid() int { return m.session().ManagerPid() }

// NumObjects is Client.NumObjects through the manager's own session.
func (m *Manager) NumObjects(ctx context.Context) (int, error) {
	return m.session().NumObjects(ctx)
}

// Delete is Client.Delete through the manager's own session.
func (m *Manager) Delete(ctx context.Context, name string) (bool, error) {
	return m.session().Delete(ctx, name)
}

// Fork is Client.Fork through the manager's own session. On a nil
// *Manager it returns an error satisfying errors.Is(err, ErrNilProxy)
// (the embedded Client's method would dereference it).
func (m *Manager) Fork(ctx context.Context, worker string, args ...any) (*Process, error) {
	if m == nil || m.Client == nil {
		return nil, fmt.Errorf("manager: Fork(%q): %w", worker, ErrNilProxy)
	}
	return m.Client.Fork(ctx, worker, args...)
}

// Shutdown stops the manager in order: new calls fail with ErrClosed,
// calls executing now may finish until ctx ends, blocked calls fail with
// ErrClosed; then the manager process exits (it is killed if it has not
// exited when ctx ends) and its socket and directory are removed. Later
// calls on the Manager fail with ErrClosed. Shutdown may be called more
// than once; later calls wait for the first.
func (m *Manager) Shutdown(ctx context.Context) error {
	if m == nil {
		return fmt.Errorf("manager: Shutdown: %w", ErrNilProxy)
	}
	m.shutdownOnce.Do(func() {
		m.shutdownErr = m.shutdown(ctx)
		close(m.shutdownDone)
	})
	select {
	case <-m.shutdownDone:
		return m.shutdownErr
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close shuts the manager down as Shutdown does, letting executing calls
// finish for up to 10 s (killing the manager process if it has not
// exited by then), and returns when the manager process has exited and
// its socket has been removed. It replaces the embedded Client's Close,
// which would end only this process's session and leave the manager
// running. Close may be called more than once, and after Shutdown.
func (m *Manager) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), defaultShutdownGrace)
	defer cancel()
	return m.Shutdown(ctx)
}

func (m *Manager) shutdown(ctx context.Context) error {
	m.Client.closing.Store(true)
	defer func() {
		// The manager is down and has closed its side of every
		// connection: calls in flight read the replies it sent them
		// (an executing call's result) before their connections close.
		m.Client.end(ErrClosed, false)
		m.Client.Close()
	}()
	if m.srv != nil {
		err := m.srv.Shutdown(ctx)
		os.RemoveAll(m.dir)
		return err
	}
	grace := defaultShutdownGrace
	if d, ok := ctx.Deadline(); ok {
		grace = time.Until(d)
	}
	proc.Send(m.child.Config, &shutdownMessage{Grace: grace})
	defer m.child.Config.Close()
	defer m.waitLogs()
	select {
	case <-m.exited:
		return nil
	case <-ctx.Done():
		m.child.Cmd.Process.Signal(syscall.SIGKILL)
		<-m.exited
		return ctx.Err()
	}
}
