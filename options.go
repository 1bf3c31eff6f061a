package manager

import (
	"crypto/tls"
	"log/slog"
	"time"

	"github.com/goproc/manager/internal/server"
	"github.com/goproc/manager/internal/wire"
)

// Each entry point takes the options that mean something to it, so that
// a misplaced option does not compile (connect-go's ClientOption,
// HandlerOption and Option are the model):
//
//   - NewServer takes ServerOptions: the address, the key, the limits,
//     the logger.
//   - Connect takes ClientOptions.
//   - Start runs a server and connects a client to it, so it takes both,
//     and StartOptions of its own (InProcess).
//   - An Option (TLS, frame size, handshake timeout, request size) means
//     something on both sides and goes to every entry point.

// A StartOption configures Start. Every ServerOption and ClientOption is
// a StartOption too: Start applies it to the server it runs or to the
// Manager's own client.
type StartOption interface {
	apply(*options)
}

// A ServerOption configures NewServer, and the server that Start runs.
type ServerOption interface {
	StartOption
	isServerOption()
}

// A ClientOption configures Connect, and the Manager's own client that
// Start connects.
type ClientOption interface {
	StartOption
	isClientOption()
}

// An Option configures every entry point: Start, NewServer and Connect.
type Option interface {
	ServerOption
	ClientOption
}

// startOption is a StartOption that is neither a server's nor a
// client's.
type startOption func(*options)

func (f startOption) apply(o *options) { f(o) }

// serverOption is a ServerOption only.
type serverOption func(*options)

func (f serverOption) apply(o *options) { f(o) }
func (serverOption) isServerOption()    {}

// optionFunc is an Option: for the server and the client alike.
type optionFunc func(*options)

func (f optionFunc) apply(o *options) { f(o) }
func (optionFunc) isServerOption()    {}
func (optionFunc) isClientOption()    {}

type options struct {
	network, address string
	key              []byte
	inProcess        bool
	infoFile         string // WithInfoFile
	logger           *slog.Logger
	maxFrame         int
	handshakeTimeout time.Duration
	tls              *tls.Config
	limits           server.Limits
	memoryLimit      int64 // WithMemoryLimit; 0: the process's own
	gcPercent        *int  // WithGCPercent; nil: the process's own

	// see hooks.go
	interceptors       []Interceptor
	callChain          CallFunc // interceptors composed; nil without any
	serverInterceptors []ServerInterceptor
	pprofLabels        bool
}

// engineConfig is what internal/server is built with under o.
func (o options) engineConfig() server.Config {
	return server.Config{
		Key:              o.key,
		Logger:           o.logger,
		MaxFrame:         o.maxFrame,
		HandshakeTimeout: o.handshakeTimeout,
		TLS:              o.tls,
		Limits:           o.limits,
		Intercept:        serverIntercept(o.serverInterceptors),
		PprofLabels:      o.pprofLabels,
	}
}

// buildOptions applies opts, in order, to the defaults.
func buildOptions[O StartOption](opts []O) options {
	o := options{
		logger:           slog.New(slog.DiscardHandler),
		maxFrame:         wire.DefaultMaxFrameSize,
		handshakeTimeout: server.DefaultHandshakeTimeout,
		limits:           server.DefaultLimits(),
	}
	for _, opt := range opts {
		if any(opt) != nil {
			opt.apply(&o)
		}
	}
	return o
}

// WithAddress sets where a server listens ("unix" and a socket path, or
// "tcp" and "host:port"). The default is a Unix socket in a new private
// directory. A TCP server requires WithAuthKey.
func WithAddress(network, address string) ServerOption {
	return serverOption(func(o *options) { o.network, o.address = network, address })
}

// WithAuthKey sets the shared key that clients must prove they hold. The
// default for a local manager is 32 random bytes, passed to forked
// workers through an inherited pipe (never argv or the environment).
func WithAuthKey(key []byte) ServerOption {
	return serverOption(func(o *options) { o.key = append([]byte(nil), key...) })
}

// InProcess makes Start serve from a goroutine of the calling process
// instead of a separate manager process. It suits tests and programs that
// cannot register their types in init functions. By default Start spawns
// a manager process.
func InProcess() StartOption {
	return startOption(func(o *options) { o.inProcess = true })
}

// WithMemoryLimit sets the manager process's soft memory limit, in bytes,
// as GOMEMLIMIT or runtime/debug.SetMemoryLimit would: the garbage
// collector works harder as the process nears it. A manager holding big
// dicts and lists may want one, with WithGCPercent(-1) to collect only
// near the limit. The default (or n ≤ 0) leaves the process's own
// setting, which is GOMEMLIMIT from its environment, inherited from the
// program's, or no limit. Stats reports the limit in effect
// (Memory.Limit). With InProcess it does nothing: the calling process's
// own settings govern.
func WithMemoryLimit(n int64) StartOption {
	return startOption(func(o *options) { o.memoryLimit = max(n, 0) })
}

// WithGCPercent sets the manager process's garbage collection target
// percentage, as GOGC or runtime/debug.SetGCPercent would; a negative
// percentage turns the collector off unless a memory limit is reached
// (see WithMemoryLimit). The default leaves the process's own setting,
// which is GOGC from its environment, inherited from the program's, or
// 100. Stats reports the percentage in effect (Memory.GCPercent). With
// InProcess it does nothing.
func WithGCPercent(n int) StartOption {
	return startOption(func(o *options) { o.gcPercent = &n })
}

// WithLogger sets the logger for connection-level events (per-call events
// are logged at Debug level). The default discards everything. A manager
// process sends its records to the process that started it, which
// re-emits them on this logger with their level and attributes.
func WithLogger(l *slog.Logger) ServerOption {
	return serverOption(func(o *options) {
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
// connection to authenticate, and how long Connect waits for its
// handshake when its ctx has no deadline (default 10 s).
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

// WithMaxRequestSize bounds the memory one request may cost to decode
// (default 256 MiB). The cost is measured before decoding: the
// request's bytes plus an eighth, 80 bytes per msgpack value and 320
// more per map (what msgpack/v5 allocates for them into interface types;
// an argument of type msgpack.RawMessage costs only its bytes, and one of
// []msgpack.RawMessage 80 bytes per element). A request above it gets
// ErrTooLarge and the connection goes on. A client applies the same limit
// when it decodes a result into a type that holds interfaces or maps
// (any, []any, map[string]any, a Dict[K, any]…), so that a value stored
// by a hostile peer cannot make its reader allocate without bound.
func WithMaxRequestSize(n int64) Option {
	return optionFunc(func(o *options) {
		if n > 0 {
			o.limits.MaxRequestSize = n
		}
	})
}

// WithMaxBlockedCalls bounds the calls that may be blocked at once on one
// connection of a server (a Queue.Get on an empty queue, a Lock held by
// another), default 1024. A call that would block beyond it fails at
// once with ErrBusy; the connection goes on. A Client's connections
// carry one call at a time, so only a peer that pipelines calls reaches
// it.
func WithMaxBlockedCalls(n int) ServerOption {
	return serverOption(func(o *options) {
		if n > 0 {
			o.limits.MaxBlockedCalls = n
		}
	})
}

// WithReadBudget bounds, server-wide, the memory that large requests
// (frames over 1 MiB, or costing over 1 MiB to decode) hold at once while
// they are read and executed: their frames and their decoding cost (see
// WithMaxRequestSize). Default 512 MiB. A request that does not fit waits
// for budget (backpressure: the server stops reading its connection) for
// up to WithFrameReadTimeout; then it is answered with ErrBusy (a frame
// is read and dropped without being kept) and the connection goes on.
// The budget is raised to fit the largest request: the largest frame
// (WithMaxFrameSize) plus WithMaxRequestSize.
func WithReadBudget(n int64) ServerOption {
	return serverOption(func(o *options) {
		if n > 0 {
			o.limits.ReadBudget = n
		}
	})
}

// WithFrameReadTimeout sets how long a server's authenticated peer may
// take to send a whole frame once its first byte has arrived (default
// 30 s); a peer that stalls mid-frame is then disconnected. A connection
// idle between frames is never cut off. It also bounds the wait for read
// budget (WithReadBudget).
func WithFrameReadTimeout(d time.Duration) ServerOption {
	return serverOption(func(o *options) {
		if d > 0 {
			o.limits.FrameReadTimeout = d
		}
	})
}

// withLimits sets every limit at once: a manager process gets its
// parent's limits this way.
func withLimits(l server.Limits) ServerOption {
	return serverOption(func(o *options) { o.limits = l })
}
