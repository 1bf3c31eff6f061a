package manager_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"runtime/pprof"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/goproc/manager"
	"github.com/goproc/manager/internal/redistest"
)

// HookProbe is a custom type whose method shows what its ctx carries.
type HookProbe struct{}

// hookKey is the ctx key a server interceptor sets for HookProbe.
type hookKey struct{}

// Traced returns the value a server interceptor put in ctx.
func (HookProbe) Traced(ctx context.Context) string {
	s, _ := ctx.Value(hookKey{}).(string)
	return s
}

func init() {
	manager.Register[HookProbe]("HookProbe", func() HookProbe { return HookProbe{} }, manager.ConcurrentSafe())
}

// callLog is an interceptor that records what it sees.
type callLog struct {
	mu    sync.Mutex
	calls []string // "name:Type.Method"
	errs  map[string]error
}

func (l *callLog) interceptor(name string) manager.Interceptor {
	return func(next manager.CallFunc) manager.CallFunc {
		return func(ctx context.Context, ci manager.CallInfo) error {
			l.add(name + ":" + ci.TypeID + "." + ci.Method)
			err := next(ctx, ci)
			if err != nil {
				l.mu.Lock()
				l.errs[ci.TypeID+"."+ci.Method] = err
				l.mu.Unlock()
			}
			return err
		}
	}
}

func (l *callLog) add(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls = append(l.calls, s)
}

func (l *callLog) snapshot() ([]string, map[string]error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	errs := make(map[string]error, len(l.errs))
	for k, v := range l.errs {
		errs[k] = v
	}
	return append([]string(nil), l.calls...), errs
}

func TestClientInterceptors(t *testing.T) {
	engines := []struct {
		name string
		open func(t *testing.T, opts ...manager.Interceptor) manager.Session
	}{
		{"manager", func(t *testing.T, ics ...manager.Interceptor) manager.Session {
			return startManager(t, manager.WithInterceptors(ics...))
		}},
		{"redis", func(t *testing.T, ics ...manager.Interceptor) manager.Session {
			srv := redistest.Standalone(t)
			s, err := manager.ConnectRedis(testContext(t), "redis://"+srv.Addr, manager.WithRedisNamespace("hooks"), manager.WithRedisInterceptors(ics...))
			require.NoError(t, err)
			t.Cleanup(func() { s.Close() })
			return s
		}},
	}
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			ctx := testContext(t)
			log := &callLog{errs: map[string]error{}}
			// The inner interceptor gives Queue.Get a deadline of its own:
			// the call must run under the ctx it passes on.
			shorten := func(next manager.CallFunc) manager.CallFunc {
				return func(ctx context.Context, ci manager.CallInfo) error {
					if ci.TypeID == "Queue" && strings.HasPrefix(ci.Method, "Get") {
						ctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
						defer cancel()
						return next(ctx, ci)
					}
					return next(ctx, ci)
				}
			}
			s := e.open(t, log.interceptor("outer"), log.interceptor("inner"), shorten)

			d, err := manager.NewDict[string, int](ctx, s)
			require.NoError(t, err)
			require.NoError(t, d.Store(ctx, "k", 1))
			q, err := manager.NewQueue[int](ctx, s, 0)
			require.NoError(t, err)
			_, err = q.TryGet(ctx)
			require.ErrorIs(t, err, manager.ErrEmpty)
			start := time.Now()
			_, err = q.Get(ctx) // the test's ctx has 30 s; the interceptor's 100 ms
			require.ErrorIs(t, err, context.DeadlineExceeded)
			assert.Less(t, time.Since(start), 10*time.Second, "the call ran under the interceptor's deadline")

			calls, errs := log.snapshot()
			require.GreaterOrEqual(t, len(calls), 4)
			assert.Equal(t, "outer:Dict.Store", calls[0])
			assert.Equal(t, "inner:Dict.Store", calls[1], "the first interceptor given is the outermost")
			var tryGet error
			for k, err := range errs {
				if strings.HasPrefix(k, "Queue.TryGet") {
					tryGet = err
				}
			}
			require.Error(t, tryGet, "the interceptor saw the failed TryGet: %v", errs)
			assert.ErrorIs(t, tryGet, manager.ErrEmpty)
			assert.Contains(t, tryGet.Error(), "Queue.", "the error names the type, as the caller's does")
		})
	}
}

// serverLog is a server interceptor that records what it sees.
type serverLog struct {
	mu    sync.Mutex
	infos []manager.ServerCallInfo
	errs  []error
	durs  []time.Duration
}

func (l *serverLog) interceptor(next manager.ServerCallFunc) manager.ServerCallFunc {
	return func(ctx context.Context, ci manager.ServerCallInfo) error {
		start := time.Now()
		err := next(ctx, ci)
		l.mu.Lock()
		l.infos = append(l.infos, ci)
		l.errs = append(l.errs, err)
		l.durs = append(l.durs, time.Since(start))
		l.mu.Unlock()
		return err
	}
}

// find returns the first call of typeid.method and its error.
func (l *serverLog) find(typeid, method string) (manager.ServerCallInfo, error, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, ci := range l.infos {
		if ci.TypeID == typeid && ci.Method == method {
			return ci, l.errs[i], true
		}
	}
	return manager.ServerCallInfo{}, nil, false
}

func TestServerInterceptors(t *testing.T) {
	log := &serverLog{}
	var panics sync.Map // method → true: the interceptor panics on it
	panicky := func(next manager.ServerCallFunc) manager.ServerCallFunc {
		return func(ctx context.Context, ci manager.ServerCallInfo) error {
			if _, ok := panics.Load(ci.Method); ok {
				panic("interceptor bug on " + ci.Method)
			}
			if ci.Method == "Refused" {
				return errors.New("refused by policy")
			}
			return next(context.WithValue(ctx, hookKey{}, "traced:"+ci.TypeID+"."+ci.Method), ci)
		}
	}
	m := startManager(t, manager.InProcess(), manager.WithServerInterceptors(log.interceptor, panicky))

	t.Run("sees calls, sessions and errors", func(t *testing.T) {
		ctx := testContext(t)
		q, err := manager.NewQueue[int](ctx, m, 0)
		require.NoError(t, err)
		_, err = q.TryGet(ctx)
		require.ErrorIs(t, err, manager.ErrEmpty)
		st, err := m.Stats(ctx)
		require.NoError(t, err)

		ci, callErr, ok := log.find("Queue", "TryGetAs")
		if !ok {
			ci, callErr, ok = log.find("Queue", "TryGet")
		}
		require.True(t, ok, "the interceptor saw the TryGet")
		assert.ErrorIs(t, callErr, manager.ErrEmpty)
		assert.NotZero(t, ci.Object)
		assert.Equal(t, os.Getpid(), ci.Pid, "the manager's own client is this process")
		var sessions []string
		for _, s := range st.Sessions {
			sessions = append(sessions, s.ID)
		}
		assert.Contains(t, sessions, ci.Session)
		_, _, ok = log.find("", "new")
		assert.True(t, ok, "the server's own operations are seen, with Object 0")
	})

	t.Run("the method runs under the interceptor's ctx", func(t *testing.T) {
		ctx := testContext(t)
		p, err := manager.New(ctx, m, "HookProbe")
		require.NoError(t, err)
		got, err := manager.Call[string](ctx, p, "Traced")
		require.NoError(t, err)
		assert.Equal(t, "traced:HookProbe.Traced", got)
	})

	t.Run("a panicking interceptor fails the call, not the server", func(t *testing.T) {
		ctx := testContext(t)
		d, err := manager.NewDict[string, int](ctx, m)
		require.NoError(t, err)
		panics.Store("Store", true)
		err = d.Store(ctx, "k", 1)
		panics.Delete("Store")
		var re *manager.RemoteError
		require.ErrorAs(t, err, &re)
		assert.Contains(t, re.Error(), "interceptor bug on Store")
		require.NoError(t, d.Store(ctx, "k", 2), "the server goes on")
		v, ok, err := d.Load(ctx, "k")
		require.NoError(t, err)
		assert.True(t, ok)
		assert.Equal(t, 2, v, "the panicked Store never ran")
	})

	t.Run("an interceptor's own error reaches the caller", func(t *testing.T) {
		ctx := testContext(t)
		p, err := manager.New(ctx, m, "HookProbe")
		require.NoError(t, err)
		_, err = manager.Call[string](ctx, p, "Refused") // refused before the method is looked up
		var re *manager.RemoteError
		require.ErrorAs(t, err, &re)
		assert.Contains(t, re.Error(), "refused by policy")
	})
}

func TestServerInterceptorWatchingCtxFirst(t *testing.T) {
	ctx := testContext(t)
	early := func(next manager.ServerCallFunc) manager.ServerCallFunc {
		return func(ctx context.Context, ci manager.ServerCallInfo) error {
			if ci.Method != "Load" {
				return next(ctx, ci)
			}
			ctx, cancel := context.WithCancel(ctx) // watches ctx.Done: not allowed before next
			defer cancel()
			return next(ctx, ci)
		}
	}
	m := startManager(t, manager.InProcess(), manager.WithServerInterceptors(early))
	d, err := manager.NewDict[string, int](ctx, m)
	require.NoError(t, err)
	require.NoError(t, d.Store(ctx, "k", 1))
	_, _, err = d.Load(ctx, "k")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "watched ctx.Done before calling next")
	n, err := d.Len(ctx)
	require.NoError(t, err, "the connection goes on")
	assert.Equal(t, 1, n)
}

func TestStartRefusesServerInterceptorsForAManagerProcess(t *testing.T) {
	nop := func(next manager.ServerCallFunc) manager.ServerCallFunc { return next }
	m, err := manager.Start(testContext(t), manager.WithServerInterceptors(nop))
	if m != nil {
		m.Close()
	}
	require.ErrorIs(t, err, manager.ErrNotSupported)
	assert.Contains(t, err.Error(), "InProcess")
}

func TestPprofLabels(t *testing.T) {
	ctx := testContext(t)
	m := startManager(t, manager.InProcess(), manager.WithPprofLabels())
	ev, err := manager.NewEvent(ctx, m)
	require.NoError(t, err)
	waited := make(chan error, 1)
	go func() { waited <- ev.Wait(ctx) }()
	// The goroutine blocked in Event.Wait carries the call's labels.
	waitUntil(t, 20*time.Second, "a goroutine labelled with Event.Wait", func() bool {
		var b bytes.Buffer
		require.NoError(t, pprof.Lookup("goroutine").WriteTo(&b, 1))
		return strings.Contains(b.String(), `"manager.method":"Wait"`) && strings.Contains(b.String(), `"manager.type":"Event"`)
	})
	require.NoError(t, ev.Set(ctx))
	require.NoError(t, <-waited)
}

func TestMonitor(t *testing.T) {
	ctx := testContext(t)
	m := startManager(t)
	watcher, err := manager.Connect(ctx, m.Addr().Network(), m.Addr().String(), m.AuthKey())
	require.NoError(t, err)
	defer watcher.Close()
	mon, err := watcher.Monitor(ctx, manager.MonitorOptions{Args: true})
	require.NoError(t, err)
	defer mon.Close()
	// A second monitor that never reads: it must not slow the calls.
	idle, err := watcher.Monitor(ctx, manager.MonitorOptions{})
	require.NoError(t, err)
	defer idle.Close()

	d, err := manager.NewDict[string, int](ctx, m)
	require.NoError(t, err)
	require.NoError(t, d.Store(ctx, "monitored", 7))
	q, err := manager.NewQueue[int](ctx, m, 0)
	require.NoError(t, err)
	_, err = q.TryGet(ctx)
	require.ErrorIs(t, err, manager.ErrEmpty)

	var store, tryGet *manager.MonitorEvent
	for store == nil || tryGet == nil {
		events, _, err := mon.Next(ctx)
		require.NoError(t, err)
		for i, e := range events {
			switch {
			case e.TypeID == "Dict" && e.Method == "Store":
				store = &events[i]
			case e.TypeID == "Queue" && strings.HasPrefix(e.Method, "TryGet"):
				tryGet = &events[i]
			}
		}
	}
	assert.Equal(t, os.Getpid(), store.Pid, "the manager's own session is this process")
	assert.Contains(t, store.Args, `"monitored"`)
	assert.Contains(t, store.Args, "7")
	assert.Empty(t, store.Code)
	assert.False(t, store.Time.IsZero())
	assert.Equal(t, "empty", tryGet.Code)

	// The idle monitor's buffer (4096 events) overflows; every call
	// still goes through.
	const calls = 4200
	for i := range calls {
		require.NoError(t, d.Store(ctx, "k", i))
	}
	events, dropped, err := idle.Next(ctx)
	require.NoError(t, err)
	assert.Len(t, events, 1024, "one batch")
	assert.GreaterOrEqual(t, dropped, uint64(calls+4-4096), "the calls that did not fit were counted")
}

func TestMonitorEndsWithItsSession(t *testing.T) {
	ctx := testContext(t)
	m := startManager(t, manager.InProcess())
	c, err := manager.Connect(ctx, m.Addr().Network(), m.Addr().String(), m.AuthKey())
	require.NoError(t, err)
	mon, err := c.Monitor(ctx, manager.MonitorOptions{})
	require.NoError(t, err)
	waiting := make(chan error, 1)
	go func() { _, _, err := mon.Next(ctx); waiting <- err }()
	require.NoError(t, c.Close())
	err = <-waiting
	require.Error(t, err, "a waiting Next ends with its session")
	// The monitor of the closed session is detached once the manager
	// has seen the session end: 16 more can be attached.
	var mons []*manager.Monitor
	waitUntil(t, 20*time.Second, "16 monitors attached", func() bool {
		mon, err := m.Monitor(ctx, manager.MonitorOptions{})
		if errors.Is(err, manager.ErrBusy) {
			return false
		}
		require.NoError(t, err)
		mons = append(mons, mon)
		return len(mons) == 16
	})
	_, err = m.Monitor(ctx, manager.MonitorOptions{})
	require.ErrorIs(t, err, manager.ErrBusy, "the 17th")
	for _, mon := range mons {
		require.NoError(t, mon.Close())
	}
	mon, err = m.Monitor(ctx, manager.MonitorOptions{})
	require.NoError(t, err, "Close detached them")
	require.NoError(t, mon.Close())
}
