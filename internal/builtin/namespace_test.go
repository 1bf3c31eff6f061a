package builtin

import (
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/goproc/manager/internal/errs"
)

func TestNamespaceGetSetDelete(t *testing.T) {
	n, err := NewNamespace(direct, nil)
	require.NoError(t, err)
	v1, v2 := containerEncode(t, "one"), containerEncode(t, int64(2))

	assert.Equal(t, LoadResult{}, n.Get("x"))
	assert.False(t, n.Has("x"))
	n.Set(direct, "x", v1)
	assert.Equal(t, LoadResult{Value: v1, OK: true}, n.Get("x"))
	assert.True(t, n.Has("x"))
	n.Set(direct, "x", v2)
	assert.Equal(t, LoadResult{Value: v2, OK: true}, n.Get("x"))

	assert.True(t, n.Delete(direct, "x"))
	assert.False(t, n.Delete(direct, "x"))
	assert.False(t, n.Has("x"))
}

func TestNamespaceNamesItems(t *testing.T) {
	n, err := NewNamespace(direct, map[string]msgpack.RawMessage{
		"b": containerEncode(t, int64(2)),
		"a": containerEncode(t, int64(1)),
	})
	require.NoError(t, err)
	assert.Equal(t, []string{"a", "b"}, n.Names(), "initial attributes are ordered by name")

	n.Set(direct, "c", containerEncode(t, int64(3)))
	n.Set(direct, "a", containerEncode(t, int64(10))) // keeps its place
	n.Delete(direct, "b")
	n.Set(direct, "b", containerEncode(t, int64(20))) // goes last
	assert.Equal(t, []string{"a", "c", "b"}, n.Names())
	assert.Equal(t, map[string]msgpack.RawMessage{
		"a": containerEncode(t, int64(10)),
		"b": containerEncode(t, int64(20)),
		"c": containerEncode(t, int64(3)),
	}, n.Items())

	empty, err := NewNamespace(direct, nil)
	require.NoError(t, err)
	assert.Empty(t, empty.Names())
	assert.Empty(t, empty.Items())
}

func TestNamespaceAdd(t *testing.T) {
	n, err := NewNamespace(direct, nil)
	require.NoError(t, err)

	got, err := n.Add("count", containerEncode(t, int64(3)))
	require.NoError(t, err)
	assert.Equal(t, containerEncode(t, int64(3)), got, "an unset attribute counts as zero")
	got, err = n.Add("count", containerEncode(t, int64(4)))
	require.NoError(t, err)
	assert.Equal(t, containerEncode(t, int64(7)), got)
	assert.Equal(t, got, n.Get("count").Value)

	n.Set(direct, "name", containerEncode(t, "x"))
	_, err = n.Add("name", containerEncode(t, int64(1)))
	require.ErrorIs(t, err, errs.BadArguments)
	assert.Equal(t, containerEncode(t, "x"), n.Get("name").Value)
}

func TestNamespaceVersions(t *testing.T) {
	n, err := NewNamespace(direct, nil)
	require.NoError(t, err)
	v1, v2 := containerEncode(t, int64(1)), containerEncode(t, int64(2))

	assert.Equal(t, VersionedValue{}, n.LoadVersion("x"))
	assert.False(t, n.StoreIfVersion(direct, "x", 1, v1))
	assert.True(t, n.StoreIfVersion(direct, "x", 0, v1))
	assert.False(t, n.StoreIfVersion(direct, "x", 0, v2))

	got := n.LoadVersion("x")
	assert.Equal(t, v1, got.Value)
	assert.True(t, got.OK)
	assert.True(t, n.StoreIfVersion(direct, "x", got.Version, v2))
	assert.False(t, n.StoreIfVersion(direct, "x", got.Version, v1))
	assert.Equal(t, v2, n.Get("x").Value)
}

func TestNamespaceConcurrent(t *testing.T) {
	const goroutines, updates = 16, 100
	n, err := NewNamespace(direct, nil)
	require.NoError(t, err)
	var wg sync.WaitGroup
	for range goroutines {
		wg.Go(func() {
			for range updates {
				_, err := n.Add("adds", containerEncode(t, int64(1)))
				assert.NoError(t, err)
				for { // a client's Modify
					got := n.LoadVersion("rmw")
					var cur int64
					if got.OK {
						cur = containerDecode[int64](t, got.Value)
					}
					if n.StoreIfVersion(direct, "rmw", got.Version, containerEncode(t, cur+1)) {
						break
					}
				}
				n.Names()
				n.Items()
			}
		})
	}
	wg.Wait()
	assert.Equal(t, int64(goroutines*updates), containerDecode[int64](t, n.Get("adds").Value))
	assert.Equal(t, int64(goroutines*updates), containerDecode[int64](t, n.Get("rmw").Value))
}
