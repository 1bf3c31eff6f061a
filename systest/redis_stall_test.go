package systest

import (
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/goproc/manager"
	"github.com/goproc/manager/internal/redistest"
	"github.com/goproc/manager/internal/testkit"
)

// TestRedisStalled: when Redis stops answering, a call returns at its
// context's deadline (not go-redis's ReadTimeout, times its retries),
// with an error that says both (ErrUnreachable and the context's); and
// a call whose reply was lost is never run twice (go-redis retries a
// command whose reply timed out: a Dict.Add would add twice).
func TestRedisStalled(t *testing.T) {
	t.Run("deadline", func(t *testing.T) {
		ctx := longContext(t, time.Minute)
		srv := redistest.Standalone(t)
		s, err := manager.ConnectRedis(ctx, "redis://"+srv.Addr, manager.WithRedisNamespace("stall"))
		require.NoError(t, err)
		t.Cleanup(func() { s.Close() })
		d, err := manager.NewDict[string, int](ctx, s)
		require.NoError(t, err)
		require.NoError(t, d.Store(ctx, "k", 1))

		resume := testkit.Stop(t, srv.Pid())
		cctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		defer cancel()
		deadline, _ := cctx.Deadline()
		_, _, err = d.Load(cctx, "k")
		late := time.Since(deadline)
		resume()
		require.ErrorIs(t, err, context.DeadlineExceeded)
		require.ErrorIs(t, err, manager.ErrUnreachable)
		t.Logf("returned %v after the deadline: %v", late, err)
		assert.Less(t, late, time.Second, "go-redis's ReadTimeout is 3 s")

		v, ok, err := d.Load(ctx, "k")
		require.NoError(t, err, "the session works once Redis answers")
		assert.True(t, ok)
		assert.Equal(t, 1, v)
	})
	t.Run("lost reply runs once", func(t *testing.T) {
		ctx := longContext(t, time.Minute)
		srv := redistest.Standalone(t)
		// A short ReadTimeout, so that the reply is lost quickly.
		s, err := manager.ConnectRedis(ctx, "redis://"+srv.Addr+"?read_timeout=200ms", manager.WithRedisNamespace("stall"))
		require.NoError(t, err)
		t.Cleanup(func() { s.Close() })
		d, err := manager.NewDict[string, int](ctx, s)
		require.NoError(t, err)

		before := redisConns(t, srv.Addr)
		resume := testkit.Stop(t, srv.Pid())
		added := make(chan error, 1)
		go func() {
			_, err := d.Add(ctx, "k", 1)
			added <- err
		}()
		// Redis goes on while a retry would be in flight: when the call
		// has failed, or when this process has dialed Redis again (as
		// go-redis does to retry a command whose reply timed out).
		var err1 error
		waitUntil(t, 30*time.Second, "the Add failed or was retried", func() bool {
			select {
			case err1 = <-added:
				return true
			default:
				return len(newConns(redisConns(t, srv.Addr), before)) > 0
			}
		})
		resume()
		if err1 == nil {
			err1 = <-added
		}
		// The script may run now that Redis reads its socket again, or
		// not at all: at most once.
		v, _, err := d.Load(ctx, "k")
		require.NoError(t, err)
		assert.LessOrEqual(t, v, 1, "Dict.Add ran %d times", v)
		require.ErrorIs(t, err1, manager.ErrUnreachable, "the caller is told the reply was lost")
		assert.NotErrorIs(t, err1, context.DeadlineExceeded, "ctx did not end")
	})
}

// TestRedisStalledWaiter: a Get blocked on an empty queue whose deadline
// passes while Redis is stopped returns as soon as Redis answers again
// (its wake-up signal, pushed when ctx ended, is pushed again until it
// is in); and, while Redis stays stopped, within about two leases, with
// ErrUnreachable: its BLPOP used to wait with no bound, for ever.
func TestRedisStalledWaiter(t *testing.T) {
	// blocked starts a Get on an empty queue with a 300 ms deadline on a
	// new session, and returns its result's channel once it waits.
	blocked := func(t *testing.T, srv *redistest.Server, lease time.Duration) (context.Context, <-chan error) {
		ctx := longContext(t, time.Minute)
		s, err := manager.ConnectRedis(ctx, "redis://"+srv.Addr+"?read_timeout=200ms", manager.WithRedisNamespace("stallw"), manager.WithRedisLease(lease))
		require.NoError(t, err)
		t.Cleanup(func() { s.Close() })
		q, err := manager.OpenQueue[int](ctx, s, "q", 0)
		require.NoError(t, err)
		gctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		t.Cleanup(cancel)
		got := make(chan error, 1)
		go func() {
			_, err := q.Get(gctx)
			got <- err
		}()
		waitUntil(t, 20*time.Second, "the Get is blocked", func() bool {
			info, err := s.Inspect(ctx, "q")
			require.NoError(t, err)
			return len(info.Getters) == 1
		})
		return gctx, got
	}
	t.Run("resumed", func(t *testing.T) {
		srv := redistest.Standalone(t)
		// A long lease, so that the wait's own bound (a lease) is far off.
		gctx, got := blocked(t, srv, 20*time.Second)
		before := redisConns(t, srv.Addr)
		resume := testkit.Stop(t, srv.Pid())
		<-gctx.Done()
		// The signal's first push fails (its connection is dropped); wait
		// until it is sent again, on a new connection.
		waitUntil(t, 20*time.Second, "the signal sent again", func() bool {
			return len(newConns(redisConns(t, srv.Addr), before)) > 0
		})
		resume()
		resumed := time.Now()
		select {
		case err := <-got:
			require.ErrorIs(t, err, context.DeadlineExceeded)
			t.Logf("returned %v after Redis went on: %v", time.Since(resumed), err)
		case <-time.After(10 * time.Second):
			t.Fatal("the Get still waits 10 s after Redis went on (its wait's own bound is a lease, 20 s)")
		}
	})
	t.Run("stopped for good", func(t *testing.T) {
		srv := redistest.Standalone(t)
		_, got := blocked(t, srv, time.Second)
		testkit.Stop(t, srv.Pid())
		start := time.Now()
		select {
		case err := <-got:
			require.ErrorIs(t, err, context.DeadlineExceeded)
			require.ErrorIs(t, err, manager.ErrUnreachable)
			t.Logf("returned %v after Redis stopped: %v", time.Since(start), err)
		case <-time.After(20 * time.Second):
			t.Fatal("the Get still waits 20 s after Redis stopped (its bound: a lease and 2 s for the BLPOP, a lease for the withdrawal)")
		}
	})
}

// TestRedisTooLarge: a call whose arguments pass the session's limit is
// refused before anything is sent (Redis itself would take the whole
// value, then drop the connection), singly and in a Batch, and the
// session goes on.
func TestRedisTooLarge(t *testing.T) {
	ctx := longContext(t, time.Minute)
	srv := redistest.Standalone(t)
	s, err := manager.ConnectRedis(ctx, "redis://"+srv.Addr, manager.WithRedisNamespace("large"), manager.WithRedisMaxRequestSize(1<<10))
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	d, err := manager.NewDict[string, string](ctx, s)
	require.NoError(t, err)

	err = d.Store(ctx, "big", strings.Repeat("x", 2<<10))
	require.ErrorIs(t, err, manager.ErrTooLarge)
	assert.Contains(t, err.Error(), "WithRedisMaxRequestSize")

	b := manager.NewBatch(s)
	big := manager.BatchStore(b, d, "big", strings.Repeat("x", 2<<10))
	small := manager.BatchStore(b, d, "small", "y")
	require.NoError(t, b.Flush(ctx))
	_, err = big.Get()
	require.ErrorIs(t, err, manager.ErrTooLarge)
	_, err = small.Get()
	require.NoError(t, err)

	require.NoError(t, d.Store(ctx, "ok", strings.Repeat("x", 512)))
	n, err := d.Len(ctx)
	require.NoError(t, err)
	assert.Equal(t, 2, n, "small and ok stored, big not")
}

// redisConns returns the local ports of this process's TCP connections
// to addr (from /proc/net/tcp: the process's network namespace; the
// test's own connections are the only ones to this server).
func redisConns(t testing.TB, addr string) map[string]bool {
	t.Helper()
	_, port, err := net.SplitHostPort(addr)
	require.NoError(t, err)
	p, err := strconv.Atoi(port)
	require.NoError(t, err)
	remote := fmt.Sprintf(":%04X", p)
	b, err := os.ReadFile("/proc/net/tcp")
	require.NoError(t, err)
	out := map[string]bool{}
	for _, line := range strings.Split(string(b), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) > 3 && strings.HasSuffix(f[2], remote) && f[3] == "01" { // ESTABLISHED
			out[f[1]] = true
		}
	}
	return out
}

// newConns returns the connections in now that were not in before.
func newConns(now, before map[string]bool) []string {
	var out []string
	for c := range now {
		if !before[c] {
			out = append(out, c)
		}
	}
	return out
}
