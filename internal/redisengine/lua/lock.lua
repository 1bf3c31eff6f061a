-- Lock and RLock: meta 'h' the holder (a session id for a Lock, a
-- session id and a proxy handle for an RLock), 'c' its levels, 'tk' its
-- fencing token (from the counter 'tok', which only grows), 'ab' set when
-- a holder died holding the lock. Waiters in P..'wa', their owners in
-- P..'wx'.
TYPES = { Lock = true, RLock = true }
local RE = TYPE == 'RLock'
local OWNER = SID
if RE then OWNER = SID .. ':' .. HANDLE end

local function holder() return redis.call('HGET', MKEY, 'h') end

REAP = function()
  local h = holder()
  if h and not alive(string.sub(h, 1, 32)) then
    redis.call('HDEL', MKEY, 'h', 'c', 'tk')
    redis.call('HSET', MKEY, 'ab', '1')
  end
end

-- take gives the free lock to owner, with a new fencing token; the reply
-- is an abandonment error when the previous holder died holding it.
local function take(owner)
  local tk = redis.call('HINCRBY', MKEY, 'tok', 1)
  redis.call('HSET', MKEY, 'h', owner, 'c', 1, 'tk', tk)
  if redis.call('HGET', MKEY, 'ab') == '1' then
    redis.call('HDEL', MKEY, 'ab')
    return fail('abandoned', 'acquire')
  end
  return OKNIL
end

DISPATCH = function()
  if holder() then return end
  local cid = popwaiter('wa')
  if not cid then return end
  local owner = redis.call('HGET', P .. 'wx', cid)
  redis.call('HDEL', P .. 'wx', cid)
  grant(cid, take(owner))
end

RECHECK = function()
  local h = holder()
  if h then return minpttl(nil, string.sub(h, 1, 32)) end
  return nil
end

F.Acquire = function()
  REAP()
  DISPATCH()
  local h = holder()
  if RE and h == OWNER then
    redis.call('HINCRBY', MKEY, 'c', 1)
    return OKNIL
  end
  touch()
  if not h then return take(OWNER) end -- free after DISPATCH: nobody waits
  return wait('wa', OWNER)
end
F.TryAcquire = function()
  REAP()
  DISPATCH()
  local h = holder()
  if RE and h == OWNER then
    redis.call('HINCRBY', MKEY, 'c', 1)
    return ok(TRUE)
  end
  if h then return ok(FALSE) end
  touch()
  local r = take(OWNER)
  if r ~= OKNIL then return r end
  return ok(TRUE)
end
F.Release = function()
  REAP()
  if holder() ~= OWNER then
    if RE then return fail('not_held', 'release: this proxy does not hold the lock') end
    return fail('not_held', 'release: this session does not hold the lock')
  end
  if redis.call('HINCRBY', MKEY, 'c', -1) <= 0 then
    redis.call('HDEL', MKEY, 'h', 'c', 'tk')
    DISPATCH()
  end
  return OKNIL
end
F.Locked = function()
  REAP()
  DISPATCH()
  return ok(mbool(holder()))
end
-- Token returns the fencing token of the caller's hold: it grows with
-- every acquisition of a free lock, so a resource that remembers the
-- highest token it has seen can refuse a holder that lost the lock.
F.Token = function()
  if holder() ~= OWNER then return fail('not_held', 'token: the caller does not hold the lock') end
  return ok(muint64(tonumber(redis.call('HGET', MKEY, 'tk'))))
end
