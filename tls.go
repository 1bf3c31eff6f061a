package manager

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
	if s.opts.tls == nil {
		return nc, nil
	}
	tc := tls.Server(nc, s.opts.tls)
	if err := tc.Handshake(); err != nil {
		return nil, fmt.Errorf("TLS handshake: %w", err)
	}
	return tc, nil
}

// tlsClientConfig returns config with ServerName set to the host of addr
// when it is empty, as tls.Dial does: without it crypto/tls refuses to
// verify the server at all.
func tlsClientConfig(config *tls.Config, addr string) *tls.Config {
	if config.ServerName != "" || config.InsecureSkipVerify {
		return config
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return config // a Unix socket path: the caller must set ServerName
	}
	c := config.Clone()
	c.ServerName = host
	return c
}
