package manager

import (
	"fmt"
	"net"
)

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
	if err := s.checkNetwork(s.opts.network); err != nil {
		return err
	}
	l, _, err := listen(s.opts)
	if err != nil {
		return errorf("manager: %w", err)
	}
	return s.Serve(l)
}

// checkNetwork refuses to serve TCP without a key the user chose:
// NewServer's random key is fine for a Unix socket (it reaches children
// through a pipe), but over TCP it would mean either no client can
// connect or the key gets copied around by hand from a log.
func (s *Server) checkNetwork(network string) error {
	switch network {
	case "tcp", "tcp4", "tcp6":
		if !s.keyGiven {
			return fmt.Errorf("serve on %s: %w", network, ErrNoAuthKey)
		}
	}
	return nil
}

// checkListener applies checkNetwork to a listener passed to Serve.
func (s *Server) checkListener(l net.Listener) error {
	return s.checkNetwork(l.Addr().Network())
}
