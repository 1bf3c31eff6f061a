package systest

// Regression tests for bugs found in review of the core.

import (
	"context"
	"io"
	"net"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/goproc/manager"
	"github.com/goproc/manager/internal/wire"
)

// workerRegressExecAndHang is the worker role "regress.exec-and-hang" (childroles_test.go registers it).
func workerRegressExecAndHang(ctx context.Context, c *manager.Client, args manager.Args) error {
	var report *manager.Proxy
	if err := args.Decode(&report); err != nil {
		return err
	}
	sleeper := exec.Command("sleep", "60")
	if err := sleeper.Start(); err != nil {
		return err
	}
	if _, err := manager.Call[int64](ctx, report, "Add", int64(sleeper.Process.Pid)); err != nil {
		return err
	}
	<-ctx.Done()
	return nil
}

// A peer that reuses the id of a blocked call must not hide that call
// from cancellation: closing the connection and Shutdown still end it.
func TestDuplicateBlockedRequestID(t *testing.T) {
	ctx := testContext(t)
	s := startTCPServer(t)
	gate, err := manager.New(ctx, s.connect(t), "Gate")
	require.NoError(t, err)

	raw := dialRaw(t, s.addr)
	require.NoError(t, raw.handshake(s.key))
	for i := 0; i < 2; i++ {
		wire.BeginRequest(&raw.w, 77, gate.ID(), 0, "Wait")
		raw.w.Write([]byte{0x90})
		frame, err := raw.w.Finish(0)
		require.NoError(t, err)
		_, err = raw.nc.Write(frame)
		require.NoError(t, err)
	}
	failureIs(t, manager.ErrProtocol, raw.response(77))
	raw.nc.Close()
	// startTCPServer's cleanup requires Shutdown to finish within 10 s:
	// before the fix, the first Wait could never be cancelled.
}

// A client must notice that another manager answers at its address and
// never send calls to it: object ids there mean other objects.
func TestClientRefusesADifferentManager(t *testing.T) {
	ctx := testContext(t)
	a := startTCPServer(t)
	b := startTCPServer(t, manager.WithAuthKey(a.key))
	// The first connection (the client's anchor) goes to a, later ones to b.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var wg sync.WaitGroup
	t.Cleanup(func() { l.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for n := 0; ; n++ {
			in, err := l.Accept()
			if err != nil {
				return
			}
			target := b.addr
			if n == 0 {
				target = a.addr
			}
			out, err := net.Dial("tcp", target)
			if err != nil {
				in.Close()
				continue
			}
			wg.Add(2)
			go func() { defer wg.Done(); io.Copy(out, in); out.Close() }()
			go func() { defer wg.Done(); io.Copy(in, out); in.Close() }()
		}
	}()

	c, err := manager.Connect(ctx, "tcp", l.Addr().String(), a.key)
	require.NoError(t, err)
	defer c.Close()
	_, err = manager.New(ctx, c, "Counter")
	require.ErrorIs(t, err, manager.ErrManagerGone)
	assert.ErrorIs(t, c.Err(), manager.ErrManagerGone)
}

// A worker that started a program of its own and was then killed is
// reaped at once: the program does not inherit the worker's pipes.
func TestWorkerReapedDespiteGrandchild(t *testing.T) {
	ctx := testContext(t)
	m := startManager(t)
	w, pid := forkReportingPid(ctx, t, m, "regress.exec-and-hang")
	t.Cleanup(func() { syscall.Kill(int(pid), syscall.SIGKILL) })

	require.NoError(t, w.Signal(syscall.SIGKILL))
	select {
	case <-w.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the killed worker was not reaped while its grandchild ran")
	}
	assert.ErrorIs(t, w.Wait(), manager.ErrProcessExited)
}

// A peer that sends requests and stops reading the replies cannot hold
// up Shutdown: pending replies get a bounded time to leave.
func TestShutdownWithPeerThatStopsReading(t *testing.T) {
	ctx := testContext(t)
	srv, err := manager.NewServer(manager.WithAuthKey([]byte("regression key")))
	require.NoError(t, err)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	c, err := manager.Connect(ctx, "tcp", l.Addr().String(), srv.AuthKey())
	require.NoError(t, err)
	defer c.Close()
	f, err := manager.New(ctx, c, "Faulty")
	require.NoError(t, err)

	raw := dialRaw(t, l.Addr().String())
	require.NoError(t, raw.handshake(srv.AuthKey()))
	defer raw.nc.Close()
	big := mustMarshal(t, []any{strings.Repeat("x", 1<<20)})
	// Once the server is stuck writing replies it stops reading too, and
	// our writes stall: the write deadline ends the flood there.
	raw.nc.SetWriteDeadline(time.Now().Add(2 * time.Second))
	for i := 0; i < 64; i++ {
		wire.BeginRequest(&raw.w, uint64(i+1), f.ID(), 0, "Echo")
		raw.w.Write(big)
		frame, err := raw.w.Finish(0)
		require.NoError(t, err)
		if _, err := raw.nc.Write(frame); err != nil {
			break // the server stopped reading too: its replies are stuck
		}
	}
	sctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	require.NoError(t, srv.Shutdown(sctx))
	assert.ErrorIs(t, <-served, manager.ErrClosed)
}
