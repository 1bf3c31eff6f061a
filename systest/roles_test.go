package systest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/goproc/manager"
)

// envChild names a test-only role of the test binary, which TestMain runs
// (runChildRole, childroles_test.go) instead of the tests.
const envChild = "MANAGER_TEST_CHILD"

// The test-only roles.
const (
	childNoInitStart = "noinit-start" // a main that forgot Init and calls Start
	childNoInitFork  = "noinit-fork"  // a main that forgot Init and calls Fork
	childExitAtOnce  = "exit-at-once" // a program that dies before Init
	childExitZero    = "exit-zero"    // a program whose main ends, successfully, before Init
	childSubcommand  = "subcommand"   // the binary run as a subcommand by a worker
)

// envPids names the file where a no-Init program records every process
// that ran it; envPidCap the number of records after which a copy exits at
// once, so that a regression (each copy re-executing the program again)
// stays a bounded chain in the test.
const (
	envPids   = "MANAGER_TEST_PIDS"
	envPidCap = "MANAGER_TEST_PID_CAP"
)

// roleEnv is the library's role variable (internal/proc.EnvRole).
const roleEnv = "GOPROC_MANAGER_ROLE"

// workerSubcommand is the worker role "subcommand" (childroles_test.go registers it).
func workerSubcommand(ctx context.Context, c *manager.Client, args manager.Args) error {
	if r, ok := os.LookupEnv(roleEnv); ok {
		return fmt.Errorf("the worker's environment still holds %s=%s", roleEnv, r)
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, exe)
	cmd.Env = append(os.Environ(), envChild+"="+childSubcommand)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("subcommand: %w: %s", err, out)
	}
	if string(out) != "ran as a program\n" {
		return fmt.Errorf("subcommand printed %q", out)
	}
	return nil
}

// noInitMain is the main of a program that forgot manager.Init: it
// records its pid, then calls Start (or Start in-process and Fork), and
// the first process (the one without a role) prints one line:
// "top elapsed_ms=N initnotcalled=BOOL err=...".
func noInitMain(mode string) int {
	_, child := os.LookupEnv(roleEnv)
	n, err := recordPid(os.Getenv(envPids))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if limit, _ := strconv.Atoi(os.Getenv(envPidCap)); n > max(limit, 30) {
		return 9 // the regression this guards against: stop the chain
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	switch mode {
	case childNoInitStart:
		var m *manager.Manager
		if m, err = manager.Start(ctx); err == nil {
			err = m.Shutdown(ctx)
		}
	case childNoInitFork:
		var m *manager.Manager
		if m, err = manager.Start(ctx, manager.InProcess()); err == nil {
			var p *manager.Process
			if p, err = m.Fork(ctx, "add"); err == nil {
				select {
				case <-p.Done():
					err = p.Wait()
				case <-ctx.Done():
					err = ctx.Err()
				}
			}
			m.Shutdown(ctx)
		}
	}
	if child {
		// A program's main goes on after an error it ignores: its
		// parent must not wait for it, nor leave it running.
		<-ctx.Done()
		return 0
	}
	fmt.Printf("top elapsed_ms=%d initnotcalled=%t err=%v\n", time.Since(start).Milliseconds(), errors.Is(err, manager.ErrInitNotCalled), err)
	return 0
}

// recordPid appends this process's pid to path and returns how many pids
// the file holds.
func recordPid(path string) (int, error) {
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	if _, err := fmt.Fprintf(f, "%d\n", os.Getpid()); err != nil {
		return 0, err
	}
	b, err := os.ReadFile(path)
	return strings.Count(string(b), "\n"), err
}

// TestMissingInitStartsOneCopyAndFailsFast runs the test binary as a
// program that forgot manager.Init, in its own process group, and checks
// that the one copy it re-executes refuses to start another (before the
// fix every copy re-executed the program again, without end), and that
// the program gets ErrInitNotCalled at once, not when its 10 s context
// ends.
func TestMissingInitStartsOneCopyAndFailsFast(t *testing.T) {
	tests := []struct {
		name string
		give string
	}{
		{"Start", childNoInitStart},
		{"Fork", childNoInitFork},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := testContext(t)
			dir := t.TempDir()
			pids, out := filepath.Join(dir, "pids"), filepath.Join(dir, "out")
			stdout, err := os.Create(out)
			require.NoError(t, err)
			defer stdout.Close()
			exe, err := os.Executable()
			require.NoError(t, err)
			cmd := exec.CommandContext(ctx, exe)
			cmd.Env = append(os.Environ(), envChild+"="+tt.give, envPids+"="+pids)
			cmd.Stdout, cmd.Stderr = stdout, os.Stderr
			cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
			require.NoError(t, cmd.Start())
			pgid := cmd.Process.Pid
			t.Cleanup(func() { killGroup(pgid) })
			require.NoError(t, cmd.Wait())

			b, err := os.ReadFile(out)
			require.NoError(t, err)
			var elapsed int
			var initNotCalled bool
			_, err = fmt.Sscanf(string(b), "top elapsed_ms=%d initnotcalled=%t", &elapsed, &initNotCalled)
			require.NoError(t, err, "the program printed %q", b)
			assert.True(t, initNotCalled, "the program got %q", b)
			assert.Less(t, elapsed, 5000, "the program waited (for its context, or for the copy to exit) instead of getting the copy's error")
			require.Eventually(t, func() bool { return errors.Is(syscall.Kill(-pgid, 0), syscall.ESRCH) },
				10*time.Second, 5*time.Millisecond, "processes of the program are still running")
			assert.Equal(t, 2, countLines(t, pids), "processes that ran the program: itself and the one copy it started")
		})
	}
}

// killGroup kills every process of the process group pgid.
func killGroup(pgid int) {
	for syscall.Kill(-pgid, syscall.SIGKILL) == nil {
		time.Sleep(10 * time.Millisecond) // sleep-ok: a runaway group may start processes while it is killed; retry until it is empty
	}
}

func countLines(t testing.TB, path string) int {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	n := 0
	for s := bufio.NewScanner(f); s.Scan(); {
		n++
	}
	return n
}

// TestWorkerRunsItsBinaryAsAProgram: a worker that runs the program's own
// binary as a subcommand gets an ordinary program, not a second worker
// waiting for a configuration (the role variable no longer leaks).
func TestWorkerRunsItsBinaryAsAProgram(t *testing.T) {
	ctx := testContext(t)
	m := startManager(t, manager.InProcess())
	w, err := m.Fork(ctx, "subcommand")
	require.NoError(t, err)
	require.NoError(t, waitProcess(ctx, t, w))
}

// TestForkReportsAWorkerThatDiedUnconfigured: Fork returns an error, and
// leaves no zombie, when its worker dies before reading its configuration
// (it used to return the killed worker with a nil error).
func TestForkReportsAWorkerThatDiedUnconfigured(t *testing.T) {
	ctx := testContext(t)
	m := startManager(t, manager.InProcess())
	t.Setenv(envChild, childExitAtOnce)
	big := make([]byte, 1<<20) // more than a pipe holds: the write fails once the worker is gone
	p, err := m.Fork(ctx, "add", big)
	require.ErrorIs(t, err, manager.ErrProcessExited)
	assert.Nil(t, p)
	var exit *manager.ExitError
	require.ErrorAs(t, err, &exit)
	assert.Equal(t, 7, exit.ExitCode)
	assert.Empty(t, zombieChildren(t))
}

// zombieChildren returns the pids of this process's children that have
// exited and were not reaped.
func zombieChildren(t testing.TB) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	require.NoError(t, err)
	var zombies []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue // exited meanwhile
		}
		// pid (comm) state ppid ...: comm may hold spaces, so split after ')'.
		fields := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
		if len(fields) > 1 && fields[0] == "Z" && fields[1] == strconv.Itoa(os.Getpid()) {
			zombies = append(zombies, pid)
		}
	}
	return zombies
}

// TestWorkerThatRanMainSaysWhy: a worker process that exits 0 without
// running the worker (a main that skipped Init and finished) is reported
// with the likely cause, not as a bare "exited with status 0".
func TestWorkerThatRanMainSaysWhy(t *testing.T) {
	ctx := testContext(t)
	m := startManager(t, manager.InProcess())
	t.Setenv(envChild, childExitZero)
	w, err := m.Fork(ctx, "add")
	if err == nil { // else it died before its configuration was written
		err = waitProcess(ctx, t, w)
	}
	require.ErrorIs(t, err, manager.ErrProcessExited)
	assert.Contains(t, err.Error(), "did its main call manager.Init first?")
}
