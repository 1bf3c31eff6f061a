package callctx

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
)

// recordingHolder records what it was asked to retain and release.
type recordingHolder struct {
	retained, released []string
}

func (h *recordingHolder) Retain(raw []byte)  { h.retained = append(h.retained, string(raw)) }
func (h *recordingHolder) Release(raw []byte) { h.released = append(h.released, string(raw)) }

func TestRetainRelease(t *testing.T) {
	h := &recordingHolder{}
	ctx := WithHolder(context.Background(), h)

	Retain(ctx, []byte("a"))
	Retain(ctx, []byte("b"))
	Release(ctx, []byte("a"))
	assert.Equal(t, []string{"a", "b"}, h.retained)
	assert.Equal(t, []string{"a"}, h.released)

	// The holder survives derived contexts and coexists with a caller.
	derived, cancel := context.WithCancel(With(ctx, Caller{Handle: 1}))
	defer cancel()
	Release(derived, []byte("b"))
	assert.Equal(t, []string{"a", "b"}, h.released)
}

func TestRetainReleaseWithoutHolder(t *testing.T) {
	tests := []struct {
		name string
		ctx  context.Context
	}{
		{"no holder", context.Background()},
		{"nil holder", WithHolder(context.Background(), nil)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.NotPanics(t, func() {
				Retain(tt.ctx, []byte("a"))
				Release(tt.ctx, []byte("a"))
			})
		})
	}
}

func TestIsHolderKey(t *testing.T) {
	assert.True(t, IsHolderKey(holderKey{}))
	assert.False(t, IsHolderKey(key{}))
	assert.False(t, IsHolderKey(resolverKey{}))
}
