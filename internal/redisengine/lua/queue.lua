-- Queue and JoinableQueue: P..'q' the items (pushed at the right, taken
-- at the left); waiting getters in P..'wa', putters in P..'wb' (their
-- items in P..'wx'), joiners in P..'wc'. An item handed to a waiting Get
-- goes straight into the getter's reply list T..'r:'..cid, which the
-- getter's BLPOP pops: that pop is the delivery, with no second script.
-- P..'p' records the call ids with a reply out (cid -> '1'): REAP gives
-- back the item of a getter that died before its pop, and forgets the
-- calls whose reply was popped. A JoinableQueue keeps a delivered item
-- in P..'t:'..session until TaskDone (from its hand-over on), and puts
-- it back when that session dies; meta 'unf' counts the unfinished
-- items. Meta 'sd' is set by Shutdown: '1' shut down,
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

local function replykey(cid) return T .. 'r:' .. cid end
-- REAP returns true when it put an item back.
REAP = function()
  local back = false
  for _, cid in ipairs(redis.call('HKEYS', PD)) do
    local rk = replykey(cid)
    if redis.call('EXISTS', rk) == 0 then
      redis.call('HDEL', PD, cid) -- popped: delivered
    elseif not alive(sidof(cid)) then
      local reply = redis.call('LPOP', rk)
      -- (A JoinableQueue's item is in the getter's taken list: it comes
      -- back with that list, below.)
      if not JQ and SD ~= '2' then
        redis.call('LPUSH', Q, string.sub(reply, 2))
        back = true
      end
      redis.call('HDEL', PD, cid)
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
          back = back or #items > 0
        end
        redis.call('DEL', takenkey(sid))
        redis.call('SREM', TS, sid)
      end
    end
  end
  return back
end

-- deliver puts reply, "=" and an item taken for call cid, in the call's
-- reply list, recorded in PD (see the top).
local function deliver(cid, reply)
  redis.call('HSET', PD, cid, '1')
  redis.call('RPUSH', replykey(cid), reply)
end
-- handover hands item to waiting Get cid.
local function handover(cid, item)
  if JQ then
    local sid = sidof(cid)
    redis.call('RPUSH', takenkey(sid), item)
    redis.call('SADD', TS, sid)
  end
  deliver(cid, ok(item))
end
-- A piped Get's item is delivered as a waiting one's; an error, which
-- gives nothing back, goes in its reply list as it is.
PIPED = function(reply)
  if string.byte(reply, 1) == 61 then -- 61: '='
    touch() -- (REAP takes a call without a lease here for dead)
    deliver(CID, reply)
    return
  end
  redis.call('RPUSH', replykey(CID), reply)
  redis.call('PEXPIRE', replykey(CID), 60000)
end
-- serve offers item to waiting Get cid: it hands it over and returns
-- true, or, when a GetAs (waiting with its shape in WX) cannot decode
-- it, wakes cid with the error and returns false: the item stays for
-- the next getter.
local function serve(cid, item)
  local raw = redis.call('HGET', WX, cid)
  if raw then
    redis.call('HDEL', WX, cid)
    local bad = SHAPE.fits((SHAPE.arg(raw)), item, 'it stays in the queue')
    if bad then
      grant(cid, bad)
      return false
    end
  end
  handover(cid, item)
  return true
end

-- DISPATCH hands the front items to the waiting Gets, then lets waiting
-- Puts in while there is room (only a bounded queue has them); what they
-- put goes round again.
DISPATCH = function()
  local moved = true
  while moved do
    moved = false
    while redis.call('LLEN', Q) > 0 do
      local cid = popwaiter('wa')
      if not cid then break end
      if serve(cid, redis.call('LINDEX', Q, 0)) then redis.call('LPOP', Q) end
    end
    while MAX > 0 and not full() do
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
  for _, cid in ipairs(redis.call('HKEYS', PD)) do acc = minpttl(acc, sidof(cid)) end
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

-- A getter that withdraws, or resumes, takes the item handed to it
-- meanwhile.
TAKE = function()
  local reply = redis.call('LPOP', replykey(CID))
  if reply then
    redis.call('HDEL', PD, CID)
    redis.call('DEL', T .. 's:' .. CID)
  end
  return reply
end

-- settle releases what dead sessions held. DISPATCH runs after every
-- change, so only what REAP put back can be waiting for it.
local function settle() if REAP() then DISPATCH() end end

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
    settle()
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
-- insert puts item in: to the longest-waiting Get, if any (only an
-- empty queue has them). Nothing else can move: a Put makes no room.
local function insert(item)
  added()
  if redis.call('LLEN', Q) == 0 then
    while true do
      local cid = popwaiter('wa')
      if not cid then break end
      if serve(cid, item) then return OKNIL end
    end
  end
  redis.call('RPUSH', Q, item)
  return OKNIL
end
local function shut() return fail('shut_down', 'put: the queue is shut down') end
-- (A Put leaves REAP to the getters: what it gives back is theirs.)
F.Put = function()
  if SD then return shut() end
  if not full() then return insert(A[1]) end
  return wait('wb', A[1])
end
F.TryPut = function()
  if SD then return shut() end
  if full() then return fail('full', 'put') end
  return insert(A[1])
end
F.Len = function() settle(); return ok(mint(redis.call('LLEN', Q))) end
F.Empty = function() settle(); return ok(mbool(redis.call('LLEN', Q) == 0)) end
F.Full = function() settle(); return ok(mbool(full())) end
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
