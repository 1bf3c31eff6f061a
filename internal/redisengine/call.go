package redisengine

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/goproc/manager/internal/errs"
)

//go:embed lua/*.lua
var luaFS embed.FS

// A family is the script of one or more built-in types, and how their
// arguments become the script's.
type family struct {
	script *luaScript
	// ctor turns the constructor's msgpack arguments into INIT's.
	ctor func(args []msgpack.RawMessage) ([]any, error)
	// adapt turns a method's arguments into the script's, for the
	// methods whose arguments are not passed as they are (nil: none).
	adapt map[string]func(args []msgpack.RawMessage) ([]any, error)
	// consume lists the methods whose reply hands something over (an
	// item, a lock): their script call is not cut short by ctx, so that
	// what it handed over is never lost with an unread reply.
	consume map[string]bool
	// fast holds small scripts for the hottest methods: the family's
	// script defines every method of the type on each call, which costs
	// more in Redis than the method itself. A fast script takes the keys
	// fastKeys names and ARGV typeid, [session id, lease in ms, when
	// fastSession,] arguments... It replies as the family's script would
	// (see lua/prelude.lua), or "F" when the object is in a state it does
	// not handle (waiters, a lease to check, ...): then the call runs the
	// family's script, which decides.
	fast        map[string]*redis.Script
	fastKeys    []string
	fastSession bool
	// fastFallback: the fast scripts may reply "F". A batch does not use
	// them, as a fallback would run after the batch's later calls.
	fastFallback bool
	// fastTypes limits the fast scripts to these typeids (nil: all).
	fastTypes map[string]bool
	// hget names the method that Call sends as a plain HMGET of the
	// values hash (fastKeys[1]) without a script: the field of its one
	// argument, and the counter '' that only a live Dict's values hash
	// has (see lua/dict.lua). The entry, or the counter without it, is
	// the answer; with neither the method's fast script says what the
	// object is (missing, or of another type).
	hget string
}

// fastHead starts every fast script: it reads the meta hash's fields
// ('t', the type, then fields, into m[1], m[2]...) in one HMGET and
// checks the type, with the family script's errors.
func fastHead(fields ...string) string {
	var b strings.Builder
	b.WriteString("local m = redis.call('HMGET', KEYS[1], 't'")
	for _, f := range fields {
		b.WriteString(", '" + f + "'")
	}
	b.WriteString(`)
if m[1] ~= ARGV[1] then
  local p = string.sub(KEYS[1], 1, -2)
  if not m[1] then return 'Eno_such_object object ' .. p .. ' was freed, deleted, or never created' end
  return 'Ewrong_type object ' .. p .. ' is a ' .. m[1] .. ', not a ' .. ARGV[1]
end
`)
	return b.String()
}

// fastCheck is fastHead for the Dict, whose scripts need the type only.
var fastCheck = fastHead()

// dictFast are the Dict's fast scripts: the methods of W1 (Load, Store)
// and Has. An entry of the values hash is the value's encoding followed
// by its version's (see lua/dict.lua). KEYS: meta, values, order.
var dictFast = map[string]*redis.Script{
	"Load": redis.NewScript(fastCheck + `
local v = redis.call('HGET', KEYS[2], ARGV[2])
if v then return '=\146' .. string.sub(v, 1, -10) .. '\195' end
return '=\146\192\194'`),
	"Has": redis.NewScript(fastCheck + `
if redis.call('HEXISTS', KEYS[2], ARGV[2]) == 1 then return '=\195' end
return '=\194'`),
	// Store checks the type by the counter in the values hash, which
	// only a Dict has (see lua/dict.lua): one HMGET less than fastCheck.
	"Store": redis.NewScript(`
local c = redis.call('HGET', KEYS[2], '')
if not c then
` + fastCheck + `
  return 'F'
end
local s = c + 1
local e = ARGV[3] .. '\207' .. struct.pack('>I4I4', math.floor(s / 4294967296), s % 4294967296)
if redis.call('HSET', KEYS[2], ARGV[2], e, '', s) == 1 then redis.call('ZADD', KEYS[3], s, ARGV[2]) end
return '=\192'`),
}

// entryVersionLen is the length of the version that ends an entry of a
// Dict's values hash (see lua/dict.lua).
const entryVersionLen = 9

// lockTake is a Lock's Acquire or TryAcquire (reply) of a free lock that
// nobody waits for and no dead holder abandoned: the family script's
// touch and ltake (lua/lockcore.lua), with the counter 'tok' read and
// written by the commands that read and write the rest, and the queue
// seen in 'w' (see lqueue). KEYS: meta.
func lockTake(reply string) *redis.Script {
	return redis.NewScript(fastHead("h", "ab", "w", "tok") + `
if m[2] or m[3] or m[4] then return 'F' end
if ARGV[2] ~= '' then redis.call('SET', string.sub(KEYS[1], 1, -2) .. 'l:' .. ARGV[2], '1', 'PX', ARGV[3]) end
local tk = (tonumber(m[5]) or 0) + 1
local now = redis.call('TIME')
redis.call('HSET', KEYS[1], 'h', ARGV[2], 'c', 1, 'tk', tk, 'tok', tk, 'at', now[1] * 1000 + math.floor(now[2] / 1000))
return '` + reply + `'`)
}

// lockFast are the Lock's fast scripts: W4's Acquire and Release, and
// TryAcquire. Release is fast when the caller holds the lock once and
// nobody waits for it. KEYS: meta.
var lockFast = map[string]*redis.Script{
	"Acquire":    lockTake(`=\192`),
	"TryAcquire": lockTake(`=\195`),
	"Release": redis.NewScript(fastHead("h", "c", "w") + `
if m[2] ~= ARGV[2] or m[3] ~= '1' or m[4] then return 'F' end
redis.call('HDEL', KEYS[1], 'h', 'c', 'tk')
return '=\192'`),
}

// queueFast are a plain Queue's fast scripts (W3): Put with room, and
// Get or TryGet of the front item, when nobody waits (getters, putters)
// and no item waits for a getter to collect it (lua/queue.lua's REAP and
// DISPATCH then do nothing). KEYS: meta, items, getters, putters,
// pending items.
var queueFast = map[string]*redis.Script{
	"Put": redis.NewScript(fastHead("max", "sd") + `
if m[3] or redis.call('EXISTS', KEYS[3], KEYS[4], KEYS[5]) > 0 then return 'F' end
local max = tonumber(m[2] or '0')
if max > 0 and redis.call('LLEN', KEYS[2]) >= max then return 'F' end
redis.call('RPUSH', KEYS[2], ARGV[4])
return '=\192'`),
	"Get":    queueGet,
	"TryGet": queueGet,
}

var queueGet = redis.NewScript(fastHead() + `
if redis.call('EXISTS', KEYS[3], KEYS[4], KEYS[5]) > 0 then return 'F' end
local item = redis.call('LPOP', KEYS[2])
if not item then return 'F' end
return '=' .. item`)

// mustLua returns the script of the family whose parts (files of lua/)
// are parts, the last one naming the family: lua/prelude.lua, the parts
// and lua/epilogue.lua.
func mustLua(parts ...string) *luaScript {
	var b strings.Builder
	for _, p := range append(append([]string{"prelude"}, parts...), "epilogue") {
		src, err := luaFS.ReadFile("lua/" + p + ".lua")
		if err != nil {
			panic(err)
		}
		b.Write(src)
		b.WriteByte('\n')
	}
	return newLuaScript(parts[len(parts)-1], b.String())
}

// families maps each built-in typeid to its family. It is built on first
// use (familyOf), not at init: building it (reading, joining and hashing
// the Lua sources) took 9–43 ms and 1.5 MB of every process's start —
// forked workers and manager processes included, which never use Redis.
var (
	families     = map[string]*family{}
	familiesOnce sync.Once
)

// familyOf returns typeid's family, or nil for a type that is not
// built in.
func familyOf(typeid string) *family {
	familiesOnce.Do(buildFamilies)
	return families[typeid]
}

func register(f *family, typeids ...string) {
	for _, t := range typeids {
		families[t] = f
	}
}

// noArgs is the ctor of types built without arguments.
func noArgs([]msgpack.RawMessage) ([]any, error) { return nil, nil }

// rawArgs passes the arguments on as they are.
func rawArgs(args []msgpack.RawMessage) ([]any, error) {
	out := make([]any, len(args))
	for i, a := range args {
		out[i] = []byte(a)
	}
	return out, nil
}

// pairsArg flattens one argument holding []builtin.Pair (or nil) into
// key, value, key, value...
func pairsArg(args []msgpack.RawMessage) ([]any, error) {
	if len(args) == 0 {
		return nil, nil
	}
	if len(args) != 1 {
		return nil, fmt.Errorf("want 1 argument (the pairs), got %d", len(args))
	}
	var pairs []pairRaw
	if err := msgpack.Unmarshal(args[0], &pairs); err != nil {
		return nil, fmt.Errorf("decode pairs: %w", err)
	}
	out := make([]any, 0, 2*len(pairs))
	for _, p := range pairs {
		out = append(out, []byte(p.Key), []byte(p.Value))
	}
	return out, nil
}

// pairRaw is builtin.Pair's layout: [key, value], both kept encoded.
type pairRaw struct {
	//lint:ignore U1000 msgpack reads this field's tag (as_array), never its value
	_msgpack struct{}           `msgpack:",as_array"`
	Key      msgpack.RawMessage //nolint
	Value    msgpack.RawMessage
}

// buildFamilies registers every family (see familyOf).
func buildFamilies() {
	register(&family{
		script:   mustLua("shape", "numeric", "dict"),
		ctor:     pairsArg,
		adapt:    map[string]func([]msgpack.RawMessage) ([]any, error){"Update": pairsArg, "LoadMany": listArg(0)},
		fast:     dictFast,
		fastKeys: []string{"m", "h", "z"},
		hget:     "Load",
	}, "Dict")
	register(&family{script: mustLua("shape", "numeric", "dict"), ctor: attrsArg}, "Namespace")
	register(&family{
		script: mustLua("shape", "numeric", "value"),
		ctor: func(args []msgpack.RawMessage) ([]any, error) {
			if len(args) != 1 {
				return nil, fmt.Errorf("want 1 argument (the initial value), got %d", len(args))
			}
			return rawArgs(args)
		},
	}, "Value")
	register(&family{
		script: mustLua("shape", "queue"),
		ctor: func(args []msgpack.RawMessage) ([]any, error) {
			var max int
			if len(args) > 0 {
				if err := msgpack.Unmarshal(args[0], &max); err != nil {
					return nil, fmt.Errorf("decode maxsize: %w", err)
				}
			}
			return []any{strconv.Itoa(max)}, nil
		},
		consume:     map[string]bool{"Get": true, "TryGet": true, "GetAs": true, "TryGetAs": true},
		fast:        queueFast,
		fastKeys:    []string{"m", "q", "wa", "wb", "p"},
		fastSession: true, fastFallback: true,
		fastTypes: map[string]bool{"Queue": true},
	}, "Queue", "JoinableQueue")
	acquires := map[string]bool{"Acquire": true, "TryAcquire": true, "Wait": true}
	register(&family{
		script: mustLua("locksetup", "lockcore", "lock"), ctor: noArgs, consume: acquires,
		fast: lockFast, fastKeys: []string{"m"}, fastSession: true, fastFallback: true,
		fastTypes: map[string]bool{"Lock": true},
	}, "Lock", "RLock")
	register(&family{script: mustLua("condsetup", "lockcore", "condition"), consume: acquires, ctor: func(args []msgpack.RawMessage) ([]any, error) {
		var lockID uint64
		if len(args) > 0 {
			if err := msgpack.Unmarshal(args[0], &lockID); err != nil {
				return nil, fmt.Errorf("decode the lock id: %w", err)
			}
		}
		if lockID == 0 {
			return nil, nil
		}
		return []any{lockID}, nil
	}}, "Condition")
	register(&family{script: mustLua("semaphore"), ctor: intArg("value"), consume: acquires}, "Semaphore", "BoundedSemaphore")
	register(&family{script: mustLua("event"), ctor: noArgs}, "Event")
	register(&family{
		script: mustLua("shape", "numeric", "list"),
		ctor:   listArg(0),
		adapt: map[string]func([]msgpack.RawMessage) ([]any, error){
			"Extend":         listArg(0),
			"SetSlice":       listArg(3),
			"StoreIfVersion": listArg(1),
		},
	}, "List", "Array")
	register(&family{script: mustLua("barrier"), ctor: intArg("parties")}, "Barrier")
}

// listArg passes the first n arguments as they are, then the elements of
// argument n, a []msgpack.RawMessage (or nil), one by one.
func listArg(n int) func([]msgpack.RawMessage) ([]any, error) {
	return func(args []msgpack.RawMessage) ([]any, error) {
		if len(args) < n || len(args) > n+1 {
			return nil, fmt.Errorf("want %d arguments, got %d", n+1, len(args))
		}
		out, _ := rawArgs(args[:n])
		if len(args) == n {
			return out, nil
		}
		var items []msgpack.RawMessage
		if err := msgpack.Unmarshal(args[n], &items); err != nil {
			return nil, fmt.Errorf("decode argument %d (the elements): %w", n+1, err)
		}
		for _, it := range items {
			out = append(out, []byte(it))
		}
		return out, nil
	}
}

// attrsArg is Namespace's ctor: a map of attributes (or nil), stored in
// the order of their names as internal/builtin's NewNamespace does.
func attrsArg(args []msgpack.RawMessage) ([]any, error) {
	if len(args) == 0 {
		return nil, nil
	}
	var attrs map[string]msgpack.RawMessage
	if err := msgpack.Unmarshal(args[0], &attrs); err != nil {
		return nil, fmt.Errorf("decode attributes: %w", err)
	}
	out := make([]any, 0, 2*len(attrs))
	for _, name := range slices.Sorted(maps.Keys(attrs)) {
		k, err := msgpack.Marshal(name)
		if err != nil {
			return nil, err
		}
		out = append(out, k, []byte(attrs[name]))
	}
	return out, nil
}

// intArg is the ctor of types built from one int argument.
func intArg(what string) func([]msgpack.RawMessage) ([]any, error) {
	return func(args []msgpack.RawMessage) ([]any, error) {
		if len(args) != 1 {
			return nil, fmt.Errorf("want 1 argument (%s), got %d", what, len(args))
		}
		var n int
		if err := msgpack.Unmarshal(args[0], &n); err != nil {
			return nil, fmt.Errorf("decode %s: %w", what, err)
		}
		return []any{strconv.Itoa(n)}, nil
	}
}

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
	reply, err := s.run(pc.runCtx(ctx), pc.fam, id, typeid, method, pc.handle, "c", pc.argv, pc.cid)
	if err != nil {
		return nil, s.callErr(typeid, method, err)
	}
	return s.finish(ctx, pc, reply)
}

// hgetEntry answers a call of its family's hget method with one HMGET
// (see family.hget): it returns the method's result as the fast script
// would give it, or nil and no error when the values hash is not there
// (or holds an entry the script would read alike), for the script to
// decide. A batch does not use it, as its fallback would run after the
// batch's later calls.
func (s *Session) hgetEntry(ctx context.Context, pc *preparedCall) ([]byte, error) {
	key := pc.argv[0].([]byte)
	r, err := s.rdb.HMGet(ctx, pc.keys[1], string(key), "").Result()
	if err != nil {
		return s.fastResult(pc, "", err) // worded as a fast script's
	}
	e, hit := r[0].(string)
	switch {
	case !hit && r[1] != nil:
		// The dict is there, the key is not: builtin.LoadResult [nil, false].
		return []byte{0x92, 0xc0, 0xc2}, nil
	case !hit || len(e) < entryVersionLen:
		return nil, nil
	}
	// [value, true]: the value is the entry without its version.
	v := e[:len(e)-entryVersionLen]
	res := make([]byte, 0, len(v)+2)
	res = append(res, 0x92)
	res = append(res, v...)
	return append(res, 0xc3), nil
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

// fastSkipCalls is how many calls on an object skip its fast scripts
// after one fell back: an object in a state they leave to the family's
// script (a queue whose getters wait, a contended lock) tends to stay
// so, and each fallback costs a round trip.
const fastSkipCalls = 8

// skipFast reports whether a call on object id skips fam's fast scripts
// (see fastSkipCalls). Either way the call's result is the same.
func (s *Session) skipFast(fam *family, id uint64) bool {
	if !fam.fastFallback {
		return false
	}
	v, ok := s.fastSkip.Load(id)
	if !ok {
		return false
	}
	n := v.(*atomic.Int32)
	if n.Load() <= 0 {
		return false
	}
	n.Add(-1)
	return true
}

// fellBack records that a fast script on object id fell back.
func (s *Session) fellBack(id uint64) {
	v, ok := s.fastSkip.Load(id)
	if !ok {
		v, _ = s.fastSkip.LoadOrStore(id, new(atomic.Int32))
	}
	v.(*atomic.Int32).Store(fastSkipCalls)
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

// fastKeys returns the keys of object id's fast scripts.
func (s *Session) fastKeys(fam *family, id uint64) []string {
	if v, ok := s.keys.Load(id); ok {
		return v.([]string)
	}
	p := s.prefix(id)
	keys := make([]string, len(fam.fastKeys))
	for i, k := range fam.fastKeys {
		keys[i] = p + k
	}
	s.keys.Store(id, keys)
	return keys
}

// fastResult turns a fast script's reply into the call's result.
func (s *Session) fastResult(pc *preparedCall, reply string, err error) ([]byte, error) {
	if err != nil {
		return nil, s.callErr(pc.typeid, pc.method, fmt.Errorf("redis: %w", err))
	}
	switch {
	case reply == "":
	case reply[0] == '=':
		return []byte(reply[1:]), nil
	case reply[0] == 'E':
		return nil, s.callErr(pc.typeid, pc.method, replyError(reply))
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

// block waits for the grant of waiting call cid: it blocks in BLPOP on the
// call's own signal list, which is pushed by whoever grants the call, by
// ctx's end or Close (then the call is withdrawn), and by a timer when a
// holder's lease may have expired (then the call re-checks).
func (s *Session) block(ctx context.Context, fam *family, id uint64, typeid, method, h, cid, reply string) (string, error) {
	key := s.tag(id) + "s:" + cid
	// The script calls outlive ctx: a withdrawal must run after ctx ended.
	bg := context.WithoutCancel(ctx)
	over := make(chan struct{}) // closed when the wait is over
	defer close(over)
	// wake pushes the call's signal. When Redis does not answer (stalled,
	// partitioned) it tries again until the signal is in or the wait is
	// over: a signal lost while Redis was stopped left a Get whose
	// deadline had passed waiting in BLPOP for as long as no item came.
	wake := func() {
		for {
			wctx, cancel := context.WithTimeout(bg, s.lease)
			_, err := s.rdb.Pipelined(wctx, func(p redis.Pipeliner) error {
				p.LPush(wctx, key, "w")
				p.PExpire(wctx, key, time.Minute)
				return nil
			})
			cancel()
			if err == nil {
				return
			}
			retry := time.NewTimer(withdrawRetry)
			select {
			case <-over:
				retry.Stop()
				return
			case <-retry.C:
			}
		}
	}
	stopCtx := context.AfterFunc(ctx, wake)
	defer stopCtx()
	stopClose := context.AfterFunc(s.closeCtx, wake)
	defer stopClose()
	// A withdrawal may keep waiting (a Condition.Wait takes its lock
	// back): then it gets a grace period, after which it gives up.
	withdrawn := false
	var graceOver chan struct{}
	var graceTimer *time.Timer
	defer func() {
		if graceTimer != nil {
			graceTimer.Stop()
		}
	}()
	for {
		var timer *time.Timer
		if ms := reply[1:]; ms != "" {
			n, _ := strconv.Atoi(ms)
			// A little after the lease would expire, so that the check
			// finds it expired.
			timer = time.AfterFunc(time.Duration(n)*time.Millisecond+5*time.Millisecond, wake)
		}
		// A lease at most, so that a Redis that stopped answering is
		// noticed (the read then fails) rather than waited for without end.
		bctx, cancel := context.WithTimeout(bg, s.lease+blpopMargin)
		_, err := s.rdb.BLPop(bctx, s.lease, key).Result()
		cancel()
		if timer != nil {
			timer.Stop()
		}
		if err == redis.Nil {
			err = nil // no signal for a lease: look again (mode "r")
		}
		if err != nil {
			// The wait broke (the connection, or Redis restarting):
			// withdraw, keeping a grant.
			r, werr := s.withdraw(bg, fam, id, typeid, method, h, cid)
			if werr == nil && r[0] != 'C' && r[0] != 'W' {
				return r, nil
			}
			return "", fmt.Errorf("redis: %w", err)
		}
		mode := "r"
		switch {
		case withdrawn && graceOver != nil && isClosed(graceOver):
			mode = "X"
		case !withdrawn && (ctx.Err() != nil || s.closeCtx.Err() != nil):
			mode, withdrawn = "x", true
		}
		reply, err = s.run(bg, fam, id, typeid, method, h, mode, nil, cid)
		if err != nil {
			return "", err
		}
		switch reply[0] {
		case 'L':
			return reply, nil
		case 'W':
			if withdrawn && graceOver == nil {
				graceOver = make(chan struct{})
				done := graceOver
				graceTimer = time.AfterFunc(withdrawGrace, func() { close(done); wake() })
			}
			continue
		case 'C':
			err := ctx.Err()
			if s.closeCtx.Err() != nil && err == nil {
				err = errs.Closed
			}
			if graceOver != nil {
				return "", fmt.Errorf("%w; the lock was not re-acquired: %w", err, errs.NotHeld)
			}
			return "", err
		}
		if withdrawn && typeid == "Condition" && method == "Wait" {
			// The lock is held again, but the wait itself ended with ctx.
			err := ctx.Err()
			if err == nil {
				err = errs.Closed
			}
			if reply[0] == 'E' {
				return "", fmt.Errorf("%w (lock held again): %w", err, replyError(reply))
			}
			return "", fmt.Errorf("%w (lock held again)", err)
		}
		return reply, nil
	}
}

// withdraw withdraws waiting call cid for good (mode "X"), retrying for a
// lease while Redis cannot be reached: a registration left behind could
// later be granted an item or a lock that nobody takes (until the
// session ends).
func (s *Session) withdraw(ctx context.Context, fam *family, id uint64, typeid, method, h, cid string) (string, error) {
	deadline := time.Now().Add(s.lease)
	for {
		r, err := s.run(ctx, fam, id, typeid, method, h, "X", nil, cid)
		if err == nil || errors.Is(err, errs.NoSuchObject) || time.Now().After(deadline) {
			return r, err
		}
		s.withdrawFailures.Add(1)
		retry := time.NewTimer(withdrawRetry)
		select {
		case <-retry.C:
		case <-s.closeCtx.Done():
			retry.Stop()
			return r, err
		}
	}
}

// blpopMargin is how long past its timeout a BLPOP's reply may take
// before the wait counts Redis as unreachable.
const blpopMargin = 2 * time.Second

// withdrawRetry is the pause between two attempts of withdraw (and of a
// waiter's wake-up signal).
const withdrawRetry = 50 * time.Millisecond

// withdrawGrace bounds how long a Condition.Wait whose ctx has ended
// still waits to take its lock back, as internal/builtin's does.
const withdrawGrace = time.Second

func isClosed(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}
