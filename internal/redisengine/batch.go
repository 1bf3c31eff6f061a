package redisengine

import (
	"context"
	"fmt"
	"sync"

	"github.com/redis/go-redis/v9"
	"github.com/vmihailenco/msgpack/v5"
)

// A BatchCall is one call of [Session.CallBatch]: what to call, and once
// CallBatch has returned, its result or error, as [Session.Call] would
// give them.
type BatchCall struct {
	ID     uint64
	TypeID string
	Handle uint64
	Method string
	Args   []msgpack.RawMessage

	Result []byte
	Err    error
}

// CallBatch runs calls in their order with one pipeline: every call's
// script is sent in one round trip (on Redis Cluster, one per node),
// with FCALL or EVALSHA as [Session.Call] would, and then each call that
// waits (a Queue.Get on an empty queue, an Acquire of a held lock)
// blocks as [Session.Call] does, all of them at once, until granted or
// ctx ends (then withdrawn). Each call gets its own result or error;
// calls of other sessions may run between them.
//
// The function libraries and scripts are loaded (FUNCTION LOAD or
// SCRIPT LOAD, on every master) the first time the session pipelines
// them, so that the calls run in their order; one whose library or
// script the server has lost since (a restart, FUNCTION FLUSH, SCRIPT
// FLUSH) is loaded again and run once more after the pipeline, out of
// order.
func (s *Session) CallBatch(ctx context.Context, calls []*BatchCall) {
	pcs := make([]*preparedCall, len(calls))
	consume := false
	for i, c := range calls {
		pc, err := s.prepare(c.ID, c.TypeID, c.Handle, c.Method, c.Args)
		if err != nil {
			c.Err = err
			continue
		}
		if pc.fast && pc.fam.fastFallback {
			s.slow(pc, c.Handle)
		}
		pcs[i] = pc
		consume = consume || pc.fam.consume[pc.method]
	}
	if err := ctx.Err(); err != nil {
		for i, c := range calls {
			if pcs[i] != nil {
				c.Err = err
			}
		}
		return
	}
	// One reply handing over an item or a lock is never cut short, so
	// neither is the pipeline that carries it.
	pctx := ctx
	if consume {
		pctx = context.WithoutCancel(ctx)
	}
	if err := s.loadScripts(pctx, pcs); err != nil {
		for i, c := range calls {
			if pcs[i] != nil {
				c.Err = s.callErr(pcs[i].typeid, pcs[i].method, fmt.Errorf("manager: redis: %w", err))
			}
		}
		return
	}
	cmds := make([]*redis.Cmd, len(calls))
	functions := s.lua.Load() != luaScripts
	s.rdb.Pipelined(pctx, func(p redis.Pipeliner) error {
		for i, pc := range pcs {
			switch {
			case pc == nil:
			case pc.script != nil:
				cmds[i] = p.EvalSha(pctx, pc.script.Hash(), pc.keys, pc.args...)
			case functions:
				cmds[i] = p.FCall(pctx, pc.fam.script.name, pc.keys, pc.args...)
			default:
				cmds[i] = p.EvalSha(pctx, pc.fam.script.script.Hash(), pc.keys, pc.args...)
			}
		}
		return nil
	})
	var wg sync.WaitGroup
	for i, c := range calls {
		pc := pcs[i]
		if pc == nil {
			continue
		}
		reply, err := cmds[i].Text()
		switch {
		case pc.script != nil && redis.HasErrorPrefix(err, "NOSCRIPT"):
			// Forgotten since loadScripts: Run loads it again.
			s.scripts.Delete(pc.script)
			reply, err = pc.script.Run(pctx, s.rdb, pc.keys, pc.args...).Text()
		case pc.script == nil && (redis.HasErrorPrefix(err, "NOSCRIPT") || isNoFunction(err) || noFunctions(err)):
			// Lost since loadScripts, or FCALL refused: runLua loads it
			// again, or runs it as a script.
			s.scripts.Delete(pc.fam.script)
			reply, err = s.runLua(pctx, pc.fam.script, pc.keys, pc.args...).Text()
		}
		switch {
		case pc.fast:
			c.Result, c.Err = s.fastResult(pc, reply, err)
		case err != nil:
			c.Err = s.callErr(pc.typeid, pc.method, fmt.Errorf("manager: redis: %w", err))
		case reply == "":
			c.Err = fmt.Errorf("manager: redis engine: empty script reply")
		case reply[0] == 'W':
			wg.Go(func() { c.Result, c.Err = s.finish(ctx, pc, reply) })
		default:
			c.Result, c.Err = s.finish(ctx, pc, reply)
		}
	}
	wg.Wait()
}

// loadScripts loads the scripts and function libraries of pcs that the
// session has not loaded yet, on every master.
func (s *Session) loadScripts(ctx context.Context, pcs []*preparedCall) error {
	for _, pc := range pcs {
		if pc == nil {
			continue
		}
		var key any = pc.script
		if pc.script == nil {
			key = pc.fam.script
		}
		if _, ok := s.scripts.Load(key); ok {
			continue
		}
		var err error
		switch {
		case pc.script != nil:
			err = pc.script.Load(ctx, s.rdb).Err()
		case s.lua.Load() != luaScripts:
			// loadLua finds out whether the server has functions.
			if err = s.loadLua(ctx, pc.fam.script); err != nil || s.lua.Load() != luaScripts {
				break
			}
			fallthrough
		default:
			err = pc.fam.script.script.Load(ctx, s.rdb).Err()
		}
		if err != nil {
			return err
		}
		s.scripts.Store(key, struct{}{})
	}
	return nil
}
