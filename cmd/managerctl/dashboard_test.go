package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/goproc/manager"
	"github.com/goproc/manager/internal/testkit"
)

func TestMain(m *testing.M) {
	manager.Init()
	// Under -race every process sleeps 1 s at exit so that late race
	// reports can print; the manager processes we start need not.
	if os.Getenv("GORACE") == "" {
		os.Setenv("GORACE", "atexit_sleep_ms=0")
	}
	goleak.VerifyTestMain(m)
}

func init() {
	// dashboard.hold takes the lock named by its first argument, signals
	// ready, and holds the lock until an item arrives in the queue. It
	// runs on a manager and on Redis (where its *Client is nil).
	manager.RegisterWorker("dashboard.hold", func(ctx context.Context, _ *manager.Client, args manager.Args) error {
		var name string
		var ready *manager.Event
		var release *manager.Queue[int]
		if err := args.Decode(&name, &ready, &release); err != nil {
			return err
		}
		l, err := manager.OpenLock(ctx, manager.WorkerSession(ctx), name)
		if err != nil {
			return err
		}
		if err := l.Acquire(ctx); err != nil {
			return err
		}
		if err := ready.Set(ctx); err != nil {
			return err
		}
		_, err = release.Get(ctx)
		return err
	})
}

// testTimeout bounds every test: a bug fails it instead of hanging CI.
const testTimeout = 60 * time.Second

func testContext(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

// startManager starts a manager process and shuts it down when the test
// ends (the one of internal/testkit the other suites use).
var startManager = testkit.StartManager

// scene is a manager with a worker holding a lock, a queue with items in
// it and named objects, as a user debugging a hang would find it.
type scene struct {
	m       *manager.Manager
	holder  int // the pid of the worker holding "dash.lock"
	objects []string
}

func newScene(t testing.TB) scene {
	t.Helper()
	ctx := testContext(t)
	m := startManager(t)
	d, err := manager.OpenDict[string, int](ctx, m, "dash.dict")
	require.NoError(t, err)
	require.NoError(t, d.Store(ctx, "answer", 42))
	q, err := manager.OpenQueue[string](ctx, m, "dash.q", 0)
	require.NoError(t, err)
	require.NoError(t, q.Put(ctx, "one"))
	require.NoError(t, q.Put(ctx, "two"))
	// A name that is HTML: the page must show it as text.
	_, err = manager.OpenList[int](ctx, m, "<b>dash.list</b>")
	require.NoError(t, err)
	ready, err := manager.NewEvent(ctx, m)
	require.NoError(t, err)
	release, err := manager.OpenQueue[int](ctx, m, "dash.release", 0)
	require.NoError(t, err)
	holder := forkHolder(t, m.Fork, "dash.lock", ready, release)
	return scene{m: m, holder: holder, objects: []string{"dash.dict", "dash.q", "dash.lock", "dash.release", "<b>dash.list</b>"}}
}

// forkHolder forks a dashboard.hold worker with fork (a Manager's or a
// RedisSession's Fork), waits until it holds the lock lock, and returns
// its pid; it lets the lock go and is waited for when the test ends.
func forkHolder(t testing.TB, fork func(context.Context, string, ...any) (*manager.Process, error),
	lock string, ready *manager.Event, release *manager.Queue[int]) int {
	t.Helper()
	ctx := testContext(t)
	// The worker lives as long as the test (Fork's ctx is its lifetime),
	// which may be longer than testTimeout in the browser test.
	life, end := context.WithCancel(context.Background())
	t.Cleanup(end)
	p, err := fork(life, "dashboard.hold", lock, ready, release)
	require.NoError(t, err)
	require.NoError(t, ready.Wait(ctx))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		assert.NoError(t, release.Put(ctx, 1))
		select {
		case <-p.Done():
			assert.NoError(t, p.Wait())
		case <-ctx.Done():
			p.Signal(os.Kill)
			<-p.Done()
			t.Error("the lock holder did not exit")
		}
	})
	return p.Pid()
}

// notifyWriter is the dashboard's output: it keeps what was written and
// tells waiters that something was.
type notifyWriter struct {
	mu    sync.Mutex // guards buf
	buf   bytes.Buffer
	wrote chan struct{} // one pending notification is enough
}

func (w *notifyWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	select {
	case w.wrote <- struct{}{}:
	default:
	}
	return w.buf.Write(p)
}

func (w *notifyWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// running is a dashboard served by run, as `managerctl dashboard` would.
type running struct {
	url string // http://127.0.0.1:PORT/
	out *notifyWriter
}

var listenLine = regexp.MustCompile(`on (http://127\.0\.0\.1:\d+/)`)

// startDashboard runs `managerctl -addr ADDR dashboard -listen
// 127.0.0.1:0 args...` in this process with the manager's key in
// MANAGER_AUTHKEY, and stops it when the test ends.
func startDashboard(t testing.TB, addr string, key []byte, args ...string) running {
	t.Helper()
	getenv := func(name string) string {
		if name == "MANAGER_AUTHKEY" {
			return "hex:" + hex.EncodeToString(key)
		}
		return ""
	}
	return startDashboardWith(t, getenv, append([]string{"-addr", addr, "dashboard", "-listen", "127.0.0.1:0"}, args...)...)
}

// startDashboardWith runs managerctl with args (which run its dashboard
// on 127.0.0.1:0) and the environment getenv.
func startDashboardWith(t testing.TB, getenv func(string) string, args ...string) running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out := &notifyWriter{wrote: make(chan struct{}, 1)}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, args, out, getenv)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			assert.NoError(t, err)
		case <-time.After(15 * time.Second):
			t.Error("the dashboard did not stop")
		}
	})
	wait := testContext(t)
	for {
		if m := listenLine.FindStringSubmatch(out.String()); m != nil {
			return running{url: m[1], out: out}
		}
		select {
		case <-out.wrote:
		case err := <-done:
			require.NoError(t, err)
			require.Fail(t, "the dashboard stopped before listening", out.String())
		case <-wait.Done():
			require.Fail(t, "the dashboard never said where it listens", out.String())
		}
	}
}

// httpClient keeps no idle connections, which goleak would count.
var httpClient = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}

// httpGet fetches url and returns its response and body.
func httpGet(ctx context.Context, t testing.TB, url string, header ...string) (*http.Response, string) {
	t.Helper()
	return httpDo(ctx, t, http.MethodGet, url, header...)
}

// httpDo sends a request with header (name, value pairs; "Host" sets the
// Host header).
func httpDo(ctx context.Context, t testing.TB, method, url string, header ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, method, url, nil)
	require.NoError(t, err)
	for i := 0; i+1 < len(header); i += 2 {
		if header[i] == "Host" {
			req.Host = header[i+1]
		} else {
			req.Header.Set(header[i], header[i+1])
		}
	}
	resp, err := httpClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, string(body)
}

// state fetches /api/state.
func (d running) state(ctx context.Context, t testing.TB) view {
	t.Helper()
	resp, body := httpGet(ctx, t, d.url+"api/state")
	require.Equal(t, http.StatusOK, resp.StatusCode, body)
	var v view
	require.NoError(t, json.Unmarshal([]byte(body), &v), body)
	return v
}

// waitState polls /api/state until cond holds, bounded by ctx, and
// returns the state that satisfied it.
func (d running) waitState(ctx context.Context, t testing.TB, what string, cond func(view) bool) view {
	t.Helper()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		v := d.state(ctx, t)
		if cond(v) {
			return v
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			require.Failf(t, "the dashboard never showed "+what, "last state: %+v", v)
		}
	}
}

// tableOf returns the table with id.
func tableOf(t testing.TB, v view, id string) table {
	t.Helper()
	i := slices.IndexFunc(v.Tables, func(tb table) bool { return tb.ID == id })
	require.GreaterOrEqual(t, i, 0, "no table %q", id)
	return v.Tables[i]
}

// row returns the row of tb whose first cell is first, as column → cell.
func row(t testing.TB, tb table, first string) map[string]string {
	t.Helper()
	for _, r := range tb.Rows {
		if r[0] == first {
			m := map[string]string{}
			for i, c := range tb.Columns {
				m[c] = r[i]
			}
			return m
		}
	}
	require.Failf(t, "no row", "table %s has no row %q: %v", tb.ID, first, tb.Rows)
	return nil
}

func TestDashboard(t *testing.T) {
	sc := newScene(t)
	d := startDashboard(t, sc.m.Addr().String(), sc.m.AuthKey(), "-interval", "100ms")
	pid := strconv.Itoa(sc.holder)

	t.Run("JSON", func(t *testing.T) {
		ctx := testContext(t)
		v := d.state(ctx, t)
		assert.True(t, v.OK, v.Status)
		assert.Contains(t, v.Status, "live: manager pid "+strconv.Itoa(sc.m.Pid()))
		assert.Equal(t, pid+"×1", strings.Fields(row(t, tableOf(t, v, "locks"), "dash.lock")["HELD BY (PID×LEVELS FOR)"])[0])
		q := row(t, tableOf(t, v, "queues"), "dash.q")
		assert.Equal(t, "2", q["LEN"])
		assert.Equal(t, "Queue", q["TYPE"])
		for _, name := range sc.objects {
			row(t, tableOf(t, v, "named"), name)
		}
		row(t, tableOf(t, v, "sessions"), pid)
		row(t, tableOf(t, v, "sessions"), strconv.Itoa(os.Getpid()))
		assert.Equal(t, "1", row(t, tableOf(t, v, "types"), "Lock")["LIVE"])
	})
	t.Run("a blocked getter", func(t *testing.T) {
		ctx := testContext(t)
		// The holder's Get on dash.release reaches the manager some time
		// after it said it holds the lock.
		d.waitState(ctx, t, "the holder blocked on dash.release", func(v view) bool {
			for _, r := range tableOf(t, v, "queues").Rows {
				if r[0] == "dash.release" && r[3] == pid {
					return true
				}
			}
			return false
		})
	})
	t.Run("HTML", func(t *testing.T) {
		ctx := testContext(t)
		resp, body := httpGet(ctx, t, d.url)
		require.Equal(t, http.StatusOK, resp.StatusCode)
		assert.Equal(t, "text/html; charset=utf-8", resp.Header.Get("Content-Type"))
		assert.Contains(t, resp.Header.Get("Content-Security-Policy"), "script-src 'self'")
		assert.Contains(t, body, `<td>`+pid+`×1 `)
		assert.Contains(t, body, `<td>dash.q</td><td>Queue</td><td>2</td>`)
		for _, name := range []string{"dash.dict", "dash.lock", "dash.release"} {
			assert.Contains(t, body, "<td>"+name+"</td>")
		}
		assert.Contains(t, body, "<td>&lt;b&gt;dash.list&lt;/b&gt;</td>")
		assert.NotContains(t, body, "<b>dash.list</b>")
		assert.Contains(t, body, `<script src="static/dashboard.js" defer></script>`)
	})
	t.Run("assets", func(t *testing.T) {
		ctx := testContext(t)
		for _, tt := range []struct{ path, wantType string }{
			{"static/dashboard.js", "text/javascript; charset=utf-8"},
			{"static/dashboard.css", "text/css; charset=utf-8"},
		} {
			resp, body := httpGet(ctx, t, d.url+tt.path)
			require.Equal(t, http.StatusOK, resp.StatusCode, tt.path)
			assert.Equal(t, tt.wantType, resp.Header.Get("Content-Type"), tt.path)
			assert.NotEmpty(t, body)
		}
		resp, _ := httpGet(ctx, t, d.url+"nothing")
		assert.Equal(t, http.StatusNotFound, resp.StatusCode)
	})
	t.Run("calls per second", func(t *testing.T) {
		ctx := testContext(t)
		dict, err := manager.OpenDict[string, int](ctx, sc.m, "dash.dict")
		require.NoError(t, err)
		defer dict.Close()
		// Calls spread over several samples, until one shows a rate.
		v := d.waitState(ctx, t, "a non-zero rate", func(v view) bool {
			for i := range 20 {
				require.NoError(t, dict.Store(ctx, "k", i))
			}
			return maxRate(t, v.Plot) > 0
		})
		assert.Regexp(t, `^\d+(\.\d)? calls/s$`, v.Plot.Last)
		assert.Regexp(t, `^\d+ calls/s$`, v.Plot.Max)
		assert.Equal(t, "10m0s", v.Plot.Span)
	})
	t.Run("no key anywhere", func(t *testing.T) {
		ctx := testContext(t)
		key := sc.m.AuthKey()
		_, page := httpGet(ctx, t, d.url)
		_, state := httpGet(ctx, t, d.url+"api/state")
		for what, text := range map[string]string{"page": page, "state": state, "output": d.out.String()} {
			assert.NotContains(t, text, hex.EncodeToString(key), what)
			assert.NotContains(t, strings.ToLower(text), hex.EncodeToString(key)[:16], what)
			assert.False(t, bytes.Contains([]byte(text), key), what)
		}
	})
}

// maxRate returns the highest rate drawn in p's calls path: the height of
// its highest point in calls/s.
func maxRate(t testing.TB, p plot) float64 {
	t.Helper()
	top, err := strconv.ParseFloat(strings.Fields(p.Max)[0], 64)
	require.NoError(t, err, p.Max)
	best := 0.0
	for _, pt := range strings.Fields(p.Calls) {
		_, y, ok := strings.Cut(pt[1:], ",")
		require.True(t, ok, pt)
		f, err := strconv.ParseFloat(y, 64)
		require.NoError(t, err, pt)
		best = max(best, top*(1-f/float64(p.Height)))
	}
	return best
}

func TestDashboardProtections(t *testing.T) {
	sc := newScene(t)
	d := startDashboard(t, sc.m.Addr().String(), sc.m.AuthKey())
	port := strings.TrimSuffix(strings.TrimPrefix(d.url, "http://127.0.0.1:"), "/")
	tests := []struct {
		name     string
		method   string
		path     string
		header   []string
		wantCode int
	}{
		{"by IP", "GET", "", nil, http.StatusOK},
		{"by localhost", "GET", "", []string{"Host", "localhost:" + port}, http.StatusOK},
		{"HEAD", "HEAD", "api/state", nil, http.StatusOK},
		{"a rebound name", "GET", "api/state", []string{"Host", "attacker.example:" + port}, http.StatusMisdirectedRequest},
		{"a rebound name, page", "GET", "", []string{"Host", "attacker.example"}, http.StatusMisdirectedRequest},
		{"POST", "POST", "api/state", nil, http.StatusMethodNotAllowed},
		{"a CORS preflight", "OPTIONS", "api/state", []string{"Origin", "http://attacker.example", "Access-Control-Request-Method", "GET"}, http.StatusMethodNotAllowed},
		{"a cross-site fetch", "GET", "api/state", []string{"Origin", "http://attacker.example", "Sec-Fetch-Site", "cross-site"}, http.StatusForbidden},
		{"a same-origin fetch", "GET", "api/state", []string{"Sec-Fetch-Site", "same-origin"}, http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := testContext(t)
			resp, body := httpDo(ctx, t, tt.method, d.url+tt.path, tt.header...)
			assert.Equal(t, tt.wantCode, resp.StatusCode, body)
			assert.Empty(t, resp.Header.Get("Access-Control-Allow-Origin"))
			assert.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"))
			assert.Equal(t, "DENY", resp.Header.Get("X-Frame-Options"))
		})
	}
}

func TestDashboardListen(t *testing.T) {
	tests := []struct {
		give        string
		allowRemote bool
		wantErr     bool
	}{
		{"127.0.0.1:8080", false, false},
		{"[::1]:8080", false, false},
		{"localhost:8080", false, false},
		{"127.0.0.2:0", false, false},
		{"0.0.0.0:8080", false, true},
		{":8080", false, true},
		{"[::]:8080", false, true},
		{"example.com:8080", false, true},
		{"192.0.2.1:8080", false, true},
		{"0.0.0.0:8080", true, false},
		{"8080", false, true},
	}
	for _, tt := range tests {
		t.Run(tt.give, func(t *testing.T) {
			err := checkListen(tt.give, tt.allowRemote)
			if tt.wantErr {
				assert.Error(t, err)
			} else {
				assert.NoError(t, err)
			}
		})
	}

	t.Run("the command says why and what to do", func(t *testing.T) {
		ctx := testContext(t)
		m := startManager(t, manager.InProcess())
		getenv := func(string) string { return "hex:" + hex.EncodeToString(m.AuthKey()) }
		var out bytes.Buffer
		err := run(ctx, []string{"-addr", m.Addr().String(), "dashboard", "-listen", "0.0.0.0:0"}, &out, getenv)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "not a loopback address")
		assert.Contains(t, err.Error(), "no password")
		assert.Contains(t, err.Error(), "-allow-remote")
		assert.Empty(t, out.String(), "nothing was served")
	})
	t.Run("a manager that is not there", func(t *testing.T) {
		ctx := testContext(t)
		getenv := func(string) string { return "k" }
		err := run(ctx, []string{"-addr", filepath.Join(t.TempDir(), "none.sock"), "dashboard", "-listen", "127.0.0.1:0"}, io.Discard, getenv)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "none.sock")
	})
}

// TestDashboardManagerGone: when the manager exits the page says so at
// once, and when a manager serves again at the same address with the same
// key the dashboard shows it.
func TestDashboardManagerGone(t *testing.T) {
	ctx := testContext(t)
	sock := filepath.Join(t.TempDir(), "m.sock")
	key := []byte("dashboard test key")
	opts := []manager.StartOption{manager.WithAddress("unix", sock), manager.WithAuthKey(key)}
	first, err := manager.Start(ctx, opts...)
	require.NoError(t, err)
	d := startDashboard(t, sock, key, "-interval", "100ms")
	firstPid := first.Pid()
	d.waitState(ctx, t, "the first manager", func(v view) bool { return v.OK })

	require.NoError(t, first.Shutdown(ctx))
	v := d.waitState(ctx, t, "the manager gone", func(v view) bool { return !v.OK })
	assert.Contains(t, v.Status, "manager unreachable since")
	assert.Contains(t, v.Status, "retrying")
	// The last answer stays on the page.
	assert.Equal(t, strconv.Itoa(firstPid), v.Summary[0].Value)
	_, page := httpGet(ctx, t, d.url)
	assert.Contains(t, page, `<p id="status" class="down">manager unreachable since`)

	second := startManager(t, opts...)
	v = d.waitState(ctx, t, "the second manager", func(v view) bool { return v.OK })
	assert.Contains(t, v.Status, "live: manager pid "+strconv.Itoa(second.Pid()))
	assert.Contains(t, d.out.String(), "unreachable")
	assert.Contains(t, d.out.String(), "answers again (pid "+strconv.Itoa(second.Pid())+")")
}

// TestDashboardManagerStopped: a manager that stops answering (here
// SIGSTOPped) makes no request wait; the page says the state is old.
func TestDashboardManagerStopped(t *testing.T) {
	ctx := testContext(t)
	m := startManager(t)
	d := startDashboard(t, m.Addr().String(), m.AuthKey(), "-interval", "100ms")
	d.waitState(ctx, t, "the manager", func(v view) bool { return v.OK })

	// Its cleanup runs before the dashboard's and the manager's.
	resume := testkit.Stop(t, m.Pid())
	// httpClient's 10 s timeout is shorter than the dashboard's poll
	// timeout (-timeout, 10 s) plus the time to notice: a handler that
	// waited on the manager would fail this.
	v := d.waitState(ctx, t, "a stale state", func(v view) bool { return !v.OK })
	assert.Contains(t, v.Status, "the manager has not answered for")
	assert.Equal(t, strconv.Itoa(m.Pid()), v.Summary[0].Value)

	resume()
	d.waitState(ctx, t, "the manager again", func(v view) bool { return v.OK })
}
