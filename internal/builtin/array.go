package builtin

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/goproc/manager/internal/callctx"
	"github.com/goproc/manager/internal/errs"
)

// Array is the server side of a shared fixed-length array, Python's
// manager.Array(): the length is set by the constructor and never
// changes. Indexes and slices follow Python's rules, as on List, and
// slice bounds are *int64 with nil for an omitted bound.
//
// The whole array has a version that changes on every write, for an
// optimistic read-modify-write of the whole array (LoadVersion,
// StoreIfVersion).
//
// Elements that carry proxies keep their objects alive while they are in
// the array (see callctx.Retain).
//
// An Array is safe for concurrent use. No method blocks.
type Array struct {
	mu      sync.Mutex           // guards the elements of items, and version
	items   []msgpack.RawMessage // the encoded elements; its length never changes
	version uint64               // changes on every write; never 0
}

// NewArray returns an array holding items; its length is len(items) from
// then on. items may be nil, for an array of length 0.
func NewArray(ctx context.Context, items []msgpack.RawMessage) (*Array, error) {
	retainAll(ctx, items)
	return &Array{items: slices.Clone(items), version: 1}, nil
}

// Len returns the fixed length of the array.
func (a *Array) Len() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.items)
}

// All returns every element, in order, in one call: a consistent
// snapshot.
func (a *Array) All() []msgpack.RawMessage {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.items)
}

// Get returns the element at index i (negative counts from the end). An
// index out of range returns an error wrapping errs.IndexOutOfRange.
func (a *Array) Get(i int64) (msgpack.RawMessage, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	k, err := listIndex(len(a.items), i, "array index")
	if err != nil {
		return nil, err
	}
	return a.items[k], nil
}

// Set sets the element at index i (negative counts from the end). An
// index out of range returns an error wrapping errs.IndexOutOfRange.
func (a *Array) Set(ctx context.Context, i int64, value msgpack.RawMessage) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	k, err := listIndex(len(a.items), i, "array assignment index")
	if err != nil {
		return err
	}
	callctx.Retain(ctx, value)
	callctx.Release(ctx, a.items[k])
	a.items[k] = value
	a.version++
	return nil
}

// GetSlice returns a[start:stop:step] with Python's slice rules; nil is
// an omitted bound. A zero step returns an error wrapping
// errs.BadArguments.
func (a *Array) GetSlice(start, stop, step *int64) ([]msgpack.RawMessage, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	s, err := listResolveSlice(len(a.items), start, stop, step)
	if err != nil {
		return nil, err
	}
	return s.get(a.items), nil
}

// SetSlice assigns values to a[start:stop:step] with Python's slice rules;
// nil is an omitted bound. The length of the array cannot change, so the
// slice must have exactly as many elements as values (whatever the step),
// else the call returns an error wrapping errs.BadArguments and changes
// nothing; so does a zero step.
func (a *Array) SetSlice(ctx context.Context, start, stop, step *int64, values []msgpack.RawMessage) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	s, err := listResolveSlice(len(a.items), start, stop, step)
	if err != nil {
		return err
	}
	if len(values) != s.n {
		return fmt.Errorf("%w: can only assign a sequence of the same size (%d values to a slice of %d)", errs.BadArguments, len(values), s.n)
	}
	s.replace(ctx, a.items, values)
	a.version++
	return nil
}

// Add atomically adds delta, an encoded integer or float, to the number at
// index i (negative counts from the end) and returns the new value,
// encoded. An index out of range returns an error wrapping
// errs.IndexOutOfRange; the numeric rules and errors are those of
// Value.Add.
func (a *Array) Add(i int64, delta msgpack.RawMessage) (msgpack.RawMessage, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	k, err := listIndex(len(a.items), i, "array index")
	if err != nil {
		return nil, err
	}
	sum, err := numericAddTo(a.items[k], delta)
	if err != nil {
		return nil, err
	}
	a.items[k] = sum // a number replaces a number: nothing to hold or release
	a.version++
	return sum, nil
}

// LoadVersion returns every element with the version of the whole array,
// in one call.
func (a *Array) LoadVersion() VersionedList {
	a.mu.Lock()
	defer a.mu.Unlock()
	return VersionedList{Items: slices.Clone(a.items), Version: a.version}
}

// StoreIfVersion replaces every element with items only if the array is
// still at version — it has not been written since LoadVersion returned
// version — and reports whether it did. items must have the array's
// length, else the call returns an error wrapping errs.BadArguments (a
// length mismatch is reported even when the version is stale).
func (a *Array) StoreIfVersion(ctx context.Context, version uint64, items []msgpack.RawMessage) (bool, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(items) != len(a.items) {
		return false, fmt.Errorf("%w: array length is %d, got %d values", errs.BadArguments, len(a.items), len(items))
	}
	if a.version != version {
		return false, nil
	}
	retainAll(ctx, items)
	releaseAll(ctx, a.items)
	copy(a.items, items)
	a.version++
	return true, nil
}
