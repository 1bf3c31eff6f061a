package manager

import (
	"bytes"
	"context"
	"fmt"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/goproc/manager/internal/errs"
	"github.com/goproc/manager/internal/redisengine"
	"github.com/goproc/manager/internal/wire"
)

// flushBatch is Batch.Flush on a RedisSession: every call's script goes
// out in one go-redis pipeline (one round trip; on a Cluster, one per
// node), in the order the calls were queued; the calls that wait then
// block all at once, each withdrawn if ctx ends first, as a single call
// is. Each call keeps its own result or error.
func (r *RedisSession) flushBatch(ctx context.Context, calls []*batchCall, buf []byte) error {
	if r.closed.Load() {
		return fmt.Errorf("manager: batch: %w", ErrClosed)
	}
	var sent []*batchCall
	var bcs []*redisengine.BatchCall
	for _, call := range calls {
		if call.err != nil {
			continue
		}
		args, err := splitArgs(buf[call.start+wire.HeaderSize+call.argsAt : call.end])
		if err != nil {
			call.err = &opError{call.op, errs.Errorf("%w: %v", ErrProtocol, err)}
			continue
		}
		if err := r.checkSize(args); err != nil {
			call.err = &opError{call.op, err}
			continue
		}
		sent = append(sent, call)
		bcs = append(bcs, &redisengine.BatchCall{ID: call.object, TypeID: call.typeid, Handle: call.handle, Method: call.method, Args: args})
	}
	if len(bcs) == 0 {
		return nil
	}
	r.s.CallBatch(ctx, bcs)
	for i, call := range sent {
		bc := bcs[i]
		call.answered = true
		if bc.Err != nil {
			call.err = &opError{call.op, redisError(ctx, bc.Err)}
			continue
		}
		call.err = r.decode(ctx, call.op, bc.Result, call.out)
	}
	return nil
}

// splitArgs splits a request's encoded argument array into its
// arguments.
func splitArgs(b []byte) ([]msgpack.RawMessage, error) {
	dec := msgpack.GetDecoder()
	defer msgpack.PutDecoder(dec)
	dec.Reset(bytes.NewReader(b))
	n, err := dec.DecodeArrayLen()
	if err != nil {
		return nil, err
	}
	args := make([]msgpack.RawMessage, max(n, 0))
	for i := range args {
		if args[i], err = dec.DecodeRaw(); err != nil {
			return nil, err
		}
	}
	return args, nil
}
