package manager_test

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/goproc/manager"
	"github.com/goproc/manager/internal/wire"
)

// Restricted exposes only Get.
type Restricted struct{ v int }

func (r *Restricted) Get() int  { return r.v }
func (r *Restricted) Set(v int) { r.v = v }

func init() {
	manager.Register[*Gate]("Gate", newGate, manager.ConcurrentSafe())
	manager.Register[Faulty]("Faulty", func() Faulty { return Faulty{} })
	manager.Register[*Restricted]("Restricted", func(v int) *Restricted { return &Restricted{v: v} }, manager.Exposed("Get"))
	manager.RegisterWorker("core-start-manager", func(ctx context.Context, c *manager.Client, args manager.Args) error {
		// Starts a manager of its own, reports its pid, then waits to be killed.
		var report *manager.Proxy
		if err := args.Decode(&report); err != nil {
			return err
		}
		m, err := manager.Start(ctx)
		if err != nil {
			return err
		}
		if _, err := manager.Call[int64](ctx, report, "Add", int64(m.Pid())); err != nil {
			return err
		}
		<-ctx.Done()
		return nil
	})
}

func TestHandshake(t *testing.T) {
	ctx := testContext(t)
	m := startManager(t)

	c, err := manager.Connect(ctx, m.Addr().Network(), m.Addr().String(), m.AuthKey())
	require.NoError(t, err)
	defer c.Close()
	p, err := manager.New(ctx, c, "Faulty")
	require.NoError(t, err)
	got, err := manager.Call[string](ctx, p, "Echo", "hi")
	require.NoError(t, err)
	assert.Equal(t, "hi", got)

	_, err = manager.Connect(ctx, m.Addr().Network(), m.Addr().String(), []byte("wrong key"))
	require.ErrorIs(t, err, manager.ErrAuthFailed)
	assert.NotContains(t, err.Error(), string(m.AuthKey()))
}

func TestParentAndWorkersShareState(t *testing.T) {
	ctx := testContext(t)
	m := startManager(t)
	p, err := manager.New(ctx, m, "Counter")
	require.NoError(t, err)
	_, err = manager.Call[int64](ctx, p, "Add", int64(1000))
	require.NoError(t, err)

	w1, err := m.Fork(ctx, "add", p, 10)
	require.NoError(t, err)
	require.NoError(t, waitProcess(ctx, t, w1))
	w2, err := m.Fork(ctx, "add", p, 5)
	require.NoError(t, err)
	require.NoError(t, waitProcess(ctx, t, w2))

	n, err := manager.Call[int64](ctx, p, "Get")
	require.NoError(t, err)
	assert.Equal(t, int64(1015), n, "the parent sees both workers' adds on top of its own")
}

func TestBlockedCallDoesNotStallOthers(t *testing.T) {
	for _, mode := range managerModes {
		t.Run(mode.Name, func(t *testing.T) {
			ctx := testContext(t)
			m := startManager(t, mode.Opts...)
			gate, err := manager.New(ctx, m, "Gate")
			require.NoError(t, err)
			other, err := manager.New(ctx, m, "Faulty")
			require.NoError(t, err)

			waited := make(chan error, 1)
			go func() {
				_, err := manager.Call[struct{}](ctx, gate, "Wait")
				waited <- err
			}()
			// While Wait blocks, other calls on the same client go through.
			for i := 0; i < 10; i++ {
				got, err := manager.Call[string](ctx, other, "Echo", "x")
				require.NoError(t, err)
				assert.Equal(t, "x", got)
			}
			select {
			case err := <-waited:
				t.Fatalf("Wait returned before Open: %v", err)
			default:
			}
			_, err = manager.Call[struct{}](ctx, gate, "Open")
			require.NoError(t, err)
			select {
			case err := <-waited:
				require.NoError(t, err)
			case <-ctx.Done():
				t.Fatal("Wait did not return after Open")
			}
		})
	}
}

func TestCancelledCallIsWithdrawnAndRepliesStayMatched(t *testing.T) {
	ctx := testContext(t)
	m := startManager(t, manager.InProcess())
	gate, err := manager.New(ctx, m, "Gate")
	require.NoError(t, err)
	faulty, err := manager.New(ctx, m, "Faulty")
	require.NoError(t, err)

	for i := 0; i < 20; i++ {
		short, cancel := context.WithTimeout(ctx, time.Millisecond)
		_, err := manager.Call[struct{}](short, gate, "Wait")
		cancel()
		require.ErrorIs(t, err, context.DeadlineExceeded)
		// The next call on the same client gets its own reply.
		got, err := manager.Call[string](ctx, faulty, "Echo", "after")
		require.NoError(t, err)
		assert.Equal(t, "after", got)
	}
}

func TestMethodErrors(t *testing.T) {
	ctx := testContext(t)
	m := startManager(t)
	f, err := manager.New(ctx, m, "Faulty")
	require.NoError(t, err)

	_, err = manager.Call[struct{}](ctx, f, "Panic")
	var re *manager.RemoteError
	require.ErrorAs(t, err, &re)
	assert.Contains(t, re.Message, "boom")

	_, err = manager.Call[struct{}](ctx, f, "Fail")
	require.ErrorAs(t, err, &re)
	assert.Equal(t, "plain failure", re.Message)

	_, err = manager.Call[struct{}](ctx, f, "Empty")
	require.ErrorAs(t, err, &re)
	assert.ErrorIs(t, err, manager.ErrEmpty, "sentinels survive the wire")

	sum, err := manager.Call[int](ctx, f, "Sum", 2, 3)
	require.NoError(t, err, "the server still serves after a panic")
	assert.Equal(t, 5, sum)

	tests := []struct {
		name   string
		method string
		args   []any
		want   error
	}{
		{"unknown method", "Nope", nil, manager.ErrNoSuchMethod},
		{"too few arguments", "Sum", []any{1}, manager.ErrBadArguments},
		{"wrong argument type", "Echo", []any{[]int{1}}, manager.ErrBadArguments},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := manager.Call[any](ctx, f, tt.method, tt.args...)
			require.ErrorIs(t, err, tt.want)
			var re *manager.RemoteError
			assert.False(t, errors.As(err, &re), "call machinery errors are not RemoteErrors")
		})
	}
}

func TestUnexposedMethodRefused(t *testing.T) {
	ctx := testContext(t)
	m := startManager(t)
	r, err := manager.New(ctx, m, "Restricted", 7)
	require.NoError(t, err)
	v, err := manager.Call[int](ctx, r, "Get")
	require.NoError(t, err)
	assert.Equal(t, 7, v)
	_, err = manager.Call[struct{}](ctx, r, "Set", 9)
	require.ErrorIs(t, err, manager.ErrNotExposed)
}

func TestUnknownTypeAndObject(t *testing.T) {
	ctx := testContext(t)
	m := startManager(t, manager.InProcess())
	_, err := manager.New(ctx, m, "NoSuchType")
	require.ErrorIs(t, err, manager.ErrNotRegistered)

	p, err := manager.New(ctx, m, "Faulty")
	require.NoError(t, err)
	require.NoError(t, p.Close())
	_, err = manager.Call[string](ctx, p, "Echo", "x")
	require.ErrorIs(t, err, manager.ErrClosed, "a closed proxy refuses calls")
}

func TestObjectFreedWhenLastProxyCloses(t *testing.T) {
	ctx := testContext(t)
	m := startManager(t, manager.InProcess())
	before, err := m.NumObjects(ctx)
	require.NoError(t, err)
	p, err := manager.New(ctx, m, "Counter")
	require.NoError(t, err)
	n, err := m.NumObjects(ctx)
	require.NoError(t, err)
	assert.Equal(t, before+1, n)
	require.NoError(t, p.Close())
	n, err = m.NumObjects(ctx)
	require.NoError(t, err)
	assert.Equal(t, before, n)
}

func TestNamedObjects(t *testing.T) {
	ctx := testContext(t)
	m := startManager(t)
	a, err := manager.Open(ctx, m, "total", "Counter")
	require.NoError(t, err)
	_, err = manager.Call[int64](ctx, a, "Add", int64(2))
	require.NoError(t, err)

	c, err := manager.Connect(ctx, m.Addr().Network(), m.Addr().String(), m.AuthKey())
	require.NoError(t, err)
	b, err := manager.Open(ctx, c, "total", "Counter")
	require.NoError(t, err)
	got, err := manager.Call[int64](ctx, b, "Get")
	require.NoError(t, err)
	assert.Equal(t, int64(2), got, "a second session finds the same object by name")
	// Close the proxy itself: the session's end is asynchronous on the
	// server, a proxy's Close is not.
	require.NoError(t, b.Close())
	require.NoError(t, c.Close())

	_, err = manager.Open(ctx, m, "total", "Faulty")
	require.ErrorIs(t, err, manager.ErrWrongType)

	live, err := m.NumObjects(ctx)
	require.NoError(t, err)
	ok, err := m.Delete(ctx, "total")
	require.NoError(t, err)
	assert.True(t, ok)
	require.NoError(t, a.Close())
	n, err := m.NumObjects(ctx)
	require.NoError(t, err)
	assert.Equal(t, live-1, n, "deleted and unreferenced: freed")
}

func TestShutdownRemovesSocketAndRefusesCalls(t *testing.T) {
	for _, mode := range managerModes {
		t.Run(mode.Name, func(t *testing.T) {
			ctx := testContext(t)
			m, err := manager.Start(ctx, mode.Opts...)
			require.NoError(t, err)
			p, err := manager.New(ctx, m, "Counter")
			require.NoError(t, err)
			sock := m.Addr().String()
			dir := filepath.Dir(sock)
			info, err := os.Stat(dir)
			require.NoError(t, err)
			assert.Equal(t, os.FileMode(0o700), info.Mode().Perm())
			info, err = os.Stat(sock)
			require.NoError(t, err)
			assert.Equal(t, os.FileMode(0o600), info.Mode().Perm())

			require.NoError(t, m.Shutdown(ctx))
			require.NoError(t, m.Shutdown(ctx), "Shutdown twice is fine")
			_, err = os.Stat(dir)
			assert.True(t, os.IsNotExist(err), "socket directory removed: %v", err)
			_, err = manager.Call[int64](ctx, p, "Get")
			require.ErrorIs(t, err, manager.ErrClosed)
		})
	}
}

func TestManagerGone(t *testing.T) {
	ctx := testContext(t)
	m := startManager(t)
	gate, err := manager.New(ctx, m, "Gate")
	require.NoError(t, err)
	waited := make(chan error, 1)
	go func() {
		_, err := manager.Call[struct{}](ctx, gate, "Wait")
		waited <- err
	}()
	// Make sure Wait has reached the server before the kill.
	require.Eventually(t, func() bool {
		n, err := m.NumObjects(ctx)
		return err == nil && n == 1
	}, 5*time.Second, time.Millisecond)
	start := time.Now()
	require.NoError(t, syscall.Kill(m.Pid(), syscall.SIGKILL))
	select {
	case err := <-waited:
		require.ErrorIs(t, err, manager.ErrManagerGone)
	case <-ctx.Done():
		t.Fatal("a pending call hung after the manager died")
	}
	t.Logf("pending call failed %v after the kill", time.Since(start))
	_, err = manager.Call[struct{}](ctx, gate, "Open")
	require.ErrorIs(t, err, manager.ErrManagerGone)
}

func TestManagerExitsWithItsParent(t *testing.T) {
	ctx := testContext(t)
	m := startManager(t)
	w, pid := forkReportingPid(ctx, t, m, "core-start-manager")
	require.NoError(t, syscall.Kill(int(pid), 0), "the grandchild manager runs")

	require.NoError(t, w.Signal(syscall.SIGKILL))
	<-w.Done()
	killed := time.Now()
	assert.Eventually(t, func() bool { return !processAlive(int(pid)) }, 2*time.Second, time.Millisecond,
		"the manager process outlived its parent")
	t.Logf("manager exited %v after its parent was killed", time.Since(killed))
}

// processAlive reports whether pid names a live (not zombie) process.
func processAlive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// The state follows the parenthesised command name.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

func TestFrameTooLarge(t *testing.T) {
	ctx := testContext(t)
	m := startManager(t, manager.InProcess(), manager.WithMaxFrameSize(64<<10))
	f, err := manager.New(ctx, m, "Faulty")
	require.NoError(t, err)

	// The client refuses before sending.
	_, err = manager.Call[string](ctx, f, "Echo", strings.Repeat("x", 100<<10))
	require.ErrorIs(t, err, manager.ErrFrameTooLarge)

	// The server refuses a huge length prefix without allocating it.
	nc, err := net.Dial(m.Addr().Network(), m.Addr().String())
	require.NoError(t, err)
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	r := wire.NewReader(nc, 64<<10)
	_, err = wire.ClientHandshake(nc, r, m.AuthKey(), [16]byte{1})
	require.NoError(t, err)

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err = nc.Write([]byte{0x7f, 0xff, 0xff, 0xff})
	require.NoError(t, err)
	_, err = r.ReadFrame()
	require.Error(t, err, "the server closes the connection")
	runtime.ReadMemStats(&after)
	assert.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(16<<20), "no allocation of the claimed 2 GiB")

	got, err := manager.Call[string](ctx, f, "Echo", "still serving")
	require.NoError(t, err)
	assert.Equal(t, "still serving", got)
}
