-- Semaphore and BoundedSemaphore: meta 'val' the free permits, 'init' the
-- initial value, 'ab' the permits returned for dead sessions and not yet
-- reported; P..'sh' the permits each session holds. Waiters in P..'wa'.
TYPES = { Semaphore = true, BoundedSemaphore = true }
local BOUNDED, SH
ONCALL(function() BOUNDED, SH = TYPE == 'BoundedSemaphore', P .. 'sh' end)
local function val() return tonumber(redis.call('HGET', MKEY, 'val')) end
local function init() return tonumber(redis.call('HGET', MKEY, 'init')) end

REAP = function()
  local sh = redis.call('HGETALL', SH)
  for i = 1, #sh, 2 do
    if not alive(sh[i]) then
      local n = tonumber(sh[i + 1])
      if BOUNDED then n = math.min(n, init() - val()) end
      redis.call('HINCRBY', MKEY, 'val', n)
      redis.call('HINCRBY', MKEY, 'ab', n)
      redis.call('HDEL', SH, sh[i])
    end
  end
end

-- mark consumes one abandonment mark for a permit just taken, and
-- returns the reply the taker gets.
local function mark()
  if tonumber(redis.call('HGET', MKEY, 'ab') or '0') > 0 then
    redis.call('HINCRBY', MKEY, 'ab', -1)
    return fail('abandoned', 'acquire')
  end
  return OKNIL
end

DISPATCH = function()
  while val() > 0 do
    local cid = popwaiter('wa')
    if not cid then return end
    redis.call('HINCRBY', MKEY, 'val', -1)
    redis.call('HINCRBY', SH, sidof(cid), 1)
    grant(cid, mark())
  end
end

RECHECK = function()
  local acc = nil
  for _, sid in ipairs(redis.call('HKEYS', SH)) do acc = minpttl(acc, sid) end
  return acc
end

INIT = function()
  local v = tonumber(A[1])
  if v == nil or v < 0 then
    return fail('bad_arguments', 'new semaphore: initial value ' .. tostring(A[1]) .. ' must be >= 0')
  end
  redis.call('HSET', MKEY, 'val', v, 'init', v, 'ab', 0)
end

local function take()
  redis.call('HINCRBY', MKEY, 'val', -1)
  redis.call('HINCRBY', SH, SID, 1)
  touch()
  return mark()
end
F.Acquire = function()
  REAP()
  DISPATCH()
  if val() > 0 then return take() end -- free after DISPATCH: nobody waits
  touch()
  return wait('wa')
end
F.TryAcquire = function()
  REAP()
  DISPATCH()
  if val() == 0 then return ok(FALSE) end
  local r = take()
  if r ~= OKNIL then return r end
  return ok(TRUE)
end
F.Release = function()
  local n = unpack1(A[1])
  if type(n) ~= 'number' or n < 1 then
    return fail('bad_arguments', 'release: n is ' .. tostring(n) .. ', want n >= 1')
  end
  REAP()
  if BOUNDED and val() + n > init() then
    return fail('over_released', string.format('release: %d free + %d released > initial value %d', val(), n, init()))
  end
  local h = tonumber(redis.call('HGET', SH, SID) or '0')
  if h <= n then redis.call('HDEL', SH, SID) else redis.call('HINCRBY', SH, SID, -n) end
  redis.call('HINCRBY', MKEY, 'val', n)
  DISPATCH()
  return OKNIL
end
F.Value = function()
  REAP()
  DISPATCH()
  return ok(mint(val()))
end
