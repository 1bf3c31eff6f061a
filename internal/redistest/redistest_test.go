package redistest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestStandalone(t *testing.T) {
	s := Standalone(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := s.Client(t)
	require.NoError(t, c.Set(ctx, "k", "v", 0).Err())
	// AOF with appendfsync always: an acknowledged write survives SIGKILL.
	s.Kill(t)
	s.Restart(t)
	got, err := s.Client(t).Get(ctx, "k").Result()
	require.NoError(t, err)
	require.Equal(t, "v", got)
}

func TestCluster(t *testing.T) {
	cl := NewCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := cl.Client(t)
	// Keys spread over the three masters, all reachable.
	for i := range 30 {
		require.NoError(t, c.Set(ctx, fmt.Sprint("k", i), i, 0).Err())
	}
	for i := range 30 {
		got, err := c.Get(ctx, fmt.Sprint("k", i)).Int()
		require.NoError(t, err)
		require.Equal(t, i, got)
	}
	n := 0
	for _, node := range cl.Nodes {
		keys, err := node.Client(t).DBSize(ctx).Result()
		require.NoError(t, err)
		if keys > 0 {
			n++
		}
	}
	require.Equal(t, 3, n, "masters holding keys")
}
