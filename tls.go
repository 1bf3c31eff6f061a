package manager

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"reflect"
	"slices"
)

// TLS on the client (tlsClientConfig) and on its way to a manager
// process (the rest of this file).

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

// A manager process serves TLS with a copy of the tls.Config given to
// Start, sent over its configuration pipe. Data travels (certificate
// chains, private keys as PKCS #8, versions, client-auth mode, cipher
// suites, curves, ALPN protocols); functions, interfaces and pools that
// cannot be read back do not, and Start refuses a config that sets one
// rather than serve without it.

// tlsTravel is the part of a server's tls.Config that a manager process
// receives.
type tlsTravel struct {
	Certificates           []tlsCertTravel
	MinVersion, MaxVersion uint16
	ClientAuth             tls.ClientAuthType
	CipherSuites           []uint16
	CurvePreferences       []tls.CurveID
	NextProtos             []string
	SessionTicketsDisabled bool
	DynamicRecordSizing    bool // DynamicRecordSizingDisabled
}

type tlsCertTravel struct {
	Chain [][]byte // DER, leaf first
	Key   []byte   // PKCS #8
	OCSP  []byte
	SCTs  [][]byte
}

// tlsTravelling are the fields of tls.Config that tlsTravel carries;
// tlsClientOnly those a server never reads (the manager's own client, in
// the parent, still uses them).
var (
	tlsTravelling = []string{"Certificates", "MinVersion", "MaxVersion", "ClientAuth", "CipherSuites",
		"CurvePreferences", "NextProtos", "SessionTicketsDisabled", "DynamicRecordSizingDisabled",
		"PreferServerCipherSuites"} // the last is ignored by crypto/tls
	tlsClientOnly = []string{"RootCAs", "ServerName", "InsecureSkipVerify", "GetClientCertificate",
		"ClientSessionCache", "Renegotiation", "EncryptedClientHelloConfigList", "EncryptedClientHelloRejectionVerify"}
)

// encodeTLS returns what a manager process needs to serve TLS as c
// describes, or an error naming what cannot be sent.
func encodeTLS(c *tls.Config) (*tlsTravel, error) {
	if c == nil {
		return nil, nil
	}
	v := reflect.ValueOf(c).Elem()
	for i := range v.NumField() {
		f := v.Type().Field(i)
		if !f.IsExported() || slices.Contains(tlsTravelling, f.Name) || slices.Contains(tlsClientOnly, f.Name) {
			continue
		}
		if !v.Field(i).IsZero() {
			return nil, fmt.Errorf("manager: WithTLS: the config sets %s, which cannot be sent to a manager process (functions, interfaces and certificate pools cannot be copied to another process); use Start with InProcess, or NewServer in a program of your own", f.Name)
		}
	}
	if len(c.Certificates) == 0 {
		return nil, errors.New("manager: WithTLS: a manager process needs a certificate in the config's Certificates")
	}
	t := &tlsTravel{
		MinVersion: c.MinVersion, MaxVersion: c.MaxVersion, ClientAuth: c.ClientAuth,
		CipherSuites: c.CipherSuites, CurvePreferences: c.CurvePreferences, NextProtos: c.NextProtos,
		SessionTicketsDisabled: c.SessionTicketsDisabled, DynamicRecordSizing: c.DynamicRecordSizingDisabled,
	}
	for i, cert := range c.Certificates {
		key, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
		if err != nil {
			return nil, fmt.Errorf("manager: WithTLS: the private key of certificate %d (%T) cannot be sent to a manager process (%w); use Start with InProcess, or NewServer in a program of your own", i+1, cert.PrivateKey, err)
		}
		t.Certificates = append(t.Certificates, tlsCertTravel{Chain: cert.Certificate, Key: key, OCSP: cert.OCSPStaple, SCTs: cert.SignedCertificateTimestamps})
	}
	return t, nil
}

// config rebuilds, in the manager process, the server's tls.Config.
func (t *tlsTravel) config() (*tls.Config, error) {
	c := &tls.Config{
		MinVersion: t.MinVersion, MaxVersion: t.MaxVersion, ClientAuth: t.ClientAuth,
		CipherSuites: t.CipherSuites, CurvePreferences: t.CurvePreferences, NextProtos: t.NextProtos,
		SessionTicketsDisabled: t.SessionTicketsDisabled, DynamicRecordSizingDisabled: t.DynamicRecordSizing,
	}
	for i, tc := range t.Certificates {
		key, err := x509.ParsePKCS8PrivateKey(tc.Key)
		if err != nil {
			return nil, fmt.Errorf("TLS certificate %d: private key: %w", i+1, err)
		}
		c.Certificates = append(c.Certificates, tls.Certificate{Certificate: tc.Chain, PrivateKey: key, OCSPStaple: tc.OCSP, SignedCertificateTimestamps: tc.SCTs})
	}
	return c, nil
}

// ownClientTLS is the config with which a Manager's own session reaches
// the manager it started with the server config c. When c says nothing
// about verifying a server (no RootCAs), the session pins the
// certificates of c itself: they are the manager's, whatever names or
// issuers they carry, and the system roots would refuse a self-signed
// one.
func ownClientTLS(c *tls.Config) *tls.Config {
	own := c.Clone()
	own.VerifyPeerCertificate, own.VerifyConnection = nil, nil // the server's callbacks (for its clients)
	if c.RootCAs != nil || c.InsecureSkipVerify || len(c.Certificates) == 0 {
		return own
	}
	var leaves [][]byte
	for _, cert := range c.Certificates {
		if len(cert.Certificate) > 0 {
			leaves = append(leaves, cert.Certificate[0])
		}
	}
	own.InsecureSkipVerify = true // replaced by the exact check below
	own.VerifyConnection = func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) > 0 && slices.ContainsFunc(leaves, func(l []byte) bool { return bytes.Equal(l, cs.PeerCertificates[0].Raw) }) {
			return nil
		}
		return errors.New("manager: the server's TLS certificate is not the one the manager was started with")
	}
	return own
}

// workerTLS is how a forked worker reaches a manager that serves TLS: it
// trusts exactly the certificate its parent's session verified (pinned),
// and presents its parent's client certificates, if any.
type workerTLS struct {
	Pin          []byte // DER of the manager's leaf certificate
	Certificates []tlsCertTravel
	MinVersion   uint16
}

// forkTLS returns what c's workers need to reach its manager over TLS,
// or nil if c does not use TLS.
func (c *Client) forkTLS() (*workerTLS, error) {
	if c.opts.tls == nil {
		return nil, nil
	}
	tc, ok := c.anchor.nc.(*tls.Conn)
	if !ok || len(tc.ConnectionState().PeerCertificates) == 0 {
		return nil, errors.New("manager: the session's TLS connection shows no server certificate to give a worker")
	}
	if c.opts.tls.GetClientCertificate != nil {
		return nil, errors.New("manager: the session's TLS config has a GetClientCertificate callback, which a worker process cannot receive; give the client certificate in Certificates")
	}
	w := &workerTLS{Pin: tc.ConnectionState().PeerCertificates[0].Raw, MinVersion: c.opts.tls.MinVersion}
	for i, cert := range c.opts.tls.Certificates {
		key, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
		if err != nil {
			return nil, fmt.Errorf("manager: the private key of TLS certificate %d (%T) cannot be sent to a worker process: %w", i+1, cert.PrivateKey, err)
		}
		w.Certificates = append(w.Certificates, tlsCertTravel{Chain: cert.Certificate, Key: key})
	}
	return w, nil
}

// config is the worker's client TLS config.
func (w *workerTLS) config() (*tls.Config, error) {
	c := &tls.Config{MinVersion: w.MinVersion, InsecureSkipVerify: true} // replaced by the pin below
	for i, tc := range w.Certificates {
		key, err := x509.ParsePKCS8PrivateKey(tc.Key)
		if err != nil {
			return nil, fmt.Errorf("manager: TLS certificate %d: private key: %w", i+1, err)
		}
		c.Certificates = append(c.Certificates, tls.Certificate{Certificate: tc.Chain, PrivateKey: key})
	}
	pin := w.Pin
	c.VerifyConnection = func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) > 0 && bytes.Equal(pin, cs.PeerCertificates[0].Raw) {
			return nil
		}
		return errors.New("manager: the server's TLS certificate is not the one the worker's parent verified")
	}
	return c, nil
}
