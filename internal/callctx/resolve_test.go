package callctx

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestResolve(t *testing.T) {
	objects := map[uint64]any{7: "seven"}
	ctx := WithResolver(context.Background(), func(id uint64) (any, bool) {
		obj, ok := objects[id]
		return obj, ok
	})

	got, ok := Resolve(ctx, 7)
	assert.True(t, ok)
	assert.Equal(t, "seven", got)

	_, ok = Resolve(ctx, 8)
	assert.False(t, ok, "unknown id")

	_, ok = Resolve(context.Background(), 7)
	assert.False(t, ok, "no resolver installed")

	_, ok = Resolve(WithResolver(context.Background(), nil), 7)
	assert.False(t, ok, "nil resolver")

	// The resolver survives derived contexts and coexists with a caller.
	derived, cancel := context.WithCancel(With(ctx, Caller{Handle: 1}))
	defer cancel()
	got, ok = Resolve(derived, 7)
	assert.True(t, ok)
	assert.Equal(t, "seven", got)
}
