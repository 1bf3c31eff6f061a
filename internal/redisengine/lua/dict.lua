-- Dict: P..'h' hash key -> entry, P..'z' sorted set key -> insertion
-- number (Python's insertion order). An entry is the value's encoding
-- followed by its version's, as muint64 writes it (9 bytes): one field
-- per key, so that a write sets both with one HSET and a read of the
-- value is one HGET, which call.go's Load sends without a script. A
-- version comes from the dict's counter, in P..'h' under the field ''
-- (no key is empty: Call refuses empty arguments), so it changes on every
-- write and is unique across the dict, and a Store reads and writes it
-- with the entry. P..'h' exists as long as the dict, with its counter.
--
-- A Namespace keeps its entries in P..'a': call.go's Load reads P..'h'
-- without checking the object's type, so no other type may have a key
-- P..'h' (a Dict proxy forged onto a Namespace finds nothing there and
-- falls back to a script, which says wrong_type).
TYPES = { Dict = true, Namespace = true }
local H, Z
ONCALL(function()
  H, Z = P .. 'h', P .. 'z'
  if TYPE == 'Namespace' then H = P .. 'a' end
end)

local VLEN = 9 -- the version's bytes at the end of an entry
local function val(e) -- an entry's value (false: none)
  if e then return string.sub(e, 1, -VLEN - 1) end
  return e
end
local function ver(e) -- an entry's version
  local hi, lo = struct.unpack('>I4I4', e, #e - 7)
  return hi * 4294967296 + lo
end
local function hget(k) return val(redis.call('HGET', H, k)) end
local function hmget(ks) -- the values of keys ks, false for none
  local es = callchunked('HMGET', H, ks)
  for i = 1, #es do es[i] = val(es[i]) end
  return es
end

local function dset(k, v) -- returns the previous value or false
  local prev = redis.call('HGET', H, k)
  local s = redis.call('HINCRBY', H, '', 1)
  redis.call('HSET', H, k, v .. muint64(s))
  if not prev then redis.call('ZADD', Z, s, k) end
  return val(prev)
end
local function ddel(k) -- returns the deleted value or false
  local prev = redis.call('HGET', H, k)
  if prev then
    redis.call('HDEL', H, k)
    redis.call('ZREM', Z, k)
  end
  return val(prev)
end
local function loadres(v) -- builtin.LoadResult: [value, ok]
  if v then return ok('\146' .. v .. TRUE) end
  return ok('\146' .. NIL .. FALSE)
end
local function loadresFalse(v) -- [value, false]: stored, not loaded
  return ok('\146' .. v .. FALSE)
end

INIT = function()
  redis.call('HSET', H, '', 0)
  for i = 1, #A, 2 do dset(A[i], A[i + 1]) end
end

F.Load = function() return loadres(hget(A[1])) end
F.Store = function() dset(A[1], A[2]); return OKNIL end
F.LoadOrStore = function()
  local v = hget(A[1])
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
  local v = hget(A[1])
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
  bad = SHAPE.fits(vs, hget(last[1]), 'the entry stays in the dict')
  if bad then return bad end
  local v = ddel(last[1])
  return ok('\146' .. last[1] .. v)
end
F.CompareAndSwap = function()
  local v = hget(A[1])
  if not v or v ~= A[2] then return ok(FALSE) end
  dset(A[1], A[3])
  return ok(TRUE)
end
F.CompareAndDelete = function()
  local v = hget(A[1])
  if not v or v ~= A[2] then return ok(FALSE) end
  ddel(A[1])
  return ok(TRUE)
end
F.Clear = function()
  local s = redis.call('HGET', H, '')
  redis.call('DEL', H, Z)
  redis.call('HSET', H, '', s) -- versions are never reused
  return OKNIL
end
F.Len = function() return ok(mint(redis.call('HLEN', H) - 1)) end
F.Has = function() return ok(mbool(redis.call('HEXISTS', H, A[1]) == 1)) end
F.Keys = function() return ok(mraws(redis.call('ZRANGE', Z, 0, -1))) end
local function ordered()
  local ks = redis.call('ZRANGE', Z, 0, -1)
  local vs = {}
  if #ks > 0 then vs = hmget(ks) end
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
    local vs = hmget(A)
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
  if n > 0 then vs = hmget(keys) end
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
  local e = redis.call('HGET', H, A[1])
  if not e then return ok('\147' .. NIL .. muint64(0) .. FALSE) end
  return ok('\147' .. e .. TRUE) -- the value, then the version
end
F.StoreIfVersion = function()
  local want = unpack1(A[2])
  if type(want) ~= 'number' then return fail('bad_arguments', 'StoreIfVersion: version is not a number') end
  local cur = redis.call('HGET', H, A[1])
  if want == 0 then
    if cur then return ok(FALSE) end
  elseif not cur or ver(cur) ~= want then
    return ok(FALSE)
  end
  dset(A[1], A[3])
  return ok(TRUE)
end
F.Add = function()
  local cur = hget(A[1])
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
