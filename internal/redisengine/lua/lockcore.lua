-- The lock of a Lock, an RLock or a Condition, in the hash at LM with its
-- waiters in LP..'wa' (their owner and level in LP..'wx'): 'h' the holder
-- (a session id for a Lock, a session id and a proxy handle for an
-- RLock), 'c' its levels, 'tk' its fencing token (from the counter 'tok',
-- which only grows), 'at' when it took the lock (ms), 'ab' set when a
-- holder died holding the lock, 'w' set when a waiter was queued (see
-- lqueue).
local OWNER
ONCALL(function()
  OWNER = SID
  if RE then OWNER = SID .. ':' .. HANDLE end
end)

local function holder() return redis.call('HGET', LM, 'h') end

local function lreap()
  local h = holder()
  if h and not alive(string.sub(h, 1, 32)) then
    redis.call('HDEL', LM, 'h', 'c', 'tk')
    redis.call('HSET', LM, 'ab', '1')
  end
end

-- ltake gives the free lock to owner at level, with a new fencing token;
-- the reply is an abandonment error when the previous holder died
-- holding it.
local function ltake(owner, level)
  local tk = redis.call('HINCRBY', LM, 'tok', 1)
  -- 'at': when, in ms of the server's clock, for Session.Objects.
  local now = redis.call('TIME')
  redis.call('HSET', LM, 'h', owner, 'c', level or 1, 'tk', tk, 'at', now[1] * 1000 + math.floor(now[2] / 1000))
  if redis.call('HGET', LM, 'ab') == '1' then
    redis.call('HDEL', LM, 'ab')
    return fail('abandoned', 'acquire')
  end
  return OKNIL
end

-- lqueue queues waiter cid (w: its owner|level) for the lock. It sets
-- 'w', which stays until a dispatch finds the queue empty: the fast
-- scripts (call.go) read it with the holder instead of looking at the
-- queue, and leave the lock to this script while it is set.
local function lqueue(cid, w)
  redis.call('RPUSH', LP .. 'wa', cid)
  redis.call('HSET', LP .. 'wx', cid, w)
  redis.call('HSET', LM, 'w', '1')
end

local function lpopwaiter()
  while true do
    local cid = redis.call('LPOP', LP .. 'wa')
    if not cid then
      redis.call('HDEL', LM, 'w')
      return nil
    end
    local w = redis.call('HGET', LP .. 'wx', cid)
    redis.call('HDEL', LP .. 'wx', cid)
    if w and alive(sidof(cid)) then return cid, w end
  end
end

local function ldispatch()
  if holder() then return end
  local cid, w = lpopwaiter()
  if not cid then return end
  local owner, level = string.match(w, '^(.*)|(%d+)$')
  grant(cid, ltake(owner, tonumber(level)))
end

local function lrecheck()
  local h = holder()
  if h then return minpttl(nil, string.sub(h, 1, 32)) end
  return nil
end

local function lwait(level)
  touch()
  lqueue(CID, OWNER .. '|' .. level)
  local r = lrecheck()
  if r then return 'W' .. r end
  return 'W'
end

-- lsettle reaps and dispatches the lock, then gives the caller's handle
-- one more level when the lock is reentrant and the handle holds it: it
-- returns the holder, and whether the caller re-entered.
local function lsettle()
  lreap()
  ldispatch()
  local h = holder()
  if RE and h == OWNER then
    redis.call('HINCRBY', LM, 'c', 1)
    return h, true
  end
  return h, false
end

local function lacquire()
  local h, again = lsettle()
  if again then return OKNIL end
  touch()
  if not h then return ltake(OWNER) end -- free after ldispatch: nobody waits
  return lwait(1)
end
local function ltryacquire()
  local h, again = lsettle()
  if again then return ok(TRUE) end
  if h then return ok(FALSE) end
  touch()
  local r = ltake(OWNER)
  if r ~= OKNIL then return r end
  return ok(TRUE)
end
local function notheld(what)
  if RE then return fail('not_held', what .. ': this proxy does not hold the lock') end
  return fail('not_held', what .. ': this session does not hold the lock')
end
local function lrelease()
  lreap()
  if holder() ~= OWNER then return notheld('release') end
  if redis.call('HINCRBY', LM, 'c', -1) <= 0 then
    redis.call('HDEL', LM, 'h', 'c', 'tk')
    ldispatch()
  end
  return OKNIL
end
local function llocked()
  lreap()
  ldispatch()
  return ok(mbool(holder()))
end
