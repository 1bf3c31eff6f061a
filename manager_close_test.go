package manager_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/goproc/manager"
)

// TestManagerCloseStopsTheManager checks that m.Close does what a user
// expects of it: the manager process is gone (exited and reaped, so not
// even a zombie is left) and its socket directory removed, not only this
// process's session ended.
func TestManagerCloseStopsTheManager(t *testing.T) {
	ctx := testContext(t)
	m, err := manager.Start(ctx)
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		m.Shutdown(ctx) // a no-op once Close worked
	})
	p, err := manager.New(ctx, m, "Counter")
	require.NoError(t, err)
	pid := m.Pid()
	dir := filepath.Dir(m.Addr().String())

	require.NoError(t, m.Close())
	require.NoError(t, m.Close(), "Close twice is fine")

	assert.ErrorIs(t, syscall.Kill(pid, 0), syscall.ESRCH, "the manager process has exited and been reaped")
	_, err = os.Stat(dir)
	assert.True(t, errors.Is(err, os.ErrNotExist), "socket directory removed: %v", err)
	_, err = manager.Call[int64](ctx, p, "Get")
	assert.ErrorIs(t, err, manager.ErrClosed)
}
