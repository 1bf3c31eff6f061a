package manager

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/goproc/manager/internal/errs"
	"github.com/goproc/manager/internal/proc"
	"github.com/goproc/manager/internal/redisengine"
	"github.com/goproc/manager/internal/server"
	"github.com/goproc/manager/internal/wire"
)

// A RedisSession is a session whose shared objects live in Redis (or
// Valkey; standalone, Sentinel or Cluster) instead of in a manager
// process: the second engine behind the same typed proxies. Every
// NewX/OpenX constructor takes it as its Session, so moving a program
// from a manager to Redis changes the line that makes the session:
//
//	s, err := manager.ConnectRedis(ctx, "redis://127.0.0.1:6379")
//	counts, err := manager.OpenDict[string, int](ctx, s, "counts")
//
// Objects outlive the processes that made them, and every process on
// every machine that opens the same name (in the same namespace) reaches
// the same object. The session is this process's lease in Redis, renewed
// by a heartbeat: when the process dies, what it held (locks, permits,
// unacknowledged JoinableQueue items) is released once the lease expires
// (see WithRedisLease), and the next owner is told (ErrAbandoned). Lock
// and RLock hand out fencing tokens (Lock.Token).
//
// A Batch on a RedisSession sends its calls' scripts in one go-redis
// pipeline: one round trip (on a Cluster, one per node), the calls run in
// the order queued, and those that wait then block all at once.
//
// The built-in types only: custom types (New, Call on a Register'ed type)
// and Pool need a manager and give ErrNotSupported. The README's "Beyond
// one machine" section lists what differs from a manager.
//
// A RedisSession is safe for concurrent use.
type RedisSession struct {
	s       *redisengine.Session
	rdb     redis.UniversalClient
	ownsRDB bool // made by ConnectRedis from a URL: Close closes it
	url     string
	opts    redisOptions
	handles atomic.Uint64
	closed  atomic.Bool
}

// A RedisOption configures ConnectRedis and NewRedisSession.
type RedisOption interface{ applyRedis(*redisOptions) }

type redisOptions struct {
	namespace    string
	lease        time.Duration
	maxRequest   int           // see WithRedisMaxRequestSize; 0: the default
	interceptors []Interceptor // see hooks.go
	callChain    CallFunc
}

type redisOptionFunc func(*redisOptions)

func (f redisOptionFunc) applyRedis(o *redisOptions) { f(o) }

// WithRedisNamespace sets the prefix of every key the session uses, so
// that several programs can share one Redis without seeing each other's
// objects. The default is "manager". It may not contain braces.
func WithRedisNamespace(ns string) RedisOption {
	return redisOptionFunc(func(o *redisOptions) { o.namespace = ns })
}

// WithRedisLease sets how long the session stays alive in Redis without
// a heartbeat (which runs every lease/3): what a dead process held is
// released within about this long of its death. The default is 10 s.
func WithRedisLease(d time.Duration) RedisOption {
	return redisOptionFunc(func(o *redisOptions) { o.lease = d })
}

// DefaultRedisMaxRequestSize is how many bytes of encoded arguments one
// call on a RedisSession may send, unless WithRedisMaxRequestSize says
// otherwise: a manager's default frame size, so that a program moved
// from a manager to Redis meets the same limit.
const DefaultRedisMaxRequestSize = wire.DefaultMaxFrameSize

// maxRedisRequestSize is Redis's own limit on one argument
// (proto-max-bulk-len, 512 MB by default): past it Redis closes the
// connection, after the whole value was sent.
const maxRedisRequestSize = 512 << 20

// WithRedisMaxRequestSize sets how many bytes of encoded arguments one
// call may send (default DefaultRedisMaxRequestSize, at most 512 MiB,
// Redis's proto-max-bulk-len). A larger call fails with ErrTooLarge
// before anything is sent.
func WithRedisMaxRequestSize(n int) RedisOption {
	return redisOptionFunc(func(o *redisOptions) { o.maxRequest = min(max(n, 1), maxRedisRequestSize) })
}

// ConnectRedis opens a session on the Redis at url: "redis://host:port/db"
// (or "rediss://…" for TLS) for a standalone server; for a Redis Cluster,
// the seed nodes as "redis://host1:port?addr=host2:port&addr=host3:port"
// (go-redis's ParseClusterURL form) or "redis+cluster://host1:port".
// ctx bounds the connection only; the session lasts until Close.
//
// The client it makes does not retry a command whose reply was lost
// (unless the URL sets max_retries): the call fails with ErrUnreachable
// instead, and a write may or may not have been applied. It puts each
// call's ctx deadline on the socket.
func ConnectRedis(ctx context.Context, url string, opts ...RedisOption) (*RedisSession, error) {
	rdb, err := redisengine.ClientFromURL(url)
	if err != nil {
		return nil, fmt.Errorf("manager: ConnectRedis: %w", err)
	}
	r, err := newRedisSession(ctx, rdb, opts)
	if err != nil {
		rdb.Close()
		return nil, err
	}
	r.ownsRDB, r.url = true, url
	return r, nil
}

// NewRedisSession opens a session on a go-redis client the program
// already has (a *redis.Client, *redis.ClusterClient or a failover
// client); Close leaves the client open. Blocking calls (Queue.Get,
// Lock.Acquire, …) each hold one of the client's connections while they
// wait, so size its pool for the calls that may wait at once.
//
// Set MaxRetries: -1 and ContextTimeoutEnabled: true on the client, as
// ConnectRedis does: go-redis otherwise sends a command again when its
// reply timed out, and a script that adds to a counter or takes an item
// must not run twice; and it returns from a call to a Redis that stopped
// answering only after ReadTimeout, whatever ctx's deadline.
func NewRedisSession(ctx context.Context, rdb redis.UniversalClient, opts ...RedisOption) (*RedisSession, error) {
	if rdb == nil {
		return nil, fmt.Errorf("manager: NewRedisSession: %w", ErrNilProxy)
	}
	return newRedisSession(ctx, rdb, opts)
}

func newRedisSession(ctx context.Context, rdb redis.UniversalClient, opts []RedisOption) (*RedisSession, error) {
	var o redisOptions
	for _, opt := range opts {
		if opt != nil {
			opt.applyRedis(&o)
		}
	}
	s, err := redisengine.Open(ctx, rdb, redisengine.Options{Namespace: o.namespace, Lease: o.lease})
	if err != nil {
		return nil, err
	}
	r := &RedisSession{s: s, rdb: rdb, opts: o}
	registerEngine(r)
	return r, nil
}

// Close ends the session: what it holds (locks, permits, unacknowledged
// items, its references) is released at once, its heartbeat stops, and a
// client made by ConnectRedis is closed. Named objects stay in Redis.
// Close may be called more than once.
func (r *RedisSession) Close() error {
	if r == nil {
		return nil
	}
	r.closed.Store(true)
	err := r.s.Close()
	unregisterEngine(r)
	if r.ownsRDB {
		if cerr := r.rdb.Close(); cerr != nil && err == nil && cerr != redis.ErrClosed {
			err = cerr
		}
		r.ownsRDB = false
	}
	return err
}

// Delete removes the named object name (see OpenDict and the other Open
// constructors) and reports whether it existed.
func (r *RedisSession) Delete(ctx context.Context, name string) (bool, error) {
	if r == nil {
		return false, &opError{"RedisSession.Delete", ErrNilProxy}
	}
	return r.s.Delete(ctx, name)
}

// Purge removes every object of the session's namespace, named or not,
// from Redis: the Redis engine's Shutdown. Sessions of the namespace that
// are still open find their objects gone (ErrNoSuchObject).
func (r *RedisSession) Purge(ctx context.Context) error {
	if r == nil {
		return &opError{"RedisSession.Purge", ErrNilProxy}
	}
	return redisengine.Purge(ctx, r.rdb, r.namespace())
}

func (r *RedisSession) namespace() string {
	if r.opts.namespace == "" {
		return redisengine.DefaultNamespace
	}
	return r.opts.namespace
}

// Err returns nil while the session works, then ErrClosed.
func (r *RedisSession) Err() error {
	if r.closed.Load() {
		return ErrClosed
	}
	return nil
}

// The RedisSession as an engine (see engine.go).

func (r *RedisSession) engine() engine {
	if r == nil {
		return nil
	}
	return r
}

func (r *RedisSession) serverID() [16]byte { return r.s.ServerID() }

func (r *RedisSession) newHandle() uint64 { return r.handles.Add(1) }

func (r *RedisSession) interceptor() CallFunc { return r.opts.callChain }

func (r *RedisSession) invoke(ctx context.Context, ref wire.ProxyRef, handle uint64, method string, out any, nargs int, encodeArg func(enc *msgpack.Encoder, i int) error) error {
	args, err := encodeEach(nargs, encodeArg)
	if err != nil {
		return &opError{method, err}
	}
	if err := r.checkSize(args); err != nil {
		return &opError{method, err}
	}
	res, err := r.s.Call(ctx, ref.ID, ref.TypeID, handle, method, args)
	if err != nil {
		return &opError{method, redisError(ctx, err)}
	}
	return r.decode(ctx, method, res, out)
}

// decode decodes a result into out (a pointer, or nil), taking a
// reference for this session to each object whose proxy it carries, as a
// manager counts one for the session a reply goes to.
func (r *RedisSession) decode(ctx context.Context, op string, res []byte, out any) error {
	if out == nil {
		return nil
	}
	var retainErr error
	if err := wire.Scan(res, func(p wire.ProxyRef) {
		if p.Server == r.serverID() && retainErr == nil {
			retainErr = r.s.Retain(ctx, p.ID, p.TypeID)
		}
	}); err != nil {
		return &opError{op, fmt.Errorf("%w: result: %v", ErrProtocol, err)}
	}
	if retainErr != nil {
		return &opError{op, redisError(ctx, retainErr)}
	}
	if err := checkResult(out, res); err != nil {
		return &opError{op, err}
	}
	dec := msgpack.GetDecoder()
	defer msgpack.PutDecoder(dec)
	dec.Reset(bytes.NewReader(res))
	decoderOwners.Store(dec, engine(r))
	defer decoderOwners.Delete(dec)
	if err := decodeResult(dec, out, res, server.DefaultMaxRequestSize); err != nil {
		return &opError{op, newDecodeError("result", out, res, err)}
	}
	return nil
}

func (r *RedisSession) create(ctx context.Context, name, typeid string, args []any) (*Proxy, error) {
	op := "New"
	if name != "" {
		op = "Open"
	}
	raw, err := encodeEach(len(args), func(enc *msgpack.Encoder, i int) error { return enc.Encode(args[i]) })
	if err != nil {
		return nil, &opError{op, err}
	}
	var id uint64
	if name == "" {
		id, err = r.s.New(ctx, typeid, raw)
	} else {
		id, err = r.s.Open(ctx, name, typeid, raw)
	}
	if err != nil {
		return nil, &opError{op, redisError(ctx, err)}
	}
	return &Proxy{eng: r, ref: wire.ProxyRef{Server: r.serverID(), ID: id, TypeID: typeid}, handle: r.newHandle(), ownsRef: true}, nil
}

func (r *RedisSession) release(ctx context.Context, ref wire.ProxyRef) error {
	if err := r.s.Release(ctx, ref.ID); err != nil {
		return &opError{"Proxy.Close", redisError(ctx, err)}
	}
	return nil
}

// redisError is err, an error of a call to Redis, as the caller should
// see it: a closed session is ErrClosed; a Redis that did not answer, or
// a broken connection, is ErrUnreachable — and, when ctx ended meanwhile
// (go-redis then reports only "i/o timeout"), ctx's error too.
func redisError(ctx context.Context, err error) error {
	if err == redis.ErrClosed {
		return ErrClosed
	}
	if !unreachable(err) {
		return err
	}
	if cerr := ctx.Err(); cerr != nil {
		return errs.Errorf("%w: %w (%w)", cerr, ErrUnreachable, err)
	}
	return errs.Errorf("%w (%w)", ErrUnreachable, err)
}

// unreachable reports whether err says that Redis could not be reached
// or did not answer: a network error (a timeout, a refused or reset
// connection), a connection closed under the call, or no free
// connection in go-redis's pool.
func unreachable(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return false // ctx's own error (context.DeadlineExceeded is a net.Error)
	}
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || errors.Is(err, redis.ErrPoolTimeout)
}

// checkSize refuses arguments larger than the session's limit (see
// WithRedisMaxRequestSize) before they are sent.
func (r *RedisSession) checkSize(args []msgpack.RawMessage) error {
	limit := r.opts.maxRequest
	if limit == 0 {
		limit = DefaultRedisMaxRequestSize
	}
	n := 0
	for _, a := range args {
		n += len(a)
	}
	if n > limit {
		return errs.Errorf("%w: the arguments take %d bytes, over the session's limit of %d (WithRedisMaxRequestSize; Redis itself refuses more than 512 MiB)", ErrTooLarge, n, limit)
	}
	return nil
}

var encodeBufs = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// encodeEach encodes nargs arguments with encodeArg, each on its own.
func encodeEach(nargs int, encodeArg func(enc *msgpack.Encoder, i int) error) ([]msgpack.RawMessage, error) {
	buf := encodeBufs.Get().(*bytes.Buffer)
	defer encodeBufs.Put(buf)
	buf.Reset()
	enc := msgpack.GetEncoder()
	defer msgpack.PutEncoder(enc)
	enc.Reset(buf)
	ends := make([]int, nargs)
	for i := range nargs {
		if err := encodeArg(enc, i); err != nil {
			return nil, fmt.Errorf("encode argument %d: %w", i+1, err)
		}
		ends[i] = buf.Len()
	}
	all := bytes.Clone(buf.Bytes())
	args := make([]msgpack.RawMessage, nargs)
	start := 0
	for i, end := range ends {
		args[i] = all[start:end:end]
		start = end
	}
	return args, nil
}

// Fork starts a worker process running the worker registered as name
// with RegisterWorker, with its own session on the same Redis, in the
// same namespace and with the same lease, and passes it args as
// Client.Fork does: proxies arrive bound to the worker's session, and
// SharedValue, SharedArray, SharedLock and PipeEnd arguments are
// inherited. The worker's WorkerFunc gets a nil *Client: it reaches its
// session with WorkerSession(ctx), which works on every engine. The
// process lives until the worker returns; when ctx ends it is sent
// SIGTERM and killed 5 s later if still running; it also exits when this
// process dies. When the worker is killed, what its session held is
// released once its lease expires (WithRedisLease).
//
// The worker learns how to reach Redis through an inherited pipe (never
// the command line or the environment): the URL given to ConnectRedis,
// or the address, user, password and database of a *redis.Client or
// *redis.ClusterClient given to NewRedisSession. A session on another
// kind of client (Sentinel failover, Ring), or one that uses TLS
// without a URL, cannot be described to a child: Fork returns an error
// satisfying errors.Is(err, ErrNotSupported); open the session with
// ConnectRedis and a URL instead.
func (r *RedisSession) Fork(ctx context.Context, name string, args ...any) (*Process, error) {
	if r == nil {
		return nil, &opError{"Fork", ErrNilProxy}
	}
	if err := checkFork(name); err != nil {
		return nil, err
	}
	if r.closed.Load() {
		return nil, errorf("manager: Fork(%q): %w", name, ErrClosed)
	}
	rc, err := r.workerConfig()
	if err != nil {
		return nil, fmt.Errorf("manager: Fork(%q): %w", name, err)
	}
	return startWorker(ctx, workerConfig{Worker: name, Redis: rc}, args, r.pinArgs)
}

// WorkerSession returns the session of the worker process whose
// WorkerFunc was given ctx (or a context derived from it): the worker's
// *Client on a manager, its *RedisSession when it was forked from one. It
// returns nil outside a worker. Workers that should run on either engine
// use it instead of their *Client argument.
func WorkerSession(ctx context.Context) Session {
	s, _ := ctx.Value(workerSessionKey{}).(Session)
	return s
}

type workerSessionKey struct{}

// redisWorkerConfig is how a forked worker reaches its parent's Redis:
// the URL, or the options of the parent's client.
type redisWorkerConfig struct {
	URL       string
	Addrs     []string
	Cluster   bool
	Username  string
	Password  string
	DB        int
	Namespace string
	Lease     time.Duration
}

// workerConfig describes r's Redis and options to a child, or says why
// it cannot (ErrNotSupported).
func (r *RedisSession) workerConfig() (*redisWorkerConfig, error) {
	rc := &redisWorkerConfig{URL: r.url, Namespace: r.opts.namespace, Lease: r.opts.lease}
	if rc.URL != "" {
		return rc, nil
	}
	const what = "use ConnectRedis with a URL"
	switch c := r.rdb.(type) {
	case *redis.Client:
		o := c.Options()
		if o.TLSConfig != nil || o.Addr == "FailoverClient" || o.Dialer != nil && o.Network != "tcp" && o.Network != "" {
			return nil, fmt.Errorf("%w: a worker cannot be told how to reach this go-redis client (TLS, Sentinel or a custom dialer): %s", ErrNotSupported, what)
		}
		rc.Addrs, rc.Username, rc.Password, rc.DB = []string{o.Addr}, o.Username, o.Password, o.DB
	case *redis.ClusterClient:
		o := c.Options()
		if o.TLSConfig != nil {
			return nil, fmt.Errorf("%w: a worker cannot be told how to reach a TLS cluster client: %s", ErrNotSupported, what)
		}
		rc.Addrs, rc.Username, rc.Password, rc.Cluster = o.Addrs, o.Username, o.Password, true
	default:
		return nil, fmt.Errorf("%w: a worker cannot be told how to reach a %T: %s", ErrNotSupported, r.rdb, what)
	}
	return rc, nil
}

// connect opens the worker's session described by rc.
func (rc *redisWorkerConfig) connect(ctx context.Context) (*RedisSession, error) {
	opts := []RedisOption{WithRedisNamespace(rc.Namespace), WithRedisLease(rc.Lease)}
	if rc.URL != "" {
		return ConnectRedis(ctx, rc.URL, opts...)
	}
	var rdb redis.UniversalClient
	if rc.Cluster {
		rdb = redisengine.NewClusterClient(&redis.ClusterOptions{Addrs: rc.Addrs, Username: rc.Username, Password: rc.Password})
	} else {
		rdb = redisengine.NewClient(&redis.Options{Addr: rc.Addrs[0], Username: rc.Username, Password: rc.Password, DB: rc.DB})
	}
	r, err := newRedisSession(ctx, rdb, opts)
	if err != nil {
		rdb.Close()
		return nil, err
	}
	r.ownsRDB = true
	return r, nil
}

// pinArgs references, for r's session, the objects whose proxies the
// encoded arguments carry, before they leave this process (see
// Client.pinArgs): the references last as long as this session.
func (r *RedisSession) pinArgs(ctx context.Context, args encodedArgs) error {
	for _, b := range args {
		var err error
		if serr := wire.Scan(b, func(p wire.ProxyRef) {
			if err == nil && p.Server == r.serverID() {
				err = r.s.Retain(ctx, p.ID, p.TypeID)
			}
		}); serr != nil {
			return serr
		}
		if err != nil {
			return redisError(ctx, err)
		}
	}
	return nil
}

// runRedisWorker is the rest of a worker process's main when it was
// forked from a RedisSession: it opens its own session, runs fn and
// reports its result.
func runRedisWorker(ctx context.Context, report *os.File, fn WorkerFunc, cfg *workerConfig) int {
	dctx, dcancel := context.WithTimeout(ctx, 10*time.Second)
	s, err := cfg.Redis.connect(dctx)
	dcancel()
	if err != nil {
		proc.Send(report, workerFailed(err))
		return 1
	}
	err = runWorkerFunc(ctx, fn, nil, s, cfg.Args)
	// Close releases at once what the worker still holds, as a manager
	// does when a worker's connection closes.
	s.Close()
	return reportWorker(report, err)
}
