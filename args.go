package manager

import (
	"bytes"
	"context"
	"fmt"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/goproc/manager/internal/wire"
)

// This file is the one path by which values travel to another process as
// a worker's (Fork) or a task's (Pool.Submit) arguments: each argument is
// encoded on its own, so that Args.Decode can decode them one by one into
// the worker's own types.

// encodedArgs are a worker's or a task's arguments, each still encoded.
// It implements Args.
type encodedArgs [][]byte

func (a encodedArgs) Len() int { return len(a) }

func (a encodedArgs) Decode(ptrs ...any) error {
	if len(ptrs) > len(a) {
		return fmt.Errorf("manager: Args.Decode: %d pointers for %d arguments", len(ptrs), len(a))
	}
	for i, p := range ptrs {
		if err := msgpack.NewDecoder(bytes.NewReader(a[i])).Decode(p); err != nil {
			return errorf("manager: Args.Decode: %w", newDecodeError(fmt.Sprintf("argument %d", i+1), p, a[i], err))
		}
	}
	return nil
}

// encodeArgs encodes each of args on its own, refusing values nested too
// deep to encode safely, and reports whether any of them carries a proxy
// (see pinArgs).
func encodeArgs(args []any) (encoded encodedArgs, hasProxies bool, err error) {
	encoded = make(encodedArgs, 0, len(args))
	for i, a := range args {
		if err := checkDepth(a); err != nil {
			return nil, false, errorf("argument %d: %w", i+1, err)
		}
		b, err := msgpack.Marshal(a)
		if err != nil {
			return nil, false, errorf("encode argument %d: %w", i+1, err)
		}
		wire.Scan(b, func(wire.ProxyRef) { hasProxies = true })
		encoded = append(encoded, b)
	}
	return encoded, hasProxies, nil
}

// pinArgs references, for this session, the objects whose proxies the
// encoded arguments carry, before they leave this process: none can then
// be freed while the other process starts (CPython gh-119937).
func (c *Client) pinArgs(ctx context.Context, args encodedArgs) error {
	raw := make([]any, len(args))
	for i, b := range args {
		raw[i] = msgpack.RawMessage(b)
	}
	return c.call(ctx, 0, 0, "pin", nil, raw...)
}
