package manager

import (
	"crypto/tls"
	"log/slog"
	"time"

	"github.com/goproc/manager/internal/wire"
)

// An Option configures Start, NewServer or Connect. Options that do not
// apply to a call are ignored by it.
type Option interface {
	apply(*options)
}

type optionFunc func(*options)

func (f optionFunc) apply(o *options) { f(o) }

type options struct {
	network, address string
	key              []byte
	inProcess        bool
	logger           *slog.Logger
	maxFrame         int
	handshakeTimeout time.Duration
	tls              *tls.Config
}

func buildOptions(opts []Option) options {
	o := options{
		logger:           slog.New(slog.DiscardHandler),
		maxFrame:         wire.DefaultMaxFrameSize,
		handshakeTimeout: 10 * time.Second,
	}
	for _, opt := range opts {
		if opt != nil {
			opt.apply(&o)
		}
	}
	return o
}

// WithAddress sets where a server listens ("unix" and a socket path, or
// "tcp" and "host:port"). The default is a Unix socket in a new private
// directory. A TCP server requires WithAuthKey.
func WithAddress(network, address string) Option {
	return optionFunc(func(o *options) { o.network, o.address = network, address })
}

// WithAuthKey sets the shared key that clients must prove they hold. The
// default for a local manager is 32 random bytes, passed to forked
// workers through an inherited pipe (never argv or the environment).
func WithAuthKey(key []byte) Option {
	return optionFunc(func(o *options) { o.key = append([]byte(nil), key...) })
}

// InProcess makes Start serve from a goroutine of the calling process
// instead of a separate manager process. It suits tests and programs that
// cannot register their types in init functions. By default Start spawns
// a manager process.
func InProcess() Option {
	return optionFunc(func(o *options) { o.inProcess = true })
}

// WithLogger sets the logger for connection-level events (per-call events
// are logged at Debug level). The default discards everything. A manager
// process sends its records to the process that started it, which
// re-emits them on this logger with their level and attributes.
func WithLogger(l *slog.Logger) Option {
	return optionFunc(func(o *options) {
		if l != nil {
			o.logger = l
		}
	})
}

// WithMaxFrameSize sets the largest message, in bytes, that a side sends
// or accepts (default 64 MiB). Both sides enforce it: a call whose
// request is too large fails with ErrFrameTooLarge before it is sent.
func WithMaxFrameSize(n int) Option {
	return optionFunc(func(o *options) {
		if n < wire.MinMaxFrameSize {
			n = wire.MinMaxFrameSize
		}
		o.maxFrame = n
	})
}

// WithHandshakeTimeout bounds how long a server waits for a new
// connection to authenticate (default 10 s).
func WithHandshakeTimeout(d time.Duration) Option {
	return optionFunc(func(o *options) { o.handshakeTimeout = d })
}

// WithTLS makes connections run over TLS with config, for managers that
// are reached across machines. On a server (NewServer, or Start with
// InProcess) config must hold a certificate; on a client (Connect) it
// holds the roots that verify the server, and its ServerName defaults to
// the host of the address dialled. Both sides must use it. The key is
// still required and still checked, inside TLS: TLS keeps the traffic
// private, the key decides who may call. The default is no TLS, which
// suits Unix sockets and trusted networks.
//
// A manager process (Start without InProcess) receives a copy of config
// over its private configuration pipe: the certificates with their
// private keys (RSA, ECDSA or Ed25519), MinVersion, MaxVersion,
// ClientAuth, CipherSuites, CurvePreferences, NextProtos and the
// session-ticket and record-sizing switches. Start refuses a config that
// sets anything else a server reads (callbacks such as GetCertificate,
// GetConfigForClient or VerifyPeerCertificate, a ClientCAs pool, a
// KeyLogWriter…), since it cannot be copied to another process: use
// InProcess or NewServer for those. The Manager's own session trusts
// exactly the certificates of config unless config sets RootCAs.
func WithTLS(config *tls.Config) Option {
	return optionFunc(func(o *options) { o.tls = config })
}
