package builtin

import (
	"context"
	"sync"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/goproc/manager/internal/callctx"
)

// Value is the server side of a shared single value, Python's
// manager.Value(): one encoded value with a version that changes on every
// write. Unlike Python's, its read-modify-writes (Add, CompareAndSwap,
// StoreIfVersion) are atomic. A value that carries proxies keeps their
// objects alive while it is stored (see callctx.Retain).
//
// A Value is safe for concurrent use. No method blocks.
type Value struct {
	mu      sync.Mutex         // guards value and version
	value   msgpack.RawMessage // the encoded value
	version uint64             // changes on every write; never 0
}

// NewValue returns a value holding initial, the encoded initial value.
func NewValue(ctx context.Context, initial msgpack.RawMessage) (*Value, error) {
	callctx.Retain(ctx, initial)
	return &Value{value: initial, version: 1}, nil
}

// Load returns the value.
func (v *Value) Load() msgpack.RawMessage {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.value
}

// Store sets the value.
func (v *Value) Store(ctx context.Context, value msgpack.RawMessage) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.store(ctx, value)
}

// Swap sets the value and returns the previous one.
func (v *Value) Swap(ctx context.Context, value msgpack.RawMessage) msgpack.RawMessage {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.store(ctx, value)
}

// SwapAs is Swap for a caller that decodes only values of shape (see
// shape.go): a previous value that does not fit gives an error wrapping
// errs.WrongType, and value is not stored.
func (v *Value) SwapAs(ctx context.Context, value, shape msgpack.RawMessage) (msgpack.RawMessage, error) {
	s, err := parseShape(shape)
	if err != nil {
		return nil, err
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if err := fits(s, v.value, "it was not replaced"); err != nil {
		return nil, err
	}
	return v.store(ctx, value), nil
}

// CompareAndSwap sets the value to newValue if it is byte-equal to old,
// and reports whether it did.
func (v *Value) CompareAndSwap(ctx context.Context, old, newValue msgpack.RawMessage) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	if string(v.value) != string(old) {
		return false
	}
	v.store(ctx, newValue)
	return true
}

// Add atomically adds delta, an encoded integer or float, to the value and
// returns the new value, encoded.
//
// The sum keeps the stored value's kind: a float stays a float of the same
// width (any numeric delta may be added to it); a signed or unsigned
// integer stays in its family, in the same width if the sum fits and the
// next wider one otherwise; a compactly encoded integer gives a compactly
// encoded sum. Adding a float delta to an integer, an integer sum outside
// the 64-bit range of its family (no silent wrap-around, so a uint value
// cannot go below zero), or a stored value or delta that is not a number
// returns an error wrapping errs.BadArguments and changes nothing.
func (v *Value) Add(delta msgpack.RawMessage) (msgpack.RawMessage, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	sum, err := numericAddTo(v.value, delta)
	if err != nil {
		return nil, err
	}
	v.set(sum) // a number replaces a number: nothing to hold or release
	return sum, nil
}

// LoadVersion returns the value with its version. OK is always true.
func (v *Value) LoadVersion() VersionedValue {
	v.mu.Lock()
	defer v.mu.Unlock()
	return VersionedValue{Value: v.value, Version: v.version, OK: true}
}

// StoreIfVersion sets the value only if it is still at version — it has
// not been written since LoadVersion returned version — and reports
// whether it did.
func (v *Value) StoreIfVersion(ctx context.Context, version uint64, value msgpack.RawMessage) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.version != version {
		return false
	}
	v.store(ctx, value)
	return true
}

// store sets value as set does, holding it and releasing the value it
// replaces, which it returns. The caller holds mu.
func (v *Value) store(ctx context.Context, value msgpack.RawMessage) msgpack.RawMessage {
	callctx.Retain(ctx, value)
	prev := v.value
	v.set(value)
	callctx.Release(ctx, prev)
	return prev
}

// set stores value under a new version. The caller holds mu.
func (v *Value) set(value msgpack.RawMessage) {
	v.value = value
	v.version++
}
