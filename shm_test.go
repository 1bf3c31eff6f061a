package manager_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/goproc/manager"
)

func init() {
	manager.RegisterWorker("shm.add", func(ctx context.Context, c *manager.Client, args manager.Args) error {
		var v *manager.SharedValue[int64]
		var n int
		if err := args.Decode(&v, &n); err != nil {
			return err
		}
		defer v.Close()
		for range n {
			v.Add(1)
		}
		return nil
	})
	manager.RegisterWorker("shm.addLocked", func(ctx context.Context, c *manager.Client, args manager.Args) error {
		var v *manager.SharedValue[int64]
		var n int
		if err := args.Decode(&v, &n); err != nil {
			return err
		}
		defer v.Close()
		mu := v.Mutex()
		for range n {
			if err := mu.Lock(ctx); err != nil {
				return err
			}
			v.Store(v.Load() + 1) // not atomic on its own: the lock makes it so
			if err := mu.Unlock(); err != nil {
				return err
			}
		}
		return nil
	})
	manager.RegisterWorker("shm.addFloat", func(ctx context.Context, c *manager.Client, args manager.Args) error {
		var v *manager.SharedValue[float64]
		var n int
		if err := args.Decode(&v, &n); err != nil {
			return err
		}
		defer v.Close()
		for range n {
			v.Add(0.5)
		}
		return nil
	})
	manager.RegisterWorker("shm.addArray", func(ctx context.Context, c *manager.Client, args manager.Args) error {
		var a *manager.SharedArray[int32]
		var own, n int
		if err := args.Decode(&a, &own, &n); err != nil {
			return err
		}
		defer a.Close()
		for range n {
			a.Add(own, 1)
			a.Add(0, 1)
		}
		return nil
	})
	manager.RegisterWorker("shm.lockAndDie", func(ctx context.Context, c *manager.Client, args manager.Args) error {
		var l *manager.SharedLock
		if err := args.Decode(&l); err != nil {
			return err
		}
		if err := l.Lock(ctx); err != nil {
			return err
		}
		return syscall.Kill(os.Getpid(), syscall.SIGKILL)
	})
	manager.RegisterWorker("shm.unlockForeign", func(ctx context.Context, c *manager.Client, args manager.Args) error {
		var l *manager.SharedLock
		if err := args.Decode(&l); err != nil {
			return err
		}
		defer l.Close()
		if err := l.Unlock(); !errors.Is(err, manager.ErrNotHeld) {
			return fmt.Errorf("Unlock of a lock another process holds: got %v, want ErrNotHeld", err)
		}
		return nil
	})
	// shm.closeReleases checks that after Close this worker neither maps
	// the value nor holds a descriptor of it.
	manager.RegisterWorker("shm.closeReleases", func(ctx context.Context, c *manager.Client, args manager.Args) error {
		var v *manager.SharedValue[int64]
		if err := args.Decode(&v); err != nil {
			return err
		}
		maps, fds := sharedResources()
		if maps != 1 || fds != 1 {
			return fmt.Errorf("before Close: %d mappings and %d descriptors, want 1 and 1", maps, fds)
		}
		v.Add(1)
		if err := v.Close(); err != nil {
			return err
		}
		if maps, fds := sharedResources(); maps != 0 || fds != 0 {
			return fmt.Errorf("after Close: %d mappings and %d descriptors, want none", maps, fds)
		}
		return nil
	})
	manager.RegisterWorker("shm.decodeInt32", func(ctx context.Context, c *manager.Client, args manager.Args) error {
		var v *manager.SharedValue[int32]
		return args.Decode(&v)
	})
}

// newSharedValue makes a SharedValue closed when the test ends.
func newSharedValue[T manager.SharedNumber](t testing.TB, initial T) *manager.SharedValue[T] {
	t.Helper()
	v, err := manager.NewSharedValue(initial)
	require.NoError(t, err)
	t.Cleanup(func() { v.Close() })
	return v
}

// forkAll starts one worker per argument list and waits for them all.
func forkAll(ctx context.Context, t *testing.T, m *manager.Manager, worker string, argLists ...[]any) {
	t.Helper()
	var procs []*manager.Process
	for _, args := range argLists {
		p, err := m.Fork(ctx, worker, args...)
		require.NoError(t, err)
		procs = append(procs, p)
	}
	for _, p := range procs {
		assert.NoError(t, waitProcess(ctx, t, p))
	}
}

func TestSharedValueAddAcrossProcesses(t *testing.T) {
	ctx := testContext(t)
	m := startManager(t, manager.InProcess())
	v := newSharedValue(t, int64(0))
	const procs, adds = 4, 25000
	args := make([][]any, procs)
	for i := range args {
		args[i] = []any{v, adds}
	}
	forkAll(ctx, t, m, "shm.add", args...)
	assert.Equal(t, int64(procs*adds), v.Load())
}

func TestSharedValueMutexAcrossProcesses(t *testing.T) {
	ctx := testContext(t)
	m := startManager(t, manager.InProcess())
	v := newSharedValue(t, int64(0))
	const procs, adds = 3, 2000
	args := make([][]any, procs)
	for i := range args {
		args[i] = []any{v, adds}
	}
	// This process increments too, under the same lock, while they run.
	var procsStarted []*manager.Process
	for _, a := range args {
		p, err := m.Fork(ctx, "shm.addLocked", a...)
		require.NoError(t, err)
		procsStarted = append(procsStarted, p)
	}
	mu := v.Mutex()
	for range adds {
		require.NoError(t, mu.Lock(ctx))
		v.Store(v.Load() + 1)
		require.NoError(t, mu.Unlock())
	}
	for _, p := range procsStarted {
		assert.NoError(t, waitProcess(ctx, t, p))
	}
	assert.Equal(t, int64((procs+1)*adds), v.Load())
	assert.False(t, mu.Locked())
}

func TestSharedValueFloatAddAcrossProcesses(t *testing.T) {
	ctx := testContext(t)
	m := startManager(t, manager.InProcess())
	v := newSharedValue(t, 1.0)
	forkAll(ctx, t, m, "shm.addFloat", []any{v, 4000}, []any{v, 4000})
	assert.Equal(t, 4001.0, v.Load()) // 0.5 steps are exact in binary
}

func TestSharedArrayAcrossProcesses(t *testing.T) {
	ctx := testContext(t)
	m := startManager(t, manager.InProcess())
	a, err := manager.NewSharedArrayOf([]int32{0, 10, 20, 30})
	require.NoError(t, err)
	t.Cleanup(func() { a.Close() })
	forkAll(ctx, t, m, "shm.addArray", []any{a, 1, 1000}, []any{a, 2, 2000}, []any{a, 3, 3000})
	assert.Equal(t, []int32{6000, 1010, 2020, 3030}, a.Snapshot())
	assert.Equal(t, 4, a.Len())
}

func TestSharedValueOps(t *testing.T) {
	t.Run("int32", func(t *testing.T) { checkOps(t, int32(-5), int32(7)) })
	t.Run("int64", func(t *testing.T) { checkOps(t, int64(-1)<<40, int64(3)) })
	t.Run("uint32", func(t *testing.T) { checkOps(t, uint32(1)<<31, uint32(9)) })
	t.Run("uint64", func(t *testing.T) { checkOps(t, uint64(1)<<63, uint64(2)) })
	t.Run("float64", func(t *testing.T) { checkOps(t, 2.5, 0.25) })
}

// checkOps runs every operation of SharedValue and SharedArray on T.
func checkOps[T manager.SharedNumber](t *testing.T, initial, delta T) {
	v := newSharedValue(t, initial)
	assert.Equal(t, initial, v.Load())
	assert.Equal(t, initial+delta, v.Add(delta))
	assert.Equal(t, initial+delta, v.Swap(delta))
	assert.False(t, v.CompareAndSwap(initial, delta))
	assert.True(t, v.CompareAndSwap(delta, initial))
	v.Store(delta)
	assert.Equal(t, delta, v.Load())

	a, err := manager.NewSharedArray[T](3)
	require.NoError(t, err)
	defer a.Close()
	a.Store(2, initial)
	assert.Equal(t, initial+delta, a.Add(2, delta))
	assert.Equal(t, initial+delta, a.Swap(2, delta))
	assert.True(t, a.CompareAndSwap(1, 0, delta))
	assert.Equal(t, []T{0, delta, delta}, a.Snapshot())
	assert.Equal(t, delta, a.Load(1))
}

func TestSharedFloatCompareAndSwap(t *testing.T) {
	nan := math.NaN()
	negZero := math.Copysign(0, -1)
	tests := []struct {
		name    string
		give    float64
		old     float64
		swapped bool
	}{
		{name: "equal", give: 1.5, old: 1.5, swapped: true},
		{name: "different", give: 1.5, old: 2.5, swapped: false},
		{name: "same NaN matches", give: nan, old: nan, swapped: true},
		{name: "-0 is not +0", give: negZero, old: 0, swapped: false},
		{name: "+Inf", give: math.Inf(1), old: math.Inf(1), swapped: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := newSharedValue(t, tt.give)
			assert.Equal(t, tt.swapped, v.CompareAndSwap(tt.old, 7))
		})
	}
}

func TestSharedArrayIndexOutOfRange(t *testing.T) {
	a, err := manager.NewSharedArray[int64](2)
	require.NoError(t, err)
	defer a.Close()
	for _, i := range []int{-1, 2, 1 << 40} {
		func() {
			defer func() {
				err, _ := recover().(error)
				assert.ErrorIs(t, err, manager.ErrIndexOutOfRange, "index %d", i)
			}()
			a.Add(i, 1)
		}()
	}
	_, err = manager.NewSharedArray[int64](-1)
	assert.ErrorIs(t, err, manager.ErrBadArguments)
}

func TestSharedMemoryReleasedOnClose(t *testing.T) {
	maps, fds := sharedResources()
	v, err := manager.NewSharedValue[uint64](1)
	require.NoError(t, err)
	a, err := manager.NewSharedArray[float64](100000) // several pages
	require.NoError(t, err)
	maps2, fds2 := sharedResources()
	assert.Equal(t, [2]int{maps + 2, fds + 2}, [2]int{maps2, fds2}, "mappings and descriptors")
	require.NoError(t, v.Close())
	require.NoError(t, a.Close())
	maps3, fds3 := sharedResources()
	assert.Equal(t, [2]int{maps, fds}, [2]int{maps3, fds3}, "mappings and descriptors")
	assert.NoError(t, v.Close(), "a second Close")
	assert.Panics(t, func() { v.Load() })
}

// sharedResources counts this process's mappings of shared-memory regions
// and its descriptors of them.
func sharedResources() (maps, fds int) {
	b, _ := os.ReadFile("/proc/self/maps")
	maps = strings.Count(string(b), "/memfd:manager-shm")
	entries, _ := os.ReadDir("/proc/self/fd")
	for _, e := range entries {
		if target, err := os.Readlink("/proc/self/fd/" + e.Name()); err == nil && strings.Contains(target, "memfd:manager-shm") {
			fds++
		}
	}
	return maps, fds
}

func TestSharedMemoryReleasedInWorker(t *testing.T) {
	ctx := testContext(t)
	m := startManager(t, manager.InProcess())
	v := newSharedValue(t, int64(0))
	forkAll(ctx, t, m, "shm.closeReleases", []any{v})
	assert.Equal(t, int64(1), v.Load(), "the worker's view was the same memory")
}

func TestSharedLockAbandoned(t *testing.T) {
	ctx := testContext(t)
	m := startManager(t, manager.InProcess())
	l, err := manager.NewSharedLock()
	require.NoError(t, err)
	defer l.Close()
	p, err := m.Fork(ctx, "shm.lockAndDie", l)
	require.NoError(t, err)
	err = waitProcess(ctx, t, p)
	var exit *manager.ExitError
	require.ErrorAs(t, err, &exit)
	assert.Equal(t, syscall.SIGKILL, exit.Signal)
	assert.True(t, l.Locked(), "the dead worker holds the lock")

	err = l.Lock(ctx)
	require.ErrorIs(t, err, manager.ErrAbandoned)
	assert.NoError(t, l.Unlock(), "Lock took the lock over")
	assert.NoError(t, l.Lock(ctx), "a lock taken over is an ordinary lock again")
	assert.NoError(t, l.Unlock())
}

func TestSharedLockOwnership(t *testing.T) {
	ctx := testContext(t)
	m := startManager(t, manager.InProcess())
	l, err := manager.NewSharedLock()
	require.NoError(t, err)
	defer l.Close()
	require.ErrorIs(t, l.Unlock(), manager.ErrNotHeld)
	require.NoError(t, l.Lock(ctx))
	forkAll(ctx, t, m, "shm.unlockForeign", []any{l})
	ok, err := l.TryLock()
	assert.NoError(t, err)
	assert.False(t, ok, "held by this process")
	assert.NoError(t, l.Unlock())
	ok, err = l.TryLock()
	assert.NoError(t, err)
	assert.True(t, ok)
	assert.NoError(t, l.Unlock())
}

func TestSharedLockContext(t *testing.T) {
	l, err := manager.NewSharedLock()
	require.NoError(t, err)
	defer l.Close()
	require.NoError(t, l.Lock(context.Background()))
	tests := []struct {
		name string
		ctx  func() (context.Context, context.CancelFunc)
		want error
	}{
		{name: "deadline", ctx: func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 20*time.Millisecond)
		}, want: context.DeadlineExceeded},
		{name: "cancelled", ctx: func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return ctx, cancel
		}, want: context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := tt.ctx()
			defer cancel()
			assert.ErrorIs(t, l.Lock(ctx), tt.want)
		})
	}
	// A waiter that is cancelled while asleep wakes up at once.
	ctx, cancel := context.WithCancel(testContext(t))
	errc := make(chan error, 1)
	go func() { errc <- l.Lock(ctx) }()
	cancel()
	assert.ErrorIs(t, <-errc, context.Canceled)
	assert.NoError(t, l.Unlock())
}

func TestSharedMemoryBadArguments(t *testing.T) {
	ctx := testContext(t)
	m := startManager(t, manager.InProcess())
	v := newSharedValue(t, int64(1))

	_, err := m.Fork(ctx, "shm.add", struct{ V *manager.SharedValue[int64] }{v}, 1)
	assert.ErrorContains(t, err, "direct argument of Fork")

	p, err := m.Fork(ctx, "shm.decodeInt32", v)
	require.NoError(t, err)
	err = waitProcess(ctx, t, p)
	assert.ErrorIs(t, err, manager.ErrProcessExited)
	assert.ErrorContains(t, err, "holds int64, not int32")

	mu := v.Mutex()
	_, err = m.Fork(ctx, "shm.unlockForeign", mu)
	assert.ErrorContains(t, err, "NewSharedLock")
}
