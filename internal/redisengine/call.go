package redisengine

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/goproc/manager/internal/errs"
)

// Call calls method on object id, of type typeid, through proxy handle
// handle, with the msgpack arguments of internal/builtin's method, and
// returns the msgpack encoding of its result — what a manager would send.
// An error wraps the internal/errs sentinel builtin's method returns, a
// ctx error, errs.NoSuchObject or errs.WrongType, or a Redis error.
//
// A blocking method blocks until it completes or ctx ends; then it is
// withdrawn (nothing consumed, nothing held) and returns an error
// wrapping ctx.Err(). Close ends it with errs.Closed.
func (s *Session) Call(ctx context.Context, id uint64, typeid string, handle uint64, method string, args []msgpack.RawMessage) ([]byte, error) {
	pc, err := s.prepare(id, typeid, handle, method, args)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if pc.fast && pc.method == pc.fam.hget {
		if res, err := s.hgetEntry(ctx, pc); res != nil || err != nil {
			return res, err
		}
	}
	if pc.fast {
		reply, err := pc.script.Run(pc.runCtx(ctx), s.rdb, pc.keys, pc.args...).Text()
		if err != nil || reply != "F" {
			return s.fastResult(pc, reply, err)
		}
		s.fellBack(id)
		s.slow(pc, handle)
	}
	if wait := s.pipeWaitFor(ctx, pc); wait > 0 {
		return s.callPiped(ctx, pc, wait)
	}
	reply, err := s.run(pc.runCtx(ctx), pc.fam, id, typeid, method, pc.handle, "c", pc.argv, pc.cid)
	if err != nil {
		return nil, s.callErr(typeid, method, err)
	}
	if reply[0] == 'W' && pc.fam.direct[method] {
		s.unwaitedOf(id).Store(0) // the next one is piped
	}
	return s.finish(ctx, pc, reply)
}

// A preparedCall is a call checked and turned into one script's run.
type preparedCall struct {
	fam            *family
	id             uint64
	typeid, method string
	handle         string // the proxy handle, in decimal
	argv           []any  // the method's arguments, as the script takes them
	cid            string // the call id (not for fast scripts)
	fast           bool   // script is one of fam.fast
	script         *redis.Script
	keys           []string
	args           []any // the script's whole ARGV
}

// runCtx is the ctx the script's round trip runs under: a call whose
// reply hands something over is not cut short (see family.consume).
func (pc *preparedCall) runCtx(ctx context.Context) context.Context {
	if pc.fam.consume[pc.method] {
		return context.WithoutCancel(ctx)
	}
	return ctx
}

// prepare checks a call (type, method, arity, session open) and returns
// the script run that starts it.
func (s *Session) prepare(id uint64, typeid string, handle uint64, method string, args []msgpack.RawMessage) (*preparedCall, error) {
	fam := familyOf(typeid)
	if fam == nil {
		return nil, errs.Errorf("%w: the Redis engine hosts the built-in types only", errs.NotSupported)
	}
	want, ok := arity[typeid][method]
	if !ok {
		return nil, errs.Errorf("%w", errs.NoSuchMethod)
	}
	if len(args) != want {
		return nil, errs.Errorf("%w: %d arguments, want %d", errs.BadArguments, len(args), want)
	}
	for i, a := range args {
		// Never a msgpack value; the scripts rely on it (a Dict's
		// counter is its values hash's field '').
		if len(a) == 0 {
			return nil, errs.Errorf("%w: argument %d is empty, not a msgpack value", errs.BadArguments, i+1)
		}
	}
	var argv []any
	var err error
	if ad := fam.adapt[method]; ad != nil {
		argv, err = ad(args)
		if err != nil {
			return nil, errs.Errorf("%w: %v", errs.BadArguments, err)
		}
	} else {
		argv = make([]any, len(args))
		for i, a := range args {
			argv[i] = []byte(a)
		}
	}
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	pc := &preparedCall{fam: fam, id: id, typeid: typeid, method: method, argv: argv}
	if sc := fam.fast[method]; sc != nil && (fam.fastTypes == nil || fam.fastTypes[typeid]) && !s.skipFast(fam, id) {
		pc.fast, pc.script, pc.keys = true, sc, s.fastKeys(fam, id)
		pc.args = make([]any, 0, 3+len(argv))
		pc.args = append(pc.args, typeid)
		if fam.fastSession {
			// The script may start holding something here (a lock): the
			// heartbeat must renew the session's lease on the object.
			s.touch(id, typeid)
			pc.args = append(pc.args, s.sid, s.leaseMS)
		}
		pc.args = append(pc.args, argv...)
		return pc, nil
	}
	s.slow(pc, handle)
	return pc, nil
}

// slow makes pc a run of its family's script (pc.script is nil then):
// the call's own path, or a fast script's fallback.
func (s *Session) slow(pc *preparedCall, handle uint64) {
	s.touch(pc.id, pc.typeid)
	pc.fast = false
	pc.cid = s.newCID()
	pc.handle = strconv.FormatUint(handle, 10)
	pc.script, pc.keys = nil, []string{s.prefix(pc.id) + "m"}
	pc.args = s.scriptArgs(pc.typeid, pc.method, pc.handle, "c", pc.argv, pc.cid)
}

// finish takes a call from its first script reply to its result: a call
// that waits ('W') blocks until granted, withdrawn or ended.
func (s *Session) finish(ctx context.Context, pc *preparedCall, reply string) ([]byte, error) {
	typeid, method := pc.typeid, pc.method
	var err error
	for reply[0] == 'W' {
		reply, err = s.block(ctx, pc.fam, pc.id, typeid, method, pc.handle, pc.cid, reply)
		if err != nil {
			return nil, s.callErr(typeid, method, err)
		}
		if reply[0] == 'L' {
			// Dropped from the waiters while its lease had lapsed: the
			// call starts again, as a new call.
			pc.cid = s.newCID()
			if reply, err = s.run(pc.runCtx(ctx), pc.fam, pc.id, typeid, method, pc.handle, "c", pc.argv, pc.cid); err != nil {
				return nil, s.callErr(typeid, method, err)
			}
		}
	}
	switch reply[0] {
	case '=':
		return []byte(reply[1:]), nil
	case 'E':
		return nil, s.callErr(typeid, method, replyError(reply))
	}
	return nil, errs.Errorf("redis engine: unexpected script reply %q", reply)
}

// callErr gives err the method's name.
func (s *Session) callErr(typeid, method string, err error) error {
	if strings.HasPrefix(err.Error(), "manager: ") {
		return fmt.Errorf("%s.%s: %w", typeid, method, err)
	}
	return err
}

// replyError turns an "E<code> <message>" reply into an error wrapping
// the sentinel of code.
func replyError(reply string) error {
	code, msg, _ := strings.Cut(reply[1:], " ")
	if e := errs.FromCode(code); e != nil {
		if msg == "" {
			return e
		}
		return fmt.Errorf("%w: %s", e, msg)
	}
	return fmt.Errorf("manager: redis engine: error %s: %s", code, msg)
}

// run runs fam's script on object id in mode with argv, and returns its
// reply (a string, see lua/prelude.lua). A script's "E" reply is returned
// as a reply for Call, but as an error for the modes Call does not use.
func (s *Session) run(ctx context.Context, fam *family, id uint64, typeid, method, handle, mode string, argv []any, cid ...string) (string, error) {
	c := ""
	if len(cid) > 0 {
		c = cid[0]
	}
	reply, err := s.runLua(ctx, fam.script, []string{s.prefix(id) + "m"}, s.scriptArgs(typeid, method, handle, mode, argv, c)...).Text()
	if err != nil {
		return "", fmt.Errorf("manager: redis: %w", err)
	}
	if reply == "" {
		return "", errors.New("manager: redis engine: empty script reply")
	}
	if reply[0] == 'E' && mode != "c" && mode != "r" && mode != "x" && mode != "X" {
		return "", replyError(reply)
	}
	return reply, nil
}

// scriptArgs returns the ARGV of a family script's run (see
// lua/prelude.lua).
func (s *Session) scriptArgs(typeid, method, handle, mode string, argv []any, cid string) []any {
	all := make([]any, 0, 7+len(argv))
	all = append(all, typeid, method, s.sid, s.leaseMS, handle, cid, mode)
	return append(all, argv...)
}
