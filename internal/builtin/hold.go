package builtin

import (
	"context"
	"unsafe"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/goproc/manager/internal/callctx"
)

// A stored value (or Dict key) may carry proxies to other shared objects
// (a List proxy stored in a Dict). Like a Python container, a container
// here keeps those objects alive while it holds the value: every method
// that starts holding a value calls callctx.Retain on it before the value
// becomes visible, and every method that drops one — deleted,
// overwritten, popped, cleared, handed out by a Queue — calls
// callctx.Release on the bytes it held. The methods that do either take a
// context for it; called directly, without a server, both do nothing. A
// numeric sum (Add) replaces a number with a number, and a reordering
// (Sort, Reverse) keeps the same values, so neither holds nor releases
// anything (but a Dict.Add that creates an entry holds its key).

// retainAll calls callctx.Retain on each value.
func retainAll(ctx context.Context, values []msgpack.RawMessage) {
	for _, v := range values {
		callctx.Retain(ctx, v)
	}
}

// releaseAll calls callctx.Release on each value.
func releaseAll(ctx context.Context, values []msgpack.RawMessage) {
	for _, v := range values {
		callctx.Release(ctx, v)
	}
}

// keyBytes returns the bytes of an encoded key kept as a string, without
// copying them: Retain and Release only read them, and a copy would cost
// an allocation per new key.
func keyBytes(key string) []byte {
	return unsafe.Slice(unsafe.StringData(key), len(key))
}
