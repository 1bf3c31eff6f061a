package manager_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/goproc/manager"
)

// runMonitor runs `managerctl -info-file info args...` and makes Dict
// calls until it exits (it stops after -n calls), then returns its
// output.
func runMonitor(ctx context.Context, t *testing.T, bin, info string, d *manager.Dict[string, int], args ...string) string {
	t.Helper()
	cmd := exec.CommandContext(ctx, bin, append([]string{"-info-file", info}, args...)...)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	require.NoError(t, cmd.Start())
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	// The monitor attaches at some point after Start: call until it has
	// seen enough and exits.
	for i := 0; ; i++ {
		select {
		case err := <-exited:
			require.NoError(t, err, stderr.String())
			return out.String()
		default:
		}
		require.NoError(t, d.Store(ctx, "watched", i))
	}
}

func TestManagerctlMonitor(t *testing.T) {
	bin := buildManagerctl(t)
	ctx := testContext(t)
	info := filepath.Join(t.TempDir(), "manager.json")
	m := startManager(t, manager.WithInfoFile(info))
	d, err := manager.NewDict[string, int](ctx, m)
	require.NoError(t, err)

	t.Run("json", func(t *testing.T) {
		ctx := testContext(t)
		out := runMonitor(ctx, t, bin, info, d, "-json", "monitor", "-n", "3", "-args")
		lines := strings.Split(strings.TrimSpace(out), "\n")
		require.Len(t, lines, 3, out)
		for _, l := range lines {
			var e struct {
				Pid    int    `json:"pid"`
				Type   string `json:"type"`
				Method string `json:"method"`
				Args   string `json:"args"`
				Code   string `json:"code"`
			}
			require.NoError(t, json.Unmarshal([]byte(l), &e), l)
			assert.Equal(t, os.Getpid(), e.Pid)
			assert.Equal(t, "Dict", e.Type)
			assert.Equal(t, "Store", e.Method)
			assert.Contains(t, e.Args, `"watched"`)
			assert.Empty(t, e.Code)
		}
	})

	t.Run("text", func(t *testing.T) {
		ctx := testContext(t)
		out := runMonitor(ctx, t, bin, info, d, "monitor", "-n", "1")
		assert.Regexp(t, `^\d\d:\d\d:\d\d\.\d{6} pid=\d+ session=[0-9a-f]{8} Dict#\d+\.Store \S+ ok\n$`, out)
	})
}
