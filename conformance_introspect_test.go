package manager_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/goproc/manager"
)

// introspector is what a *Manager, a *Client and a *RedisSession answer
// about what they hold.
type introspector interface {
	Stats(ctx context.Context) (manager.Stats, error)
	Objects(ctx context.Context) ([]manager.ObjectInfo, error)
	Inspect(ctx context.Context, name string) (manager.ObjectInfo, error)
}

// confIntrospection: Stats, Objects and Inspect show, on every engine,
// a named lock's holder (pid, held for) and its waiter of another
// session, a queue's length, the named objects with their types, and
// the sessions of this process.
func confIntrospection(ctx context.Context, t *testing.T, e *confEnv) {
	in, ok := e.s.(introspector)
	require.True(t, ok, "%T has Stats, Objects and Inspect", e.s)
	lockName, queueName := e.name("held"), e.name("items")
	lock, err := manager.OpenLock(ctx, e.s, lockName)
	require.NoError(t, err)
	require.NoError(t, lock.Acquire(ctx))
	peer, err := manager.OpenLock(ctx, e.other(t), lockName)
	require.NoError(t, err)
	blocked := within(func() error { return peer.Acquire(ctx) })
	q, err := manager.OpenQueue[string](ctx, e.s, queueName, 0)
	require.NoError(t, err)
	require.NoError(t, q.Put(ctx, "a"))
	require.NoError(t, q.Put(ctx, "b"))

	// The waiter registers asynchronously: wait until it shows.
	var info manager.ObjectInfo
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for {
		info, err = in.Inspect(ctx, lockName)
		require.NoError(t, err)
		if len(info.Waiters) == 1 {
			break
		}
		select {
		case <-ctx.Done():
			require.FailNow(t, "the blocked Acquire never showed as a waiter", "%+v", info)
		case <-tick.C:
		}
	}
	pid := os.Getpid()
	assert.Equal(t, "Lock", info.Type)
	assert.Equal(t, lockName, info.Name)
	require.True(t, info.Inspected)
	require.Len(t, info.Holders, 1)
	assert.Equal(t, pid, info.Holders[0].Pid, "the holder's process")
	assert.NotEmpty(t, info.Holders[0].Session)
	assert.GreaterOrEqual(t, info.Holders[0].HeldFor, time.Duration(0))
	assert.Equal(t, pid, info.Waiters[0].Pid, "the waiter's process")
	assert.NotEqual(t, info.Holders[0].Session, info.Waiters[0].Session, "the waiter is another session")
	if e.lease > 0 {
		token, err := lock.Token(ctx)
		require.NoError(t, err)
		assert.Equal(t, token, info.Holders[0].Token, "Redis shows the holder's fencing token")
	}

	objs, err := in.Objects(ctx)
	require.NoError(t, err)
	byName := map[string]manager.ObjectInfo{}
	for _, o := range objs {
		if o.Name != "" {
			byName[o.Name] = o
		}
	}
	require.Contains(t, byName, queueName)
	assert.Equal(t, "Queue", byName[queueName].Type)
	assert.Equal(t, 2, byName[queueName].Len)
	assert.Equal(t, 1, len(byName[lockName].Holders))

	st, err := in.Stats(ctx)
	require.NoError(t, err)
	assert.Equal(t, "Lock", st.Named[lockName])
	assert.Equal(t, "Queue", st.Named[queueName])
	assert.GreaterOrEqual(t, st.ObjectsByType["Lock"], 1)
	assert.GreaterOrEqual(t, st.Objects, 2)
	assert.GreaterOrEqual(t, st.Blocked, 1, "the blocked Acquire")
	mine := 0
	for _, s := range st.Sessions {
		if s.Pid == pid {
			mine++
		}
	}
	assert.GreaterOrEqual(t, mine, 2, "this process's two sessions: %+v", st.Sessions)

	_, err = in.Inspect(ctx, e.name("no such name"))
	assert.ErrorIs(t, err, manager.ErrNoSuchObject)

	require.NoError(t, lock.Release(ctx))
	require.NoError(t, recvErr(ctx, t, blocked))
	info, err = in.Inspect(ctx, lockName)
	require.NoError(t, err)
	require.Len(t, info.Holders, 1)
	assert.Equal(t, pid, info.Holders[0].Pid)
	assert.Empty(t, info.Waiters)
	require.NoError(t, peer.Release(ctx))
}
