package server

import (
	"crypto/tls"
	"fmt"
	"net"
)

// secure wraps an accepted connection in TLS when the server was given
// WithTLS, and completes the TLS handshake. The caller has set the
// handshake deadline on nc, so a peer that stalls inside TLS is cut off
// like one that stalls in the key handshake.
func (s *Server) secure(nc net.Conn) (net.Conn, error) {
	if s.opts.TLS == nil {
		return nc, nil
	}
	tc := tls.Server(nc, s.opts.TLS)
	if err := tc.Handshake(); err != nil {
		return nil, fmt.Errorf("TLS handshake: %w", err)
	}
	return tc, nil
}
