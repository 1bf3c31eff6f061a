package manager

import (
	"context"
	"crypto/rand"
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

// A Server hosts shared objects and serves calls on them. Start runs one
// for you (in a manager process, or in-process); NewServer and Serve are
// for serving on a listener of your own, such as a TCP port that programs
// on other machines Connect to (Python's get_server().serve_forever()).
//
// A Server is safe for concurrent use.
type Server struct {
	opts    options
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

	wg sync.WaitGroup // every goroutine the server started
}

// NewServer returns a server configured by opts (WithAuthKey,
// WithMaxFrameSize, WithLogger, WithHandshakeTimeout, and the limits of
// LIMITS.md: WithMaxRequestSize, WithMaxBlockedCalls, WithReadBudget,
// WithFrameReadTimeout). Without a key it makes a random one; read it
// with AuthKey.
func NewServer(opts ...Option) (*Server, error) {
	o := buildOptions(opts)
	keyGiven := len(o.key) > 0
	if !keyGiven {
		o.key = wire.NewKey()
	}
	s := &Server{
		opts:        o,
		keyGiven:    keyGiven,
		objects:     newObjectTable(),
		log:         o.logger,
		listeners:   map[net.Listener]struct{}{},
		handshaking: map[net.Conn]struct{}{},
		conns:       map[*serverConn]struct{}{},
		sessions:    map[callctx.SessionID]int{},
		done:        make(chan struct{}),
	}
	// The budget must fit the largest request it admits, frame and
	// decoding together, or that request could never be served.
	l := &s.opts.limits
	l.ReadBudget = max(l.ReadBudget, l.MaxRequestSize+int64(wire.HeaderSize+o.maxFrame))
	s.budget = wire.NewBudget(l.ReadBudget)
	rand.Read(s.id[:])
	return s, nil
}

// AuthKey returns the key clients must hold. Treat it as a secret.
func (s *Server) AuthKey() []byte { return append([]byte(nil), s.opts.key...) }

// NumObjects returns the number of live shared objects, like Python's
// _number_of_objects; useful in tests and for debugging leaks.
func (s *Server) NumObjects() int { return s.objects.len() }

// Serve accepts connections on l and serves them until Shutdown, then
// returns ErrClosed. It closes l when it returns. A TCP listener needs a
// key given with WithAuthKey (see ListenAndServe).
func (s *Server) Serve(l net.Listener) error {
	if err := s.checkListener(l); err != nil {
		l.Close()
		return err
	}
	s.mu.Lock()
	if s.closing.Load() {
		s.mu.Unlock()
		l.Close()
		return ErrClosed
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
				return ErrClosed
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
		c.cancelBlocked(ErrClosed)
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
	raw.SetDeadline(time.Now().Add(s.opts.handshakeTimeout))
	var session [16]byte
	var r *wire.Reader
	nc, err := s.secure(raw)
	if err == nil {
		r = wire.NewReader(nc, s.opts.maxFrame)
		session, err = wire.ServerHandshake(nc, r, s.opts.key, wire.ServerHello{ID: s.id, MaxFrame: s.opts.maxFrame, Pid: os.Getpid()})
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
	r.SetLimits(nc, s.budget, s.opts.limits.FrameReadTimeout)

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
	s.sessions[c.session]--
	last := s.sessions[c.session] == 0
	if last {
		delete(s.sessions, c.session)
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
	s.log.Debug("manager: session ended", "session", id.String())
}

// Errors of the call machinery, reported to the caller as non-remote.
func failureOf(err error, remote bool) *wire.Failure {
	return &wire.Failure{Remote: remote, Code: errs.CodeOf(err), Type: fmt.Sprintf("%T", err), Message: err.Error()}
}
