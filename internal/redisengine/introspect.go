package redisengine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/goproc/manager/internal/errs"
)

// Introspection: what a namespace holds and who takes part, read from
// the keys the scripts keep — read-only, for debugging a program that
// hangs. Nothing here changes an object (a dead holder is shown until
// the next call on its object releases what it held).

// SessionInfo is one live session of a namespace, from its
// "{ns}:sess:<sid>" key, which the heartbeat renews.
type SessionInfo struct {
	ID      string
	Pid     int
	Host    string
	Started time.Time
}

// ObjectInfo is one object of a namespace.
type ObjectInfo struct {
	ID        uint64
	Name      string
	Type      string
	Refs      map[string]int // session id → references
	Inspected bool           // the fields below apply to Type
	Len       int            // a queue's items; a semaphore's free permits
	Parties   int            // a barrier's parties
	Holders   []Holding      // a lock's holder; a semaphore's permit holders
	Waiters   []string       // session ids of blocked Acquires, or of a barrier's waiting parties
	Getters   []string       // a queue's blocked Gets
	Putters   []string       // a queue's blocked Puts
	Unacked   []Holding      // a JoinableQueue's items got and not acknowledged
}

// Holding is what one session holds: Count levels, permits or items; a
// lock's holder has held it for HeldFor (by the Redis server's clock),
// with fencing token Token.
type Holding struct {
	Session string
	Count   int
	HeldFor time.Duration
	Token   uint64
}

// sessionKey is the key naming a live session, with its pid and host.
func (s *Session) sessionKey(sid string) string { return s.nsKey("sess:" + sid) }

// announce writes (or renews) the session's own key: pid, host and start,
// expiring a lease after the last heartbeat.
func (s *Session) announce(ctx context.Context, p redis.Cmdable) {
	host, _ := os.Hostname()
	k := s.sessionKey(s.sid)
	p.HSet(ctx, k, "pid", os.Getpid(), "host", host, "start", s.started.UnixMilli())
	p.PExpire(ctx, k, s.lease)
}

// Sessions returns the live sessions of the namespace (those whose
// heartbeat ran within a lease), by id. It SCANs the namespace's slot.
func (s *Session) Sessions(ctx context.Context) ([]SessionInfo, error) {
	c, err := s.slotClient(ctx, s.nsKey("sess"))
	if err != nil {
		return nil, err
	}
	var out []SessionInfo
	prefix := s.nsKey("sess:")
	it := c.Scan(ctx, 0, globEscape(prefix)+"*", 1000).Iterator()
	for it.Next(ctx) {
		m, err := c.HGetAll(ctx, it.Val()).Result()
		if err != nil {
			return nil, fmt.Errorf("manager: redis sessions: %w", err)
		}
		if len(m) == 0 {
			continue // expired since the SCAN
		}
		pid, _ := strconv.Atoi(m["pid"])
		start, _ := strconv.ParseInt(m["start"], 10, 64)
		out = append(out, SessionInfo{ID: strings.TrimPrefix(it.Val(), prefix), Pid: pid, Host: m["host"], Started: time.UnixMilli(start)})
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("manager: redis sessions: %w", err)
	}
	slices.SortFunc(out, func(a, b SessionInfo) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

// slotClient returns the client of the node that serves key's slot: rdb
// itself unless it is a cluster client.
func (s *Session) slotClient(ctx context.Context, key string) (redis.Cmdable, error) {
	switch c := s.rdb.(type) {
	case *redis.ClusterClient:
		n, err := c.MasterForKey(ctx, key)
		if err != nil {
			return nil, fmt.Errorf("manager: redis: %w", err)
		}
		return n, nil
	case *redis.Client:
		return c, nil
	}
	return nil, fmt.Errorf("manager: introspection: %w: a %T (use a *redis.Client or *redis.ClusterClient)", errs.NotSupported, s.rdb)
}

// Objects returns every object of the namespace, named ones and the
// unnamed ones of the sweep's registry, in id order: their types and
// names, who references them and, for locks, semaphores, queues and
// barriers, who holds and who waits. It costs a scan of the registries
// and one script per object, pipelined (on a Cluster, per node).
func (s *Session) Objects(ctx context.Context) ([]ObjectInfo, error) {
	ids := map[uint64]string{}
	it := s.rdb.HScan(ctx, s.nsKey("names"), 0, "", 1000).Iterator()
	for it.Next(ctx) {
		name := it.Val()
		if !it.Next(ctx) {
			break
		}
		if id, err := strconv.ParseUint(it.Val(), 10, 64); err == nil {
			ids[id] = name
		}
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("manager: redis objects: %w", err)
	}
	sit := s.rdb.SScan(ctx, s.nsKey("objs"), 0, "", 1000).Iterator()
	for sit.Next(ctx) {
		if id, err := strconv.ParseUint(sit.Val(), 10, 64); err == nil {
			if _, ok := ids[id]; !ok {
				ids[id] = ""
			}
		}
	}
	if err := sit.Err(); err != nil {
		return nil, fmt.Errorf("manager: redis objects: %w", err)
	}
	order := slices.Sorted(func(yield func(uint64) bool) {
		for id := range ids {
			if !yield(id) {
				return
			}
		}
	})
	return s.inspectIDs(ctx, order)
}

// Inspect returns the object named name, as Objects does, or an error
// wrapping errs.NoSuchObject.
func (s *Session) Inspect(ctx context.Context, name string) (ObjectInfo, error) {
	text, err := s.rdb.HGet(ctx, s.nsKey("names"), name).Result()
	if errors.Is(err, redis.Nil) {
		return ObjectInfo{}, fmt.Errorf("%w: no object named %q", errs.NoSuchObject, name)
	}
	if err != nil {
		return ObjectInfo{}, fmt.Errorf("manager: redis inspect: %w", err)
	}
	id, err := strconv.ParseUint(text, 10, 64)
	if err != nil {
		return ObjectInfo{}, fmt.Errorf("manager: redis inspect: bad id %q under name %q", text, name)
	}
	infos, err := s.inspectIDs(ctx, []uint64{id})
	if err != nil {
		return ObjectInfo{}, err
	}
	if len(infos) == 0 {
		return ObjectInfo{}, fmt.Errorf("%w: object %q was deleted", errs.NoSuchObject, name)
	}
	return infos[0], nil
}

// inspectIDs runs inspectScript on each object of ids in one pipeline,
// and returns those that still exist.
func (s *Session) inspectIDs(ctx context.Context, ids []uint64) ([]ObjectInfo, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	if err := inspectScript.Load(ctx, s.rdb).Err(); err != nil {
		return nil, fmt.Errorf("manager: redis objects: %w", err)
	}
	cmds := make([]*redis.Cmd, len(ids))
	s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			cmds[i] = p.EvalSha(ctx, inspectScript.Hash(), []string{s.prefix(id) + "m"})
		}
		return nil
	})
	out := make([]ObjectInfo, 0, len(ids))
	for i, id := range ids {
		raw, err := cmds[i].Text()
		if redis.HasErrorPrefix(err, "NOSCRIPT") {
			raw, err = inspectScript.Run(ctx, s.rdb, []string{s.prefix(id) + "m"}).Text()
		}
		if err != nil {
			return nil, fmt.Errorf("manager: redis objects: %w", err)
		}
		if raw == "" {
			continue // freed or deleted meanwhile
		}
		var r inspectReply
		if err := msgpack.Unmarshal([]byte(raw), &r); err != nil {
			return nil, fmt.Errorf("manager: redis objects: object %d: %w", id, err)
		}
		out = append(out, r.info(id))
	}
	return out, nil
}

// inspectReply is what inspectScript returns, cmsgpack-encoded.
type inspectReply struct {
	T         string     `msgpack:"t"`
	Now       int64      `msgpack:"now"` // the server's clock, ms
	Name      string     `msgpack:"name"`
	Refs      []sidCount `msgpack:"refs"`
	Inspected bool       `msgpack:"inspected"`
	Len       int        `msgpack:"len"`
	Parties   int        `msgpack:"parties"`
	Holders   []sidCount `msgpack:"holders"`
	Unacked   []sidCount `msgpack:"unacked"`
	Waiters   []string   `msgpack:"waiters"`
	Getters   []string   `msgpack:"getters"`
	Putters   []string   `msgpack:"putters"`
}

// sidCount is a session and what it holds: [sid, count, since ms, token].
type sidCount struct {
	//lint:ignore U1000 msgpack reads this field's tag (as_array), never its value
	_msgpack struct{} `msgpack:",as_array"`
	Sid      string
	Count    int
	At       int64
	Token    uint64
}

func (r *inspectReply) info(id uint64) ObjectInfo {
	hold := func(xs []sidCount) []Holding {
		var out []Holding
		for _, x := range xs {
			h := Holding{Session: x.Sid, Count: x.Count, Token: x.Token}
			if x.At > 0 {
				h.HeldFor = time.Duration(max(0, r.Now-x.At)) * time.Millisecond
			}
			out = append(out, h)
		}
		return out
	}
	info := ObjectInfo{
		ID: id, Name: r.Name, Type: r.T, Refs: map[string]int{}, Inspected: r.Inspected,
		Len: r.Len, Parties: r.Parties, Holders: hold(r.Holders), Unacked: hold(r.Unacked),
		Waiters: r.Waiters, Getters: r.Getters, Putters: r.Putters,
	}
	for _, x := range r.Refs {
		info.Refs[x.Sid] = x.Count
	}
	return info
}

// inspectScript reads one object's state (KEYS[1] its meta hash) without
// changing it: the layouts are those of lua/*.lua. A waiter is shown by
// its session (the first 32 characters of its call id); waiters of dead
// sessions are left out, a dead holder is shown until it is reaped.
var inspectScript = redis.NewScript(`
local M = KEYS[1]
local P = string.sub(M, 1, -2)
local t = redis.call('HGET', M, 't')
if not t then return '' end
local function alive(sid) return redis.call('EXISTS', P .. 'l:' .. sid) == 1 end
local function sids(list)
  local o = {}
  for _, cid in ipairs(redis.call('LRANGE', P .. list, 0, -1)) do
    local sid = string.sub(cid, 1, 32)
    if alive(sid) then o[#o + 1] = sid end
  end
  return o
end
local now = redis.call('TIME')
local out = { t = t, name = redis.call('HGET', M, 'n') or '', refs = {}, inspected = false,
  now = now[1] * 1000 + math.floor(now[2] / 1000) }
local r = redis.call('HGETALL', P .. 'r')
for i = 1, #r, 2 do out.refs[#out.refs + 1] = { r[i], tonumber(r[i + 1]), 0, 0 } end
if t == 'Lock' or t == 'RLock' then
  local h = redis.call('HMGET', M, 'h', 'c', 'tk', 'at')
  out.holders = {}
  if h[1] then out.holders[1] = { string.sub(h[1], 1, 32), tonumber(h[2] or '1'), tonumber(h[4] or '0'), tonumber(h[3] or '0') } end
  out.waiters, out.inspected = sids('wa'), true
elseif t == 'Semaphore' or t == 'BoundedSemaphore' then
  out.len = tonumber(redis.call('HGET', M, 'val') or '0')
  out.holders = {}
  local sh = redis.call('HGETALL', P .. 'sh')
  for i = 1, #sh, 2 do out.holders[#out.holders + 1] = { sh[i], tonumber(sh[i + 1]), 0, 0 } end
  out.waiters, out.inspected = sids('wa'), true
elseif t == 'Queue' or t == 'JoinableQueue' then
  out.len = redis.call('LLEN', P .. 'q')
  out.getters, out.putters, out.unacked = sids('wa'), sids('wb'), {}
  for _, sid in ipairs(redis.call('SMEMBERS', P .. 'ts')) do
    local n = redis.call('LLEN', P .. 't:' .. sid)
    if n > 0 then out.unacked[#out.unacked + 1] = { sid, n, 0, 0 } end
  end
  out.inspected = true
elseif t == 'Barrier' then
  out.parties = tonumber(redis.call('HGET', M, 'parties') or '0')
  out.waiters, out.inspected = sids('wa'), true
end
return cmsgpack.pack(out)`)
