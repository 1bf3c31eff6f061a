package redisengine

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"
	"go.uber.org/goleak"

	"github.com/goproc/manager/internal/redistest"
)

func TestMain(m *testing.M) {
	if role := os.Getenv(roleEnv); role != "" {
		os.Exit(runRole(role))
	}
	// go-redis redials a server it lost from a goroutine that sleeps a
	// second between attempts and ends once it dials or its pool closes:
	// after TestRestart one may still be asleep when the tests end.
	goleak.VerifyTestMain(m, goleak.IgnoreAnyFunction("github.com/redis/go-redis/v9/internal/pool.(*ConnPool).tryDial"))
}

// A server is one kind of Redis the suite runs on.
type server struct {
	name string
	rdb  redis.UniversalClient
	addr []string
}

// servers starts a standalone Redis and a three-master cluster for t;
// with -short, the standalone one only: forming a cluster costs seconds
// per test, and every script already runs on the standalone server.
func servers(t *testing.T) []server {
	t.Helper()
	st := redistest.Standalone(t)
	srvs := []server{{"standalone", st.Client(t), []string{st.Addr}}}
	if testing.Short() {
		return srvs
	}
	cl := redistest.NewCluster(t)
	return append(srvs, server{"cluster", cl.Client(t), cl.Addrs()})
}

// env is one subtest's namespace on one server.
type env struct {
	t   *testing.T
	srv server
	ns  string
}

// suiteTimeout bounds each subtest.
const suiteTimeout = 60 * time.Second

// runSuite runs each case against each server, each in a fresh
// namespace purged at the end. With -short, the long cases are left out
// (they run in the full run only) and only the standalone server is used.
func runSuite(t *testing.T, cases []suiteCase) {
	if testing.Short() {
		cases = slices.DeleteFunc(slices.Clone(cases), func(tc suiteCase) bool { return tc.long })
	}
	for _, srv := range servers(t) {
		t.Run(srv.name, func(t *testing.T) {
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					var b [6]byte
					rand.Read(b[:])
					e := &env{t: t, srv: srv, ns: "test-" + hex.EncodeToString(b[:])}
					t.Cleanup(func() {
						ctx, cancel := context.WithTimeout(context.Background(), suiteTimeout)
						defer cancel()
						Purge(ctx, srv.rdb, e.ns)
					})
					tc.fn(e)
				})
			}
		})
	}
}

type suiteCase struct {
	name string
	fn   func(e *env)
	// long marks a case that waits for seconds (a SIGKILLed process's
	// lease to expire, a grace period): left out with -short.
	long bool
}

// ctx returns a context bounded by the subtest's deadline.
func (e *env) ctx() context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), suiteTimeout)
	e.t.Cleanup(cancel)
	return ctx
}

// liveLease is the lease of the sessions a test keeps alive beside one
// that dies with a short lease: long, so that a heartbeat delayed on a
// loaded machine never lets a live session lapse (and its unnamed
// objects be swept) in the middle of a test.
const liveLease = 30 * time.Second

// session opens a session in e's namespace with lease, closed at the end.
func (e *env) session(lease time.Duration) *Session {
	e.t.Helper()
	s, err := Open(e.ctx(), e.srv.rdb, Options{Namespace: e.ns, Lease: lease})
	require.NoError(e.t, err)
	e.t.Cleanup(func() { s.Close() })
	return s
}

// enc encodes each value with msgpack, as a typed proxy does.
func enc(t testing.TB, vs ...any) []msgpack.RawMessage {
	t.Helper()
	out := make([]msgpack.RawMessage, len(vs))
	for i, v := range vs {
		b, err := msgpack.Marshal(v)
		require.NoError(t, err)
		out[i] = b
	}
	return out
}

// mp returns the msgpack encoding of v: what the manager sends for a
// result v.
func mp(t testing.TB, v any) []byte {
	t.Helper()
	b, err := msgpack.Marshal(v)
	require.NoError(t, err)
	return b
}

// obj is an object of one session, for calls in tests.
type obj struct {
	t      testing.TB
	s      *Session
	id     uint64
	typeid string
	handle uint64
}

func (e *env) newObj(s *Session, typeid string, args ...any) *obj {
	e.t.Helper()
	id, err := s.New(e.ctx(), typeid, enc(e.t, args...))
	require.NoError(e.t, err)
	return &obj{t: e.t, s: s, id: id, typeid: typeid, handle: 1}
}

// as returns the same object seen through session s (with a reference).
func (o *obj) as(s *Session, handle uint64) *obj {
	o.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), suiteTimeout)
	defer cancel()
	require.NoError(o.t, s.Retain(ctx, o.id, o.typeid))
	return &obj{t: o.t, s: s, id: o.id, typeid: o.typeid, handle: handle}
}

// call calls method with args encoded, and returns the raw result.
func (o *obj) call(ctx context.Context, method string, args ...any) ([]byte, error) {
	return o.s.Call(ctx, o.id, o.typeid, o.handle, method, enc(o.t, args...))
}

// must calls method and requires success.
func (o *obj) must(method string, args ...any) []byte {
	o.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), suiteTimeout)
	defer cancel()
	r, err := o.call(ctx, method, args...)
	require.NoError(o.t, err, "%s.%s", o.typeid, method)
	return r
}
