-- Dict: P..'h' hash key -> value, P..'v' hash key -> version, P..'z'
-- sorted set key -> insertion number (Python's insertion order). A
-- version comes from the dict's counter (meta 'seq'), so it changes on
-- every write and is unique across the dict.
TYPES = { Dict = true, Namespace = true }
local H, V, Z
ONCALL(function() H, V, Z = P .. 'h', P .. 'v', P .. 'z' end)

local function dset(k, v) -- returns the previous value or false
  local prev = redis.call('HGET', H, k)
  local s = seq()
  redis.call('HSET', H, k, v)
  redis.call('HSET', V, k, s)
  if not prev then redis.call('ZADD', Z, s, k) end
  return prev
end
local function ddel(k) -- returns the deleted value or false
  local prev = redis.call('HGET', H, k)
  if prev then
    redis.call('HDEL', H, k)
    redis.call('HDEL', V, k)
    redis.call('ZREM', Z, k)
  end
  return prev
end
local function loadres(v) -- builtin.LoadResult: [value, ok]
  if v then return ok('\146' .. v .. TRUE) end
  return ok('\146' .. NIL .. FALSE)
end
local function loadresFalse(v) -- [value, false]: stored, not loaded
  return ok('\146' .. v .. FALSE)
end

INIT = function()
  for i = 1, #A, 2 do dset(A[i], A[i + 1]) end
end

F.Load = function() return loadres(redis.call('HGET', H, A[1])) end
F.Store = function() dset(A[1], A[2]); return OKNIL end
F.LoadOrStore = function()
  local v = redis.call('HGET', H, A[1])
  if v then return loadres(v) end
  dset(A[1], A[2])
  return loadresFalse(A[2])
end
F.SetDefault = F.LoadOrStore
F.LoadAndDelete = function() return loadres(ddel(A[1])) end
F.Pop = F.LoadAndDelete
F.Delete = function() return ok(mbool(ddel(A[1]))) end
F.Swap = function() return loadres(dset(A[1], A[2])) end
-- The *As methods check the value they would remove or replace against
-- the caller's shape first (see shape.lua): one that does not fit stays.
-- unfit is the error reply when the value under A[1] does not fit the
-- caller's shape A[at] (what says what became of the value), or nil when
-- it fits or there is none.
local function unfit(at, what)
  local sh, bad = SHAPE.arg(A[at])
  if bad then return bad end
  local v = redis.call('HGET', H, A[1])
  if v then return SHAPE.fits(sh, v, what) end
  return nil
end
F.LoadAndDeleteAs = function()
  local bad = unfit(2, 'it stays in the dict')
  if bad then return bad end
  return loadres(ddel(A[1]))
end
F.SwapAs = function()
  local bad = unfit(3, 'it was not replaced')
  if bad then return bad end
  return loadres(dset(A[1], A[2]))
end
F.PopItemAs = function()
  local ks, bad = SHAPE.arg(A[1])
  if bad then return bad end
  local vs
  vs, bad = SHAPE.arg(A[2])
  if bad then return bad end
  local last = redis.call('ZRANGE', Z, -1, -1)
  if #last == 0 then return fail('empty', 'popitem(): dictionary is empty') end
  bad = SHAPE.fits(ks, last[1], 'the entry stays in the dict')
  if bad then
    local code, msg = string.match(bad, '^E(%S+) (.*)$')
    return fail(code, 'key: ' .. msg)
  end
  bad = SHAPE.fits(vs, redis.call('HGET', H, last[1]), 'the entry stays in the dict')
  if bad then return bad end
  local v = ddel(last[1])
  return ok('\146' .. last[1] .. v)
end
F.CompareAndSwap = function()
  local v = redis.call('HGET', H, A[1])
  if not v or v ~= A[2] then return ok(FALSE) end
  dset(A[1], A[3])
  return ok(TRUE)
end
F.CompareAndDelete = function()
  local v = redis.call('HGET', H, A[1])
  if not v or v ~= A[2] then return ok(FALSE) end
  ddel(A[1])
  return ok(TRUE)
end
F.Clear = function()
  redis.call('DEL', H, V, Z)
  return OKNIL
end
F.Len = function() return ok(mint(redis.call('HLEN', H))) end
F.Has = function() return ok(mbool(redis.call('HEXISTS', H, A[1]) == 1)) end
F.Keys = function() return ok(mraws(redis.call('ZRANGE', Z, 0, -1))) end
local function ordered()
  local ks = redis.call('ZRANGE', Z, 0, -1)
  local vs = {}
  if #ks > 0 then vs = callchunked('HMGET', H, ks) end
  return ks, vs
end
F.Values = function()
  local _, vs = ordered()
  return ok(mraws(vs))
end
F.Items = function()
  local ks, vs = ordered()
  local out = { marr(#ks) }
  for i = 1, #ks do out[#out + 1] = '\146' .. ks[i] .. vs[i] end
  return ok(table.concat(out))
end
F.Copy = F.Items
-- LoadMany: builtin.Dict.LoadMany, the keys one argument each.
F.LoadMany = function()
  local out = { marr(#A) }
  if #A > 0 then
    local vs = callchunked('HMGET', H, A)
    for i = 1, #A do
      if vs[i] then out[#out + 1] = '\146' .. vs[i] .. TRUE
      else out[#out + 1] = '\146' .. NIL .. FALSE end
    end
  end
  return ok(table.concat(out))
end
-- ItemsFrom: builtin.Dict.ItemsFrom. The cursor is an insertion number,
-- the entry's score in Z (its first store's seq), so a walk has the
-- manager's guarantees: an entry keeps its place until deleted, and one
-- stored again after a delete moves to the end.
F.ItemsFrom = function()
  local cursor = unpack1(A[1])
  if type(cursor) ~= 'number' or cursor < 0 then return fail('bad_arguments', 'ItemsFrom: the cursor is not a uint64') end
  local maxItems, maxBytes, bad = pagebounds(A[2], A[3])
  if bad then return bad end
  local ks = redis.call('ZRANGEBYSCORE', Z, '(' .. string.format('%.17g', cursor), '+inf', 'WITHSCORES', 'LIMIT', 0, maxItems)
  local n = #ks / 2
  local keys = {}
  for i = 1, n do keys[i] = ks[2 * i - 1] end
  local vs = {}
  if n > 0 then vs = callchunked('HMGET', H, keys) end
  local items, size, next = {}, 0, cursor
  for i = 1, n do
    local sz = #keys[i] + #vs[i] + PAGE_OVERHEAD
    if #items > 0 and size + sz > maxBytes then break end
    size = size + sz
    items[#items + 1] = '\146' .. keys[i] .. vs[i]
    next = tonumber(ks[2 * i])
  end
  local done = #redis.call('ZRANGEBYSCORE', Z, '(' .. string.format('%.17g', next), '+inf', 'LIMIT', 0, 1) == 0
  local enc = NIL -- builtin encodes a page without entries as nil
  if #items > 0 then enc = mraws(items) end
  return ok('\147' .. enc .. muint64(next) .. mbool(done))
end
F.Update = function()
  for i = 1, #A, 2 do dset(A[i], A[i + 1]) end
  return OKNIL
end
F.PopItem = function()
  local last = redis.call('ZRANGE', Z, -1, -1)
  if #last == 0 then return fail('empty', 'popitem(): dictionary is empty') end
  local v = ddel(last[1])
  return ok('\146' .. last[1] .. v)
end
F.LoadVersion = function()
  local v = redis.call('HGET', H, A[1])
  if not v then return ok('\147' .. NIL .. muint64(0) .. FALSE) end
  return ok('\147' .. v .. muint64(tonumber(redis.call('HGET', V, A[1]))) .. TRUE)
end
F.StoreIfVersion = function()
  local want = unpack1(A[2])
  if type(want) ~= 'number' then return fail('bad_arguments', 'StoreIfVersion: version is not a number') end
  local cur = redis.call('HGET', V, A[1])
  if want == 0 then
    if cur then return ok(FALSE) end
  elseif not cur or tonumber(cur) ~= want then
    return ok(FALSE)
  end
  dset(A[1], A[3])
  return ok(TRUE)
end
F.Add = function()
  local cur = redis.call('HGET', H, A[1])
  if not cur then
    local z, e = nzero(A[2])
    if not z then return e end
    cur = z
  end
  local sum, e = nadd(cur, A[2])
  if not sum then return e end
  dset(A[1], sum)
  return ok(sum)
end

-- Namespace is a Dict keyed by attribute names, kept as their msgpack
-- encoding (so Names is Keys, and Items a map).
do
  local NS = { Get = F.Load, Set = F.Store, Names = F.Keys }
  FT.Namespace = NS
  NS.Items = function()
    local ks, vs = ordered()
    local out = { mmap(#ks) }
    for i = 1, #ks do out[#out + 1] = ks[i] .. vs[i] end
    return ok(table.concat(out))
  end
end
