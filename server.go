package manager

import (
	"context"
	"fmt"
	"net"

	"github.com/goproc/manager/internal/server"
)

// A Server hosts shared objects and serves calls on them. Start runs one
// for you (in a manager process, or in-process); NewServer and Serve are
// for serving on a listener of your own, such as a TCP port that programs
// on other machines Connect to (Python's get_server().serve_forever()).
// The engine behind it is internal/server.
//
// A Server is safe for concurrent use.
type Server struct {
	engine *server.Server
	opts   options
}

// NewServer returns a server configured by opts (WithAuthKey,
// WithMaxFrameSize, WithLogger, WithHandshakeTimeout, and the limits of
// LIMITS.md: WithMaxRequestSize, WithMaxBlockedCalls, WithReadBudget,
// WithFrameReadTimeout). Without a key it makes a random one; read it
// with AuthKey.
func NewServer(opts ...ServerOption) (*Server, error) {
	return newServer(buildOptions(opts)), nil
}

// newServer returns a server configured by o.
func newServer(o options) *Server {
	return &Server{engine: server.New(o.engineConfig()), opts: o}
}

// AuthKey returns the key clients must hold. Treat it as a secret.
func (s *Server) AuthKey() []byte { return s.engine.AuthKey() }

// NumObjects returns the number of live shared objects, like Python's
// _number_of_objects; useful in tests and for debugging leaks.
func (s *Server) NumObjects() int { return s.engine.NumObjects() }

// Serve accepts connections on l and serves them until Shutdown, then
// returns ErrClosed. It closes l when it returns. A TCP listener needs a
// key given with WithAuthKey (see ListenAndServe).
func (s *Server) Serve(l net.Listener) error { return s.engine.Serve(l) }

// ListenAndServe listens on the address given to NewServer with
// WithAddress and serves it until Shutdown, then returns ErrClosed; it
// returns an error at once if it cannot listen. It blocks.
//
// A TCP address is reachable by anyone who can reach the machine, so it
// needs a key of the caller's choice: without WithAuthKey, ListenAndServe
// refuses with an error satisfying errors.Is(err, ErrNoAuthKey). Add
// WithTLS when the network between the machines is not trusted: the key
// handshake authenticates both ends, but only TLS encrypts the calls.
//
// A Unix socket is made readable and writable by its owner only.
func (s *Server) ListenAndServe() error {
	if s.opts.network == "" {
		return fmt.Errorf("manager: ListenAndServe: no address: pass WithAddress(network, address) to NewServer")
	}
	if err := s.engine.CheckNetwork(s.opts.network); err != nil {
		return err
	}
	l, _, err := listen(s.opts)
	if err != nil {
		return errorf("manager: %w", err)
	}
	return s.Serve(l)
}

// Shutdown stops the server gracefully: it stops accepting connections,
// lets calls that are executing finish until ctx ends, fails calls that
// are blocked waiting (a Queue.Get on an empty queue) with ErrClosed, then
// closes every connection and waits for the server's goroutines. Calls
// that arrive meanwhile get ErrClosed. When ctx ends first, the remaining
// calls are cut off and ctx's error is returned.
//
// Shutdown may be called more than once; later calls wait for the first.
func (s *Server) Shutdown(ctx context.Context) error { return s.engine.Shutdown(ctx) }

// Close stops the server at once: like Shutdown with an expired context.
func (s *Server) Close() error { return s.engine.Close() }
