-- The epilogue: object life, and the dispatch on METHOD and MODE.

-- allkeys lists every key an object of any type may have, so that any
-- family's script can delete any object. ('h' is the Dict's only: see
-- dict.lua.)
local function allkeys()
  local ks = { MKEY }
  for _, s in ipairs({ 'r', 'g', 'wa', 'wb', 'wc', 'wx', 'h', 'a', 'z', 'x', 'q', 'p', 'ts', 'sh', 'bm', 'l', 'lv' }) do
    ks[#ks + 1] = P .. s
  end
  for _, sid in ipairs(redis.call('HKEYS', P .. 'r')) do ks[#ks + 1] = leasekey(sid) end
  if SID ~= '' then ks[#ks + 1] = leasekey(SID) end
  for _, sid in ipairs(redis.call('SMEMBERS', P .. 'ts')) do ks[#ks + 1] = P .. 't:' .. sid end
  for _, cid in ipairs(redis.call('HKEYS', P .. 'p')) do ks[#ks + 1] = T .. 'r:' .. cid end
  return ks
end
local function destroy()
  local ks = allkeys()
  redis.call('DEL', table.remove(ks, 1))
  callchunked('DEL', table.remove(ks, 1), ks)
end
local function liverefs()
  for _, sid in ipairs(redis.call('HKEYS', P .. 'r')) do
    if sid ~= SID and alive(sid) then return true end
  end
  return false
end

-- taken returns the grant of waiting call CID (nil if none), which it
-- takes: one kept in T..'g', or one handed straight to the waiter (TAKE).
local function taken()
  local g = redis.call('HGET', T .. 'g', CID)
  if g then
    redis.call('HDEL', T .. 'g', CID)
    redis.call('DEL', T .. 's:' .. CID)
    COLLECT()
    return g
  end
  return TAKE()
end

-- CALL runs the call MAIN is given.
local function CALL(keys, argv)
  BEGIN(keys, argv)
  if MODE == 'n' then
    -- Create if absent (A[1] is the name, "" for none; the rest, INIT's),
    -- then take a reference for the caller. An existing object of another
    -- type is an error; one of this type is kept as it is (get-or-create).
    local t = TMETA
    if t and t ~= TYPE then
      return fail('wrong_type', 'the name is taken by a ' .. t .. ', not a ' .. TYPE)
    end
    if not t then
      local name = table.remove(A, 1)
      local e = INIT()
      if e then return e end
      redis.call('HSET', MKEY, 't', TYPE)
      if name ~= '' then redis.call('HSET', MKEY, 'n', name) end
    end
    redis.call('HINCRBY', P .. 'r', SID, 1)
    touch()
    return OKNIL
  end

  local t = TMETA
  if not t then return fail('no_such_object', 'object ' .. P .. ' was freed, deleted, or never created') end

  if MODE == 'f' then -- a reference given back; the last one frees an unnamed object
    local n = redis.call('HINCRBY', P .. 'r', SID, -1)
    if n > 0 then return ok(FALSE) end
    redis.call('HDEL', P .. 'r', SID)
    if redis.call('HEXISTS', MKEY, 'n') == 0 and not liverefs() then
      destroy()
      return ok(TRUE)
    end
    -- The session references this object no more: what it still holds
    -- here is released now, as when a session ends.
    redis.call('DEL', leasekey(SID))
    SID = ''
    REAP()
    DISPATCH()
    return ok(FALSE)
  elseif MODE == 'r+' then -- a reference taken (a proxy received)
    if t ~= TYPE then
      return fail('wrong_type', 'object ' .. P .. ' is a ' .. t .. ', not a ' .. TYPE)
    end
    redis.call('HINCRBY', P .. 'r', SID, 1)
    touch()
    return OKNIL
  elseif MODE == 'd' then -- deleted by name
    destroy()
    return OKNIL
  elseif MODE == 'e' then -- the session ended: drop its references and holdings
    redis.call('HDEL', P .. 'r', SID)
    redis.call('DEL', leasekey(SID))
    SID = ''
    if redis.call('HEXISTS', MKEY, 'n') == 0 and not liverefs() then
      destroy()
      return ok(TRUE)
    end
    REAP()
    DISPATCH()
    return ok(FALSE)
  elseif MODE == 's' then -- sweep: free an unnamed object no live session references
    SID = '' -- the sweeper's own references count, by their lease
    if redis.call('HEXISTS', MKEY, 'n') == 0 and not liverefs() then
      destroy()
      return ok(TRUE)
    end
    return ok(FALSE)
  end

  if t ~= TYPE then
    return fail('wrong_type', 'object ' .. P .. ' is a ' .. t .. ', not a ' .. TYPE)
  end

  if MODE == 'x' or MODE == 'X' or MODE == 'r' then -- a waiter withdraws, or resumes
    local g = taken()
    if g then return g end
    if MODE == 'r' then
      touch() -- the caller is alive, even if its lease lapsed meanwhile
      REAP()
      DISPATCH()
      g = taken()
      if g then return g end
      -- A waiter whose lease lapsed (its process was paused) may have been
      -- dropped as dead: it calls again.
      if LOST() then return 'L' end
      local r = RECHECK()
      if r then return 'W' .. r end
      return 'W'
    end
    local w = WITHDRAW()
    if w then return w end
    for _, list in ipairs({ 'wa', 'wb', 'wc' }) do redis.call('LREM', P .. list, 0, CID) end
    redis.call('HDEL', P .. 'wx', CID)
    redis.call('DEL', T .. 's:' .. CID)
    DISPATCH() -- what this waiter blocked (a queue slot, FIFO order) moves on
    return 'C'
  end

  local f = FT[TYPE] and FT[TYPE][METHOD] or F[METHOD]
  if not f then return fail('no_such_method', TYPE .. '.' .. METHOD) end
  return f()
end

-- MAIN is the call: a script runs it once, a function library on every
-- FCALL. Mode 'p' is a method's call ('c') sent in one pipeline with
-- the caller's BLPOP on its reply list (see Session.callPiped): unless
-- the call waits, its reply goes into that list, for the BLPOP, and the
-- script replies 'P'.
local function MAIN(keys, argv)
  local r = CALL(keys, argv)
  if MODE == 'p' and string.byte(r, 1) ~= 87 then -- 87: 'W'
    PIPED(r)
    return 'P'
  end
  return r
end
