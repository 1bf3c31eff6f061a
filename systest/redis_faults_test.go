package systest

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/goproc/manager"
	"github.com/goproc/manager/internal/redistest"
)

// TestRedisRestart SIGKILLs the standalone redis-server (AOF, appendfsync
// always) under a writer that retries each Store until it is
// acknowledged, and starts it again: while Redis is down the writer sees
// ErrUnreachable (never a wrong result), and afterwards every
// acknowledged write is there.
func TestRedisRestart(t *testing.T) {
	ctx := longContext(t, time.Minute)
	srv := redistest.Standalone(t)
	s, err := manager.ConnectRedis(ctx, "redis://"+srv.Addr, manager.WithRedisNamespace("restart"), manager.WithRedisLease(5*time.Second))
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	d, err := manager.NewDict[int, int](ctx, s)
	require.NoError(t, err)

	var (
		mu      sync.Mutex // guards acked and errs
		acked   []int
		errs    []error
		stop    = make(chan struct{})
		stopped = make(chan struct{})
	)
	count := func() (int, int) {
		mu.Lock()
		defer mu.Unlock()
		return len(acked), len(errs)
	}
	go func() {
		defer close(stopped)
		for i := 0; ; i++ {
			for {
				select {
				case <-stop:
					return
				default:
				}
				err := d.Store(ctx, i, i*i)
				mu.Lock()
				if err == nil {
					acked = append(acked, i)
				} else {
					errs = append(errs, err)
				}
				mu.Unlock()
				if err == nil {
					break
				}
				if ctx.Err() != nil {
					return
				}
			}
		}
	}()
	stopWriter := sync.OnceFunc(func() { close(stop); <-stopped })
	defer stopWriter()

	waitUntil(t, 20*time.Second, "100 writes acknowledged", func() bool { n, _ := count(); return n >= 100 })
	srv.Kill(t)
	waitUntil(t, 20*time.Second, "the writer sees Redis gone", func() bool { _, e := count(); return e > 0 })
	before, _ := count()
	srv.Restart(t)
	waitUntil(t, 30*time.Second, "100 more writes acknowledged after the restart", func() bool { n, _ := count(); return n >= before+100 })
	stopWriter()

	mu.Lock()
	defer mu.Unlock()
	for _, err := range errs {
		require.ErrorIs(t, err, manager.ErrUnreachable, "an error while Redis was down says it was unreachable")
	}
	t.Logf("%d writes acknowledged, %d failed while Redis was down (first: %v)", len(acked), len(errs), errs[0])
	got, err := d.Copy(ctx)
	require.NoError(t, err)
	for _, i := range acked {
		v, ok := got[i]
		if !assert.True(t, ok, "acknowledged write %d was lost", i) {
			break
		}
		assert.Equal(t, i*i, v)
	}
}

// TestRedisLinearizable is TestLinearizable on Redis, standalone and
// Cluster: worker processes forked from a RedisSession run random
// operations on a Value, a Dict and a Queue while some are SIGKILLed, and
// porcupine checks each object's history. A victim's fence lock is taken
// over once its lease has expired, long after every command it had sent
// has run (Redis runs what a connection carried before it reads its end).
func TestRedisLinearizable(t *testing.T) {
	urls := map[string]func(t *testing.T) string{
		"redis": func(t *testing.T) string { return "redis://" + redistest.Standalone(t).Addr },
		"redis-cluster": func(t *testing.T) string {
			addrs := redistest.NewCluster(t).Addrs()
			return "redis://" + addrs[0] + "?addr=" + strings.Join(addrs[1:], "&addr=")
		},
	}
	for _, name := range []string{"redis", "redis-cluster"} {
		t.Run(name, func(t *testing.T) {
			ctx := longContext(t, 2*time.Minute)
			s, err := manager.ConnectRedis(ctx, urls[name](t), manager.WithRedisNamespace("lin"), manager.WithRedisLease(time.Second))
			require.NoError(t, err)
			t.Cleanup(func() { s.Close() })
			cfg := linearizabilityConfig{workers: 4, ops: 150, kills: 3}
			if testing.Short() {
				cfg.ops = 60
			}
			checkLinearizableOn(ctx, t, s, s.Fork, cfg)
		})
	}
}
