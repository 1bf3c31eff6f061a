-- Queue and JoinableQueue: P..'q' the items (pushed at the right, taken
-- at the left); waiting getters in P..'wa', putters in P..'wb' (their
-- items in P..'wx'), joiners in P..'wc'. An item handed to a waiting Get
-- waits in P..'p' (call id -> item) until the getter takes it with its
-- grant, so a getter that withdraws or dies first consumes nothing. A
-- JoinableQueue keeps a delivered item in P..'t:'..session until
-- TaskDone, and puts it back when that session dies; meta 'unf' counts
-- the unfinished items. Meta 'sd' is set by Shutdown: '1' shut down,
-- '2' shut down with immediate (an item that would come back, a dead
-- session's, is discarded as the queue's items were).
TYPES = { Queue = true, JoinableQueue = true }
local Q, PD, TS, WX, MAX, JQ, SD
ONCALL(function()
  Q, PD, TS, WX = P .. 'q', P .. 'p', P .. 'ts', P .. 'wx'
  MAX = tonumber(META.max or '0')
  JQ = META.jq == '1'
  SD = META.sd -- false, '1' or '2'
end, 'max', 'jq', 'sd')

local function full() return MAX > 0 and redis.call('LLEN', Q) >= MAX end
local function added() if JQ then redis.call('HINCRBY', MKEY, 'unf', 1) end end
local function takenkey(sid) return P .. 't:' .. sid end
-- joined wakes every Join once nothing is unfinished.
local function joined()
  while true do
    local cid = popwaiter('wc')
    if not cid then break end
    grant(cid, OKNIL)
  end
end
-- discarded counts n items a JoinableQueue discarded as finished.
local function discarded(n)
  if JQ and n > 0 and redis.call('HINCRBY', MKEY, 'unf', -n) == 0 then joined() end
end

REAP = function()
  local pd = redis.call('HGETALL', PD)
  for i = 1, #pd, 2 do
    if not alive(sidof(pd[i])) then
      if SD == '2' then discarded(1) else redis.call('LPUSH', Q, pd[i + 1]) end
      redis.call('HDEL', PD, pd[i])
    end
  end
  if JQ then
    for _, sid in ipairs(redis.call('SMEMBERS', TS)) do
      if not alive(sid) then
        local items = redis.call('LRANGE', takenkey(sid), 0, -1)
        if SD == '2' then
          discarded(#items)
        else
          for i = #items, 1, -1 do redis.call('LPUSH', Q, items[i]) end
        end
        redis.call('DEL', takenkey(sid))
        redis.call('SREM', TS, sid)
      end
    end
  end
end

DISPATCH = function()
  local moved = true
  while moved do
    moved = false
    while redis.call('LLEN', Q) > 0 do
      local cid = popwaiter('wa')
      if not cid then break end
      -- A GetAs waits with its shape in WX: an item it cannot decode
      -- wakes it with the error and stays for the next getter.
      local item = redis.call('LINDEX', Q, 0)
      local raw = redis.call('HGET', WX, cid)
      local bad = nil
      if raw then
        redis.call('HDEL', WX, cid)
        bad = SHAPE.fits((SHAPE.arg(raw)), item, 'it stays in the queue')
      end
      if bad then
        grant(cid, bad)
      else
        redis.call('LPOP', Q)
        redis.call('HSET', PD, cid, item)
        grant(cid, ok(item))
      end
      moved = true
    end
    while not full() do
      local cid = popwaiter('wb')
      if not cid then break end
      local item = redis.call('HGET', WX, cid)
      redis.call('HDEL', WX, cid)
      redis.call('RPUSH', Q, item)
      added()
      grant(cid, OKNIL)
      moved = true
    end
  end
end

-- A getter or joiner re-checks when the lease of a session holding items
-- may have expired (its items then come back).
RECHECK = function()
  if METHOD == 'Put' then return nil end
  local acc = nil
  local pd = redis.call('HKEYS', PD)
  for _, cid in ipairs(pd) do acc = minpttl(acc, sidof(cid)) end
  if JQ then
    for _, sid in ipairs(redis.call('SMEMBERS', TS)) do acc = minpttl(acc, sid) end
  end
  return acc
end

INIT = function()
  local max = tonumber(A[1] or '0')
  if max == nil then return fail('bad_arguments', 'maxsize is not a number') end
  redis.call('HSET', MKEY, 'max', max)
  if TYPE == 'JoinableQueue' then redis.call('HSET', MKEY, 'jq', '1', 'unf', 0) end
end

-- A getter granted an item while it waited takes it with its grant:
-- from then on it is delivered (a JoinableQueue's is this session's
-- until TaskDone).
COLLECT = function()
  local item = redis.call('HGET', PD, CID)
  if not item then return end
  redis.call('HDEL', PD, CID)
  if JQ then
    redis.call('RPUSH', takenkey(SID), item)
    redis.call('SADD', TS, SID)
    touch()
  end
end

-- take hands the front item to the caller: delivered by this reply
-- (a JoinableQueue keeps it as this session's until TaskDone).
local function take()
  local item = redis.call('LPOP', Q)
  if JQ then
    redis.call('RPUSH', takenkey(SID), item)
    redis.call('SADD', TS, SID)
    touch()
  end
  DISPATCH() -- a waiting Put may come in
  return ok(item)
end
-- getter returns Get (blocking) or TryGet, with a shape argument (GetAs,
-- TryGetAs) or without: a front item that does not fit the shape stays.
local function getter(blocking, shaped)
  return function()
    local sh, bad, raw = nil, nil, nil
    if shaped then
      raw = A[1]
      sh, bad = SHAPE.arg(raw)
      if bad then return bad end
    end
    REAP()
    DISPATCH()
    if redis.call('LLEN', Q) > 0 then
      if sh then -- (SHAPE is built on first use: not for a plain Get)
        bad = SHAPE.fits(sh, redis.call('LINDEX', Q, 0), 'it stays at the front of the queue')
        if bad then return bad end
      end
      return take()
    end
    if SD then return fail('shut_down', 'get: the queue is shut down and empty') end
    if not blocking then return fail('empty', 'get') end
    return wait('wa', raw) -- (which touches)
  end
end
F.Get = getter(true, false)
F.TryGet = getter(false, false)
F.GetAs = getter(true, true)
F.TryGetAs = getter(false, true)
local function insert(item)
  redis.call('RPUSH', Q, item)
  added()
  DISPATCH() -- to the longest-waiting Get
  return OKNIL
end
local function shut() return fail('shut_down', 'put: the queue is shut down') end
F.Put = function()
  if SD then return shut() end
  REAP()
  DISPATCH()
  if not full() then return insert(A[1]) end
  return wait('wb', A[1])
end
F.TryPut = function()
  if SD then return shut() end
  REAP()
  DISPATCH()
  if full() then return fail('full', 'put') end
  return insert(A[1])
end
F.Len = function() REAP(); DISPATCH(); return ok(mint(redis.call('LLEN', Q))) end
F.Empty = function() REAP(); DISPATCH(); return ok(mbool(redis.call('LLEN', Q) == 0)) end
F.Full = function() REAP(); DISPATCH(); return ok(mbool(full())) end
F.Cap = function() return ok(mint(MAX)) end

-- Shutdown is Python 3.13's Queue.shutdown(immediate): every waiting
-- Put and Get fails with shut_down (a Get waits only on an empty queue),
-- later Puts fail, later Gets drain what is left and then fail. With
-- immediate the items are discarded (a JoinableQueue counts them
-- finished); items got and not acknowledged stay the getters'.
F.IsShutDown = function() return ok(mbool(SD)) end
F.Shutdown = function()
  if unpack1(A[1]) == true then SD = '2' elseif not SD then SD = '1' end
  redis.call('HSET', MKEY, 'sd', SD)
  for _, list in ipairs({ 'wb', 'wa' }) do
    while true do
      local cid = popwaiter(list)
      if not cid then break end
      redis.call('HDEL', WX, cid)
      if list == 'wb' then grant(cid, shut()) else grant(cid, fail('shut_down', 'get: the queue was shut down')) end
    end
  end
  REAP()
  if SD == '2' then
    local n = redis.call('LLEN', Q)
    redis.call('DEL', Q)
    discarded(n)
  end
  return OKNIL
end

do -- a JoinableQueue's own methods
  local F = {}
  FT.JoinableQueue = F
  F.TaskDone = function()
    local item = redis.call('LPOP', takenkey(SID))
    if item then
      if redis.call('LLEN', takenkey(SID)) == 0 then redis.call('SREM', TS, SID) end
    else
      for _, sid in ipairs(redis.call('SMEMBERS', TS)) do
        item = redis.call('LPOP', takenkey(sid))
        if redis.call('LLEN', takenkey(sid)) == 0 then redis.call('SREM', TS, sid) end
        if item then break end
      end
    end
    if not item then
      return fail('bad_arguments', 'task done: called more times than items were got (task_done() called too many times)')
    end
    if redis.call('HINCRBY', MKEY, 'unf', -1) == 0 then joined() end
    return OKNIL
  end
  F.Join = function()
    REAP()
    DISPATCH()
    if tonumber(redis.call('HGET', MKEY, 'unf')) == 0 then return OKNIL end
    return wait('wc')
  end
end
