package redisengine

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"

	"github.com/redis/go-redis/v9"

	"github.com/goproc/manager/internal/errs"
)

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

// queueFast are a plain Queue's fast scripts (W3): Put with room when
// nobody waits (getters, putters), and Get or TryGet of the front item
// when, besides, no reply handed to a getter is on record (lua/queue.lua's
// REAP and DISPATCH then do nothing; a Put leaves REAP to the getters).
// KEYS: meta, items, getters, putters, replies out.
var queueFast = map[string]*redis.Script{
	"Put": redis.NewScript(fastHead("max", "sd") + `
if m[3] or redis.call('EXISTS', KEYS[3], KEYS[4]) > 0 then return 'F' end
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
