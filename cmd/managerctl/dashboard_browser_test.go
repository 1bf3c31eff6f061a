package main

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/goproc/manager"
)

// chromiumBinary returns the path of a Chromium binary (Debian's package
// installs chromium). Where there is none the test fails, saying how to
// install it, as the Redis tests do for redis-server: .ci/run installs
// both when they are missing.
func chromiumBinary(t testing.TB) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("no chromium on PATH: the dashboard's browser test needs it (Debian: apt-get install -y chromium; .ci/run installs it)")
	return ""
}

// chromiumTimeout bounds one run of Chromium: one takes 1 s on an idle
// machine, 25 s on a loaded one.
const chromiumTimeout = 3 * time.Minute

// runChromium runs headless Chromium on args, with its own HOME and
// profile under dir, and returns what it printed on standard output.
// Chromium starts helper processes (zygote, renderers, crashpad): they
// share its process group, which is killed when it exits or ctx ends,
// and the test fails if any of them outlives that. A run is bounded by
// chromiumTimeout.
func runChromium(t testing.TB, bin, dir string, args ...string) []byte {
	t.Helper()
	stdout, err := os.Create(filepath.Join(dir, "stdout"))
	require.NoError(t, err)
	defer stdout.Close()
	stderr, err := os.Create(filepath.Join(dir, "stderr"))
	require.NoError(t, err)
	defer stderr.Close()
	base := []string{
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
		"--no-first-run", "--no-default-browser-check", "--disable-extensions",
		"--user-data-dir=" + filepath.Join(dir, "profile"),
		// Virtual time runs the page's timers, and so its polls, without
		// waiting for them in real time.
		"--virtual-time-budget=3000",
	}
	ctx, cancel := context.WithTimeout(context.Background(), chromiumTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append(base, args...)...)
	cmd.Env = append(os.Environ(), "HOME="+dir)
	// Files, not pipes: a helper that keeps a pipe open cannot make Wait
	// wait for it.
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	require.NoError(t, cmd.Start())
	pgid := cmd.Process.Pid
	runErr := cmd.Wait()
	syscall.Kill(-pgid, syscall.SIGKILL)
	requireGroupGone(t, pgid)
	errText, _ := os.ReadFile(stderr.Name())
	require.NoError(t, runErr, "chromium %s: %s", strings.Join(args, " "), errText)
	out, err := os.ReadFile(stdout.Name())
	require.NoError(t, err)
	return out
}

// requireGroupGone waits (bounded) until no live process is left in the
// process group pgid: the helpers of a killed Chromium exit at once but
// not synchronously. Zombies (exited, not yet reaped by their new
// parent) are not running and count as gone.
func requireGroupGone(t testing.TB, pgid int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		left := groupMembers(pgid)
		if len(left) == 0 {
			return
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			require.Failf(t, "chromium processes outlived the test", "process group %d: pids %v", pgid, left)
		}
	}
}

// groupMembers returns the live processes of process group pgid, from
// /proc/PID/stat: "pid (comm) state ppid pgrp ...".
func groupMembers(pgid int) []int {
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue // it exited meanwhile
		}
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) < 3 || f[0] == "Z" || f[0] == "X" {
			continue
		}
		if g, _ := strconv.Atoi(f[2]); g == pgid {
			pids = append(pids, pid)
		}
	}
	return pids
}

// TestDashboardInChromium loads the dashboard of a running manager in
// headless Chromium and checks that what the script drew from /api/state
// names the objects and the lock holder's pid, and that the page
// renders. DASHBOARD_SCREENSHOT=FILE keeps the screenshot.
func TestDashboardInChromium(t *testing.T) {
	bin := chromiumBinary(t)
	sc := newScene(t)
	d := startDashboard(t, sc.m.Addr().String(), sc.m.AuthKey())
	pid := strconv.Itoa(sc.holder)
	// Calls for the plot, spread over a few samples.
	ctx := testContext(t)
	dict, err := manager.OpenDict[string, int](ctx, sc.m, "dash.dict")
	require.NoError(t, err)
	defer dict.Close()
	d.waitState(ctx, t, "a non-zero rate", func(v view) bool {
		for i := range 20 {
			require.NoError(t, dict.Store(ctx, "k", i))
		}
		return maxRate(t, v.Plot) > 0
	})

	t.Run("dump-dom", func(t *testing.T) {
		dom := string(runChromium(t, bin, t.TempDir(), "--dump-dom", d.url))
		polls := regexp.MustCompile(`<body [^>]*data-polls="(\d+)"`).FindStringSubmatch(dom)
		require.NotNil(t, polls, "the script never rendered a poll:\n%s", dom)
		// The locks table as the script last drew it (its data-poll is
		// the poll that drew it; the server renders 0).
		locks := regexp.MustCompile(`(?s)<section id="t-locks">.*?<table data-poll="(\d+)">(.*?)</table>`).FindStringSubmatch(dom)
		require.NotNil(t, locks, dom)
		assert.NotEqual(t, "0", locks[1], "the script did not redraw the locks table")
		assert.Regexp(t, `<td>dash\.lock</td><td>Lock</td><td>`+pid+`×1 [^<]+</td>`, locks[2])
		named := regexp.MustCompile(`(?s)<section id="t-named">.*?<table data-poll="[1-9]\d*">(.*?)</table>`).FindStringSubmatch(dom)
		require.NotNil(t, named, dom)
		for _, name := range []string{"dash.dict", "dash.q", "dash.lock", "dash.release", "&lt;b&gt;dash.list&lt;/b&gt;"} {
			assert.Contains(t, named[1], "<td>"+name+"</td>")
		}
		assert.Contains(t, dom, `<td>dash.q</td><td>Queue</td><td>2</td>`)
		assert.Contains(t, dom, `<p id="status" class="ok">live: manager pid `)
		assert.Regexp(t, `<path id="plot-calls" class="calls" d="M[-0-9., ML]+"`, dom)
	})

	t.Run("screenshot", func(t *testing.T) {
		dir := t.TempDir()
		file := filepath.Join(dir, "dashboard.png")
		runChromium(t, bin, dir, "--screenshot="+file, "--window-size=1280,1400", "--hide-scrollbars", d.url)
		b, err := os.ReadFile(file)
		require.NoError(t, err)
		img, err := png.Decode(bytes.NewReader(b))
		require.NoError(t, err, "not a PNG")
		assert.Equal(t, image.Rect(0, 0, 1280, 1400), img.Bounds())
		assert.Greater(t, colours(img), 8, "a blank page")
		if keep := os.Getenv("DASHBOARD_SCREENSHOT"); keep != "" {
			require.NoError(t, os.WriteFile(keep, b, 0o644))
		}
	})
}

// colours counts the distinct colours of img, up to 1000.
func colours(img image.Image) int {
	seen := map[color.RGBA]bool{}
	r := img.Bounds()
	for y := r.Min.Y; y < r.Max.Y; y += 3 {
		for x := r.Min.X; x < r.Max.X; x += 3 {
			seen[color.RGBAModel.Convert(img.At(x, y)).(color.RGBA)] = true
			if len(seen) >= 1000 {
				return len(seen)
			}
		}
	}
	return len(seen)
}
