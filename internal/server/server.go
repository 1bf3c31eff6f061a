package server

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/goproc/manager/internal/callctx"
	"github.com/goproc/manager/internal/errs"
	"github.com/goproc/manager/internal/wire"
)

// Config is what a Server is built with; the root package's NewServer
// fills it from its options.
type Config struct {
	Key              []byte // the key clients must hold; New makes a random one when empty
	Logger           *slog.Logger
	MaxFrame         int           // the largest frame read or sent
	HandshakeTimeout time.Duration // bounds TLS and the key handshake
	TLS              *tls.Config   // nil: no TLS
	Limits           Limits
	Intercept        Intercept // nil: none (see hooks.go)
	PprofLabels      bool      // label each call's goroutine with its type and method
}

// Limits are the server's memory limits (see LIMITS.md). The root
// package's Start passes them to a manager process, hence the exported
// fields.
type Limits struct {
	MaxRequestSize   int64         // decoded cost of one request or result
	MaxBlockedCalls  int           // blocked calls in flight per connection
	ReadBudget       int64         // bytes of large requests held at once, server-wide
	FrameReadTimeout time.Duration // a frame must arrive whole within it
}

// The limits' defaults, sized for a 2-core machine with a few GiB of
// memory: one request may decode to 256 MiB, all large requests being
// read or executed together hold at most 512 MiB, a connection holds at
// most 1024 blocked calls (about 9 KiB each), and a frame must arrive
// whole within 30 s of its first byte.
const (
	DefaultMaxRequestSize   = 256 << 20
	DefaultMaxBlockedCalls  = 1024
	DefaultReadBudget       = 512 << 20
	DefaultFrameReadTimeout = 30 * time.Second
)

// DefaultHandshakeTimeout bounds a new connection's authentication
// unless Config says otherwise.
const DefaultHandshakeTimeout = 10 * time.Second

// DefaultLimits returns the limits a server has unless told otherwise.
func DefaultLimits() Limits {
	return Limits{
		MaxRequestSize:   DefaultMaxRequestSize,
		MaxBlockedCalls:  DefaultMaxBlockedCalls,
		ReadBudget:       DefaultReadBudget,
		FrameReadTimeout: DefaultFrameReadTimeout,
	}
}

// withDefaults fills the fields of cfg left zero with their defaults.
func (cfg Config) withDefaults() Config {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxFrame == 0 {
		cfg.MaxFrame = wire.DefaultMaxFrameSize
	}
	if cfg.HandshakeTimeout == 0 {
		cfg.HandshakeTimeout = DefaultHandshakeTimeout
	}
	d, l := DefaultLimits(), &cfg.Limits
	if l.MaxRequestSize <= 0 {
		l.MaxRequestSize = d.MaxRequestSize
	}
	if l.MaxBlockedCalls <= 0 {
		l.MaxBlockedCalls = d.MaxBlockedCalls
	}
	if l.ReadBudget <= 0 {
		l.ReadBudget = d.ReadBudget
	}
	if l.FrameReadTimeout <= 0 {
		l.FrameReadTimeout = d.FrameReadTimeout
	}
	return cfg
}

// A Server hosts shared objects and serves calls on them: the engine
// behind the root package's Server.
//
// A Server is safe for concurrent use.
type Server struct {
	opts    Config
	id      [16]byte
	objects *objectTable
	log     *slog.Logger
	budget  *wire.Budget // for large requests, shared by every connection

	keyGiven bool // WithAuthKey was given: required to serve TCP

	closing atomic.Bool  // set by Shutdown: refuse new calls
	running atomic.Int64 // calls executing now, for graceful Shutdown

	mu        sync.Mutex // guards the fields below
	listeners map[net.Listener]struct{}
	conns     map[*serverConn]struct{}
	sessions  map[callctx.SessionID]int // open connections per session
	done      chan struct{}             // closed when Shutdown has finished

	handshaking map[net.Conn]struct{} // guarded by mu: accepted, not yet authenticated

	started      time.Time                         // for Stats' uptime
	sessionInfo  map[callctx.SessionID]sessionInfo // guarded by mu: what sessions said of themselves
	closedTotals totals                            // guarded by mu: counters of closed connections

	wg sync.WaitGroup // every goroutine the server started

	observed atomic.Bool // calls take invokeObserved (see hooks.go)
	monitors monitorHub  // see monitor.go
}

// New returns a server configured by cfg; fields left zero take their
// defaults. Without a key it makes a random one; read it with AuthKey.
func New(cfg Config) *Server {
	cfg = cfg.withDefaults()
	keyGiven := len(cfg.Key) > 0
	if !keyGiven {
		cfg.Key = wire.NewKey()
	}
	s := &Server{
		opts:        cfg,
		keyGiven:    keyGiven,
		objects:     newObjectTable(),
		log:         cfg.Logger,
		listeners:   map[net.Listener]struct{}{},
		handshaking: map[net.Conn]struct{}{},
		conns:       map[*serverConn]struct{}{},
		sessions:    map[callctx.SessionID]int{},
		done:        make(chan struct{}),
		started:     time.Now(),
		sessionInfo: map[callctx.SessionID]sessionInfo{},
	}
	// The budget must fit the largest request it admits, frame and
	// decoding together, or that request could never be served.
	l := &s.opts.Limits
	l.ReadBudget = max(l.ReadBudget, l.MaxRequestSize+int64(wire.HeaderSize+cfg.MaxFrame))
	s.budget = wire.NewBudget(l.ReadBudget)
	rand.Read(s.id[:])
	s.updateObserved()
	return s
}

// AuthKey returns the key clients must hold. Treat it as a secret.
func (s *Server) AuthKey() []byte { return append([]byte(nil), s.opts.Key...) }

// ID returns the server's random id, which the proxies it hands out name.
func (s *Server) ID() [16]byte { return s.id }

// NumObjects returns the number of live shared objects, like Python's
// _number_of_objects; useful in tests and for debugging leaks.
func (s *Server) NumObjects() int { return s.objects.len() }

// Serve accepts connections on l and serves them until Shutdown, then
// returns errs.Closed. It closes l when it returns. A TCP listener needs
// a key given in Config.
func (s *Server) Serve(l net.Listener) error {
	if err := s.checkListener(l); err != nil {
		l.Close()
		return err
	}
	s.mu.Lock()
	if s.closing.Load() {
		s.mu.Unlock()
		l.Close()
		return errs.Closed
	}
	s.listeners[l] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, l)
		s.mu.Unlock()
		l.Close()
	}()

	var backoff time.Duration
	for {
		nc, err := l.Accept()
		if err != nil {
			if s.closing.Load() {
				return errs.Closed
			}
			if errors.Is(err, net.ErrClosed) {
				return fmt.Errorf("accept: %w", err)
			}
			// Out of descriptors and the like: wait and retry, as
			// net/http does, rather than spin or give up.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			s.log.Warn("manager: accept failed; retrying", "err", err, "in", backoff)
			select {
			case <-time.After(backoff):
			case <-s.done:
			}
			continue
		}
		backoff = 0
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.serveConn(nc)
		}()
	}
}

// Shutdown stops the server gracefully: it stops accepting connections,
// lets calls that are executing finish until ctx ends, fails calls that
// are blocked waiting (a Queue.Get on an empty queue) with ErrClosed, then
// closes every connection and waits for the server's goroutines. Calls
// that arrive meanwhile get ErrClosed. When ctx ends first, the remaining
// calls are cut off and ctx's error is returned.
//
// Shutdown may be called more than once; later calls wait for the first.
func (s *Server) Shutdown(ctx context.Context) error {
	if !s.closing.CompareAndSwap(false, true) {
		select {
		case <-s.done:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	s.mu.Lock()
	for l := range s.listeners {
		l.Close()
	}
	// Peers still in the handshake hold no calls: cut them off now
	// rather than wait out their handshake deadline.
	for nc := range s.handshaking {
		nc.Close()
	}
	conns := make([]*serverConn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()

	for _, c := range conns {
		c.cancelBlocked(errs.Closed)
		// A peer that stopped reading must not hold Shutdown up: replies
		// still to send get a bounded time to leave.
		c.nc.SetWriteDeadline(time.Now().Add(shutdownWriteGrace))
	}
	err := s.waitIdle(ctx)
	s.mu.Lock()
	for c := range s.conns {
		c.nc.Close()
	}
	s.mu.Unlock()
	if err != nil {
		// Forced: a method still executing cannot be stopped (nothing
		// can stop a goroutine), so, like net/http's Shutdown, return
		// when ctx ends rather than wait for it. Its connection is
		// closed: its goroutine ends as soon as it returns, and done is
		// closed then.
		go func() {
			s.wg.Wait()
			close(s.done)
		}()
		return err
	}
	s.wg.Wait()
	close(s.done)
	return nil
}

// waitIdle waits, polling, until no call is executing or ctx ends.
// Polling (as net/http's Shutdown does) keeps the per-call path free of
// any synchronisation with Shutdown beyond one atomic add.
func (s *Server) waitIdle(ctx context.Context) error {
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for s.running.Load() > 0 {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
	return nil
}

// shutdownWriteGrace bounds each reply write once Shutdown has begun.
const shutdownWriteGrace = 5 * time.Second

// Close stops the server at once: like Shutdown with an expired context.
func (s *Server) Close() error {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Shutdown(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

// serveConn authenticates a new connection and then serves it.
func (s *Server) serveConn(raw net.Conn) {
	s.mu.Lock()
	if s.closing.Load() {
		s.mu.Unlock()
		raw.Close()
		return
	}
	s.handshaking[raw] = struct{}{}
	s.mu.Unlock()

	// One deadline covers TLS and the key handshake: a peer that stalls
	// anywhere before authenticating is cut off.
	raw.SetDeadline(time.Now().Add(s.opts.HandshakeTimeout))
	var session [16]byte
	var r *wire.Reader
	nc, err := s.secure(raw)
	if err == nil {
		r = wire.NewReader(nc, s.opts.MaxFrame)
		session, err = wire.ServerHandshake(nc, r, s.opts.Key, wire.ServerHello{ID: s.id, MaxFrame: s.opts.MaxFrame, Pid: os.Getpid()})
	}
	s.mu.Lock()
	delete(s.handshaking, raw)
	s.mu.Unlock()
	if err != nil {
		s.log.Info("manager: handshake refused", "remote", raw.RemoteAddr().String(), "err", err)
		raw.Close()
		return
	}
	nc.SetDeadline(time.Time{})
	r.SetLimits(nc, s.budget, s.opts.Limits.FrameReadTimeout)

	c := newServerConn(s, nc, r, session)
	s.mu.Lock()
	if s.closing.Load() {
		s.mu.Unlock()
		nc.Close()
		return
	}
	s.conns[c] = struct{}{}
	s.sessions[session]++
	s.mu.Unlock()

	c.readLoop()
}

// connClosed is called once a connection's reading has stopped and its
// blocked calls have returned.
func (s *Server) connClosed(c *serverConn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.countClosed(c)
	s.sessions[c.session]--
	last := s.sessions[c.session] == 0
	if last {
		delete(s.sessions, c.session)
		delete(s.sessionInfo, c.session)
	}
	s.mu.Unlock()
	if last {
		s.endSession(c.session)
	}
}

// endSession releases everything a session held: its references, and
// whatever the objects hold for it (locks, permits, unacknowledged items).
func (s *Server) endSession(id callctx.SessionID) {
	for _, r := range s.objects.endSession(id) {
		func() {
			defer func() {
				if p := recover(); p != nil {
					s.log.Error("manager: ReleaseSession panicked", "panic", p)
				}
			}()
			r.ReleaseSession(id)
		}()
	}
	s.endMonitors(id)
	s.log.Debug("manager: session ended", "session", id.String())
}

// Errors of the call machinery, reported to the caller as non-remote.
func failureOf(err error, remote bool) *wire.Failure {
	return &wire.Failure{Remote: remote, Code: errs.CodeOf(err), Type: fmt.Sprintf("%T", err), Message: err.Error()}
}

// checkNetwork refuses to serve TCP without a key the user chose: a
// random key is fine for a Unix socket (it reaches children through a
// pipe), but over TCP it would mean either no client can connect or the
// key gets copied around by hand from a log.
func (s *Server) checkNetwork(network string) error {
	switch network {
	case "tcp", "tcp4", "tcp6":
		if !s.keyGiven {
			return fmt.Errorf("serve on %s: %w", network, errs.NoAuthKey)
		}
	}
	return nil
}

// CheckNetwork reports whether the server may serve on network (see
// checkNetwork), for ListenAndServe to refuse before listening.
func (s *Server) CheckNetwork(network string) error { return s.checkNetwork(network) }

// checkListener applies checkNetwork to a listener passed to Serve.
func (s *Server) checkListener(l net.Listener) error {
	return s.checkNetwork(l.Addr().Network())
}
