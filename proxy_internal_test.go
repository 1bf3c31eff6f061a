package manager

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/goproc/manager/internal/wire"
)

// TestProxyEncodesAsItsRef checks that a *Proxy and the wire.ProxyRef a
// server sends in its place are the same bytes, and that those bytes
// decode into a *Proxy naming the same object.
func TestProxyEncodesAsItsRef(t *testing.T) {
	ref := wire.ProxyRef{Server: [16]byte{3}, ID: 42, TypeID: "Dict"}
	want, err := msgpack.Marshal(ref)
	require.NoError(t, err)
	got, err := msgpack.Marshal(&Proxy{ref: ref})
	require.NoError(t, err)
	assert.Equal(t, want, got)

	var p *Proxy
	require.NoError(t, msgpack.Unmarshal(want, &p))
	assert.Equal(t, ref, p.ref)
}
