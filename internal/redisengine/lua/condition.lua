-- Condition: waiters for a notification in P..'wb' (their owner and lock
-- level in P..'wx'). Notify moves them to the lock's queue, so that they
-- take the lock back, in order, when the notifier releases it.
REAP = lreap
DISPATCH = ldispatch
RECHECK = lrecheck

INIT = function()
  if A[1] and A[1] ~= '' then redis.call('HSET', MKEY, 'lp', A[1], 'lt', A[2]) end
end

F.Acquire = lacquire
F.TryAcquire = ltryacquire
F.Release = lrelease

F.Wait = function()
  lreap()
  if holder() ~= OWNER then return notheld('condition wait') end
  local level = redis.call('HGET', LM, 'c')
  redis.call('HDEL', LM, 'h', 'c', 'tk')
  ldispatch()
  touch()
  redis.call('RPUSH', P .. 'wb', CID)
  redis.call('HSET', P .. 'wx', CID, OWNER .. '|' .. level)
  -- kept until the wait ends, to take the lock back at this level even if
  -- the waiter was dropped from the queues meanwhile (see LOST)
  redis.call('HSET', P .. 'lv', CID, OWNER .. '|' .. level)
  return 'W' .. (lrecheck() or '')
end

COLLECT = function() redis.call('HDEL', P .. 'lv', CID) end
-- A Wait dropped as dead takes the lock back as if notified (a spurious
-- wake-up, which a condition allows); a dropped Acquire calls again.
LOST = function()
  if inlist(P .. 'wb') or inlist(LP .. 'wa') then return false end
  local w = redis.call('HGET', P .. 'lv', CID)
  if not w then return true end
  lqueue(CID, w)
  ldispatch()
  return false
end

local function notify(n)
  for _ = 1, n do
    local cid = popwaiter('wb')
    if not cid then return end
    local w = redis.call('HGET', P .. 'wx', cid)
    redis.call('HDEL', P .. 'wx', cid)
    lqueue(cid, w)
  end
end
F.Notify = function()
  local n = unpack1(A[1])
  if type(n) ~= 'number' or n < 0 then
    return fail('bad_arguments', 'notify: n is ' .. tostring(n) .. ', want n >= 0')
  end
  if holder() ~= OWNER then return notheld('notify') end
  notify(n)
  return OKNIL
end
F.NotifyAll = function()
  if holder() ~= OWNER then return notheld('notify all') end
  notify(redis.call('LLEN', P .. 'wb'))
  return OKNIL
end

-- A Wait whose ctx ended stops waiting for a notification but still takes
-- the lock back (mode 'x'), until the caller gives up (mode 'X', after a
-- grace of a second); an Acquire just leaves the lock's queue.
WITHDRAW = function()
  if redis.call('LREM', P .. 'wb', 0, CID) > 0 then
    local w = redis.call('HGET', P .. 'wx', CID)
    redis.call('HDEL', P .. 'wx', CID)
    if MODE == 'X' then
      redis.call('HDEL', P .. 'lv', CID)
      return 'C'
    end
    lqueue(CID, w)
    ldispatch()
    local g = redis.call('HGET', T .. 'g', CID)
    if g then
      redis.call('HDEL', T .. 'g', CID)
      redis.call('DEL', T .. 's:' .. CID)
      return g
    end
    return 'W' .. (lrecheck() or '')
  end
  if METHOD == 'Wait' and MODE == 'x' then
    notify(1) -- notified as its ctx ended: the notification goes on
    return 'W' .. (lrecheck() or '')
  end
  redis.call('LREM', LP .. 'wa', 0, CID)
  redis.call('HDEL', LP .. 'wx', CID)
  redis.call('HDEL', P .. 'lv', CID)
  redis.call('DEL', T .. 's:' .. CID)
  ldispatch()
  return 'C'
end
