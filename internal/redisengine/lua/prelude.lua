-- The prelude of every script. One script per type family: it is the
-- prelude, then the family's part (which fills F, the methods, and sets
-- TYPES, KEYSOF, REAP, DISPATCH, RECHECK as it needs), then the epilogue,
-- which defines MAIN(keys, argv), the call. The chunk is run either as a
-- script (EVALSHA; it ends "return MAIN(KEYS, ARGV)") or loaded once as
-- a Redis 7 function library (it ends registering MAIN). So the chunk's
-- top level only defines: it reads no key and calls no library (a
-- library's load sees neither redis.call nor string, table, struct...).
-- What a call sets (the locals below, and the parts' own, which they
-- set in a function they add with ONCALL) is set by BEGIN at the start
-- of each call, and the functions see it through their upvalues.
--
-- KEYS[1] is the object's meta hash, "{ns:id}:m"; every other key of the
-- object is P..suffix, in the same hash slot.
-- ARGV: 1 typeid, 2 method, 3 caller's session id (32 hex digits, or ""
-- for none), 4 lease in ms, 5 proxy handle, 6 call id (the session id
-- followed by a number), 7 mode, 8.. the method's arguments.
--
-- A reply is a string whose first byte says what it is:
--   "=" then the msgpack-encoded result
--   "E" then "<code> <message>": the method failed (code from internal/errs)
--   "W" then a number of ms (or nothing): the call waits (registered as a
--       waiter under its call id); resume when woken, or after that many
--       ms, when a holder's lease may have expired
--   "C": the waiting call was withdrawn, nothing changed
--
-- MKEY is KEYS[1], P its prefix. T is the hash tag's prefix, "{ns:id}:":
-- P for most objects, the lock's prefix for a Condition built on a Lock
-- ("{ns:lock}:c<n>:"). Grants and wake-up lists live under T, so a lock
-- can grant a Condition's waiter. A holds the method's arguments.
-- TMETA is the object's type (meta 't', false if there is no object),
-- META the meta fields the parts asked for (field -> value or false):
-- one HMGET reads them all, before anything is written.
local MKEY, P, T, TYPE, METHOD, SID, LEASE, HANDLE, CID, MODE, A, TMETA
local META = {}
local SETUPS = {} -- the parts' per-call setups, in their order
local METAF = { 't' } -- the meta fields BEGIN reads
-- ONCALL adds a per-call setup, which may read META's fields (named
-- after it: ONCALL(setup, 'max', 'sd')).
local function ONCALL(setup, ...)
  SETUPS[#SETUPS + 1] = setup
  local fields = { ... }
  for i = 1, #fields do METAF[#METAF + 1] = fields[i] end
end
local function BEGIN(keys, argv)
  MKEY = keys[1]
  P = string.sub(MKEY, 1, -2)
  T = string.match(MKEY, '^(%b{}:)')
  TYPE, METHOD, SID, LEASE, HANDLE, CID, MODE =
    argv[1], argv[2], argv[3], tonumber(argv[4]), argv[5], argv[6], argv[7]
  A = {}
  for i = 8, #argv do A[#A + 1] = argv[i] end
  local m = redis.call('HMGET', MKEY, unpack(METAF))
  TMETA = m[1]
  for i = 2, #METAF do META[METAF[i]] = m[i] end
  for i = 1, #SETUPS do SETUPS[i]() end
end

local F = {}            -- method name -> function returning a reply
local FT = {}           -- typeid -> the methods only it has, or has its own way
local TYPES = {}        -- typeids this family serves
local REAP = function() end   -- releases what dead sessions held
local DISPATCH = function() end -- hands what is free to live waiters
local RECHECK = function() return nil end -- ms until a holder's lease may expire
local INIT = function() return nil end  -- fills a new object from A
local COLLECT = function() end -- a waiter takes its grant (the reply it gets)
local TAKE = function() return nil end -- a reply handed straight to the waiter (a Queue's item), taken
local PIPED -- mode 'p': hands a call's reply to the BLPOP piped with it (see lua/queue.lua)
local LOST -- reports that a waiter is in no waiting list (defined below)
local WITHDRAW = function() end -- mode 'x': a waiter withdraws, before it is removed

-- msgpack encoding, byte for byte as vmihailenco/msgpack encodes the
-- manager's results.
local NIL, TRUE, FALSE = '\192', '\195', '\194'
local function mbool(b) if b then return TRUE end return FALSE end
local function mint(n) -- an int, compactly, as msgpack encodes a Go int
  if n >= 0 then
    if n < 128 then return string.char(n) end
    if n < 256 then return '\204' .. string.char(n) end
    if n < 65536 then return '\205' .. struct.pack('>I2', n) end
    if n < 4294967296 then return '\206' .. struct.pack('>I4', n) end
    return '\207' .. struct.pack('>I4I4', math.floor(n / 4294967296), n % 4294967296)
  end
  if n >= -32 then return string.char(256 + n) end
  if n >= -128 then return '\208' .. struct.pack('>i1', n) end
  if n >= -32768 then return '\209' .. struct.pack('>i2', n) end
  if n >= -2147483648 then return '\210' .. struct.pack('>i4', n) end
  local u = n + 18446744073709551616
  return '\211' .. struct.pack('>I4I4', math.floor(u / 4294967296), u % 4294967296)
end
local function muint64(n) -- a Go uint64: always 9 bytes
  return '\207' .. struct.pack('>I4I4', math.floor(n / 4294967296), n % 4294967296)
end
local function marr(n)
  if n < 16 then return string.char(144 + n) end
  if n < 65536 then return '\220' .. struct.pack('>I2', n) end
  return '\221' .. struct.pack('>I4', n)
end
local function mmap(n)
  if n < 16 then return string.char(128 + n) end
  if n < 65536 then return '\222' .. struct.pack('>I2', n) end
  return '\223' .. struct.pack('>I4', n)
end
local function mstr(s)
  local n = #s
  if n < 32 then return string.char(160 + n) .. s end
  if n < 256 then return '\217' .. string.char(n) .. s end
  if n < 65536 then return '\218' .. struct.pack('>I2', n) .. s end
  return '\219' .. struct.pack('>I4', n) .. s
end
local function mraws(list) -- an array of encoded values
  return marr(#list) .. table.concat(list)
end
-- unpack decodes one small msgpack argument (an int, a string, a bool).
local function unpack1(raw)
  if raw == nil or raw == '' or raw == NIL then return nil end
  return cmsgpack.unpack(raw)
end

-- callchunked calls cmd with the fixed arguments and then list, in
-- chunks (Lua's unpack is limited to a few thousand values), and returns
-- the replies concatenated (for HMGET).
local function callchunked(cmd, key, list)
  local out = {}
  for i = 1, #list, 1000 do
    local r = redis.call(cmd, key, unpack(list, i, math.min(i + 999, #list)))
    if type(r) == 'table' then
      for _, v in ipairs(r) do out[#out + 1] = v end
    end
  end
  return out
end

local function ok(mp) return '=' .. mp end
local OKNIL = '=' .. NIL
local function fail(code, msg) return 'E' .. code .. ' ' .. msg end

-- pagebounds checks ItemsFrom's page bounds as internal/builtin's
-- checkPage does, and caps maxItems at its maxPageItems: it returns them,
-- or nil and an error reply.
local function pagebounds(rawItems, rawBytes)
  local n, b = unpack1(rawItems), unpack1(rawBytes)
  if type(n) ~= 'number' or type(b) ~= 'number' then
    return nil, nil, fail('bad_arguments', 'ItemsFrom: page bounds are not integers')
  end
  if n < 1 or b < 1 then
    return nil, nil, fail('bad_arguments', string.format('ItemsFrom: page bounds %d items, %d bytes: both must be at least 1', n, b))
  end
  return math.min(n, 65536), b, nil
end
-- PAGE_OVERHEAD is internal/builtin's pageEntryOverhead: what a page's
-- encoding adds to each entry, counted against maxBytes.
local PAGE_OVERHEAD = 8

-- Sessions. A session is alive while its lease key in this object's slot
-- exists; the caller is alive by definition.
local function leasekey(sid) return P .. 'l:' .. sid end
local function alive(sid)
  if sid == SID then return true end
  return redis.call('EXISTS', leasekey(sid)) == 1
end
local function touch() -- the caller starts holding something here
  if SID ~= '' then redis.call('SET', leasekey(SID), '1', 'PX', LEASE) end
end
local function sidof(cid) return string.sub(cid, 1, 32) end
local function pttl(sid)
  local t = redis.call('PTTL', leasekey(sid))
  if t < 0 then return 0 end
  return t
end
local function minpttl(acc, sid)
  if sid == SID then return acc end
  local t = pttl(sid)
  if acc == nil or t < acc then return t end
  return acc
end

-- Waiters. A waiting call is its call id in a list; a grant (its reply)
-- is kept in P..'g' until the waiter takes it, and the waiter is woken
-- by a push on its signal list P..'s:'..cid.
local function signal(cid)
  local k = T .. 's:' .. cid
  redis.call('LPUSH', k, '1')
  redis.call('PEXPIRE', k, 60000)
end
local function grant(cid, reply)
  redis.call('HSET', T .. 'g', cid, reply)
  signal(cid)
end
-- popwaiter pops the first waiter of list whose session is alive.
local function popwaiter(list)
  while true do
    local cid = redis.call('LPOP', P .. list)
    if not cid then return nil end
    if alive(sidof(cid)) then return cid end
    redis.call('HDEL', P .. 'wx', cid)
  end
end
local function haswaiter(list)
  for _, cid in ipairs(redis.call('LRANGE', P .. list, 0, -1)) do
    if alive(sidof(cid)) then return true end
  end
  return false
end
local function wait(list, extra)
  touch() -- a waiter without a lease here would be taken for dead
  redis.call('RPUSH', P .. list, CID)
  if extra then redis.call('HSET', P .. 'wx', CID, extra) end
  local r = RECHECK()
  if r then return 'W' .. r end
  return 'W'
end

local function inlist(key) return redis.call('LPOS', key, CID) ~= false end
LOST = function()
  return not (inlist(P .. 'wa') or inlist(P .. 'wb') or inlist(P .. 'wc'))
end

local function seq() return redis.call('HINCRBY', MKEY, 'seq', 1) end
