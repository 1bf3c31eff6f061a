package manager

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/goproc/manager/internal/proc"
	"github.com/goproc/manager/internal/wire"
)

// defaultShutdownGrace is how long a manager process lets executing
// calls finish when Shutdown's context has no deadline.
const defaultShutdownGrace = 10 * time.Second

// A Manager is a running manager: the process (or, with InProcess, the
// goroutine) that owns the shared objects, and this process's session
// with it. It embeds the *Client of that session, so every constructor
// and Fork take it directly.
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
	child  *proc.Child
	exited chan struct{} // closed when the manager process has been reaped

	shutdownOnce sync.Once
	shutdownErr  error
	shutdownDone chan struct{}
}

// serverConfig is what Start sends a manager process; serverReport is
// its answer once it listens.
type serverConfig struct {
	Key      []byte
	MaxFrame int
	Network  string
	Address  string
}

type serverReport struct {
	Network string
	Address string
	Pid     int
	Err     string
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
// ctx bounds the start-up only.
func Start(ctx context.Context, opts ...Option) (*Manager, error) {
	o := buildOptions(opts)
	if len(o.key) == 0 {
		o.key = wire.NewKey()
	}
	if o.inProcess {
		return startInProcess(ctx, o, opts)
	}
	return startProcess(ctx, o, opts)
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
	dir, err := os.MkdirTemp("", "manager-")
	if err != nil {
		return nil, "", fmt.Errorf("make socket directory: %w", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		os.RemoveAll(dir)
		return nil, "", err
	}
	sock := filepath.Join(dir, "manager.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		os.RemoveAll(dir)
		return nil, "", fmt.Errorf("listen: %w", err)
	}
	if err := os.Chmod(sock, 0o600); err != nil {
		l.Close()
		os.RemoveAll(dir)
		return nil, "", err
	}
	return l, dir, nil
}

func startInProcess(ctx context.Context, o options, opts []Option) (*Manager, error) {
	srv, err := NewServer(append(opts, WithAuthKey(o.key))...)
	if err != nil {
		return nil, err
	}
	l, dir, err := listen(o)
	if err != nil {
		return nil, err
	}
	go srv.Serve(l) // Shutdown ends it and waits for it
	c, err := Connect(ctx, l.Addr().Network(), l.Addr().String(), o.key, opts...)
	if err != nil {
		srv.Close()
		os.RemoveAll(dir)
		return nil, err
	}
	return &Manager{Client: c, key: o.key, pid: os.Getpid(), srv: srv, dir: dir, shutdownDone: make(chan struct{})}, nil
}

func startProcess(ctx context.Context, o options, opts []Option) (*Manager, error) {
	child, err := proc.Start(context.Background(), proc.RoleServer, nil)
	if err != nil {
		return nil, fmt.Errorf("manager: %w", err)
	}
	m := &Manager{key: o.key, child: child, exited: make(chan struct{}), shutdownDone: make(chan struct{})}
	go func() {
		child.Cmd.Wait()
		close(m.exited)
	}()
	fail := func(err error) (*Manager, error) {
		child.Config.Close() // tells the manager process to exit
		child.Report.Close()
		select {
		case <-m.exited:
		case <-time.After(time.Second):
			child.Cmd.Process.Kill()
			<-m.exited
		}
		return nil, err
	}
	cfg := serverConfig{Key: o.key, MaxFrame: o.maxFrame, Network: o.network, Address: o.address}
	if err := proc.Send(child.Config, &cfg); err != nil {
		return fail(fmt.Errorf("manager: configure manager process: %w", err))
	}
	if d, ok := ctx.Deadline(); ok {
		child.Report.SetReadDeadline(d)
	}
	stop := context.AfterFunc(ctx, func() { child.Report.SetReadDeadline(longAgo) })
	var rep serverReport
	err = proc.Recv(proc.NewReader(child.Report), &rep)
	stop()
	child.Report.Close()
	switch {
	case ctx.Err() != nil:
		return fail(fmt.Errorf("manager: start: %w", ctx.Err()))
	case err != nil:
		return fail(fmt.Errorf("manager: the manager process did not start (did main call manager.Init first?): %w", err))
	case rep.Err != "":
		return fail(fmt.Errorf("manager: manager process: %s", rep.Err))
	}
	c, err := Connect(ctx, rep.Network, rep.Address, o.key, opts...)
	if err != nil {
		return fail(err)
	}
	m.Client, m.pid = c, rep.Pid
	return m, nil
}

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
	opts := []Option{WithAuthKey(cfg.Key), WithMaxFrameSize(cfg.MaxFrame)}
	if cfg.Network != "" {
		opts = append(opts, WithAddress(cfg.Network, cfg.Address))
	}
	o := buildOptions(opts)
	srv, _ := NewServer(opts...)
	l, dir, err := listen(o)
	if err != nil {
		proc.Send(report, &serverReport{Err: err.Error()})
		return 1
	}
	defer os.RemoveAll(dir)
	if err := proc.Send(report, &serverReport{Network: l.Addr().Network(), Address: l.Addr().String(), Pid: os.Getpid()}); err != nil {
		return 1
	}
	report.Close()
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

// client makes a *Manager a Session; a nil *Manager has no client, so
// constructors given one return ErrNilProxy rather than panicking.
func (m *Manager) client() *Client {
	if m == nil {
		return nil
	}
	return m.Client
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
	select {
	case <-m.exited:
		return nil
	case <-ctx.Done():
		m.child.Cmd.Process.Signal(syscall.SIGKILL)
		<-m.exited
		return ctx.Err()
	}
}
