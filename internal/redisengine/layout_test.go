package redisengine

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/goproc/manager/internal/errs"
	"github.com/goproc/manager/internal/redistest"
)

// TestLayout: a session opens a namespace only if its objects are in
// this build's key layout (Layout). A fresh namespace records it; one
// written in another layout, or before layouts were recorded, is refused
// with errs.NotSupported saying what to do; Purge makes it fresh again.
func TestLayout(t *testing.T) {
	srv := redistest.Standalone(t)
	rdb := srv.Client(t)
	open := func(ctx context.Context, ns string) error {
		s, err := Open(ctx, rdb, Options{Namespace: ns})
		if err == nil {
			require.NoError(t, s.Close())
		}
		return err
	}
	// testCtx bounds one subtest.
	testCtx := func(t *testing.T) context.Context {
		ctx, cancel := context.WithTimeout(context.Background(), suiteTimeout)
		t.Cleanup(cancel)
		return ctx
	}
	t.Run("fresh", func(t *testing.T) {
		ctx := testCtx(t)
		require.NoError(t, open(ctx, "fresh"))
		assert.Equal(t, Layout, rdb.Get(ctx, "{fresh}:layout").Val())
		require.NoError(t, open(ctx, "fresh"), "a second session")
	})
	t.Run("unrecorded", func(t *testing.T) {
		ctx := testCtx(t)
		// Objects made before layouts were recorded: an id counter, no layout.
		require.NoError(t, rdb.Set(ctx, "{old}:id", 7, 0).Err())
		err := open(ctx, "old")
		require.ErrorIs(t, err, errs.NotSupported)
		assert.Contains(t, err.Error(), `"old" holds objects in key layout 1 (not recorded)`)
		assert.Contains(t, err.Error(), "Purge")
		require.NoError(t, Purge(ctx, rdb, "old"))
		require.NoError(t, open(ctx, "old"), "after Purge")
	})
	t.Run("another layout", func(t *testing.T) {
		ctx := testCtx(t)
		require.NoError(t, rdb.Set(ctx, "{other}:layout", "1", 0).Err())
		err := open(ctx, "other")
		require.ErrorIs(t, err, errs.NotSupported)
		assert.Contains(t, err.Error(), `"other" holds objects in key layout 1, and this build reads layout `+Layout)
	})
}
