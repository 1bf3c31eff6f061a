-- Barrier: meta 'parties', 'broken'; the parties waiting in this round in
-- P..'wa' (arrival order), the member sessions in P..'bm'. A member or a
-- waiting party whose session is dead breaks the barrier (it would never
-- come), as does a waiting party that withdraws.
TYPES = { Barrier = true }
local BM
ONCALL(function() BM = P .. 'bm' end)
local function parties() return tonumber(redis.call('HGET', MKEY, 'parties')) end
local function broken() return redis.call('HGET', MKEY, 'broken') == '1' end

local function brk()
  redis.call('HSET', MKEY, 'broken', '1')
  for _, cid in ipairs(redis.call('LRANGE', P .. 'wa', 0, -1)) do
    grant(cid, fail('broken_barrier', 'barrier wait'))
  end
  redis.call('DEL', P .. 'wa')
end

REAP = function()
  local dead = false
  for _, sid in ipairs(redis.call('SMEMBERS', BM)) do
    if not alive(sid) then
      redis.call('SREM', BM, sid)
      dead = true
    end
  end
  for _, cid in ipairs(redis.call('LRANGE', P .. 'wa', 0, -1)) do
    if not alive(sidof(cid)) then dead = true end
  end
  if dead and not broken() then brk() end
end

RECHECK = function()
  local acc = nil
  for _, sid in ipairs(redis.call('SMEMBERS', BM)) do acc = minpttl(acc, sid) end
  return acc
end

WITHDRAW = function()
  -- A waiting party gives up (its ctx ended): the barrier breaks, as
  -- Python's does on a timeout; the others get broken_barrier.
  if redis.call('LREM', P .. 'wa', 0, CID) > 0 then brk() end
end

INIT = function()
  local n = tonumber(A[1])
  if n == nil or n < 1 then
    return fail('bad_arguments', 'new barrier: parties is ' .. tostring(A[1]) .. ', want >= 1')
  end
  redis.call('HSET', MKEY, 'parties', n, 'broken', '0')
end

F.Wait = function()
  REAP()
  redis.call('SADD', BM, SID)
  touch()
  if broken() then return fail('broken_barrier', 'barrier wait') end
  local waiting = redis.call('LRANGE', P .. 'wa', 0, -1)
  local index = #waiting
  if index + 1 == parties() then
    for i, cid in ipairs(waiting) do grant(cid, ok(mint(i - 1))) end
    redis.call('DEL', P .. 'wa')
    return ok(mint(index))
  end
  return wait('wa')
end
F.Join = function() REAP(); redis.call('SADD', BM, SID); touch(); return OKNIL end
F.Leave = function() redis.call('SREM', BM, SID); return OKNIL end
F.Abort = function() brk(); return OKNIL end
F.Reset = function()
  brk()
  redis.call('HSET', MKEY, 'broken', '0')
  return OKNIL
end
F.Parties = function() return ok(mint(parties())) end
F.NWaiting = function()
  REAP()
  if broken() then return ok(mint(0)) end
  return ok(mint(redis.call('LLEN', P .. 'wa')))
end
F.Broken = function() REAP(); return ok(mbool(broken())) end
