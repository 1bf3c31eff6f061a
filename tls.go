package manager

import (
	"crypto/tls"
	"net"
)

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
