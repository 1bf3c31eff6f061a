-- List and Array: the elements in the Redis list P..'l'; the version of
-- the whole list is the meta 'seq' (1 when created, +1 per write, as in
-- internal/builtin). Python's index and slice rules.
TYPES = { List = true, Array = true }
local L, ARRAY
ONCALL(function() L, ARRAY = P .. 'l', TYPE == 'Array' end)
local TOMB = '\193' -- msgpack's never-used code: no encoded value is it
local BIG = 9.3e18

local function len() return redis.call('LLEN', L) end
local function load() return redis.call('LRANGE', L, 0, -1) end
local function push(items, from)
  for i = from or 1, #items, 1000 do
    redis.call('RPUSH', L, unpack(items, i, math.min(i + 999, #items)))
  end
end
local function store(items)
  redis.call('DEL', L)
  push(items)
end
local function bump() seq() end

-- index resolves a Python index against n (0-based), or returns nil and
-- an error reply that starts with what.
local function index(raw, n, what)
  local i = unpack1(raw)
  if type(i) ~= 'number' then return nil, fail('bad_arguments', what .. ' is not an integer') end
  local k = i
  if k < 0 then k = k + n end
  if k < 0 or k >= n then
    return nil, fail('index_out_of_range', string.format('%s %d out of range for length %d', what, i, n))
  end
  return k
end

local function adjust(b, n, st)
  if b < 0 then
    b = b + n
    if b < 0 then
      if st < 0 then return -1 end
      return 0
    end
  elseif b >= n then
    if st < 0 then return n - 1 end
    return n
  end
  return b
end
-- sliced loads the items and resolves the call's slice [A[1]:A[2]:A[3]]
-- against them: the items, start, stop, step, count (0-based), or nil and
-- an error reply.
local function sliced()
  local items = load()
  local n = #items
  local st = unpack1(A[3]) or 1
  if st == 0 then return nil, fail('bad_arguments', 'slice step cannot be zero') end
  local lo, hi = unpack1(A[1]), unpack1(A[2])
  if lo == nil then if st < 0 then lo = BIG else lo = 0 end end
  if hi == nil then if st < 0 then hi = -BIG else hi = BIG end end
  lo, hi = adjust(lo, n, st), adjust(hi, n, st)
  local cnt = 0
  if st < 0 and hi < lo then cnt = math.floor((lo - hi - 1) / (-st)) + 1
  elseif st > 0 and lo < hi then cnt = math.floor((hi - lo - 1) / st) + 1 end
  return items, lo, hi, st, cnt
end

INIT = function()
  push(A)
  redis.call('HSET', MKEY, 'seq', 1)
end

F.Len = function() return ok(mint(len())) end
-- ItemsFrom: builtin.List.ItemsFrom, a page by index (LRANGE).
F.ItemsFrom = function()
  local start = unpack1(A[1])
  if type(start) ~= 'number' then return fail('bad_arguments', 'ItemsFrom: start is not an integer') end
  local maxItems, maxBytes, bad = pagebounds(A[2], A[3])
  if bad then return bad end
  if start < 0 then return fail('bad_arguments', string.format('ItemsFrom: start %d is negative', start)) end
  local vs = redis.call('LRANGE', L, start, start + maxItems - 1)
  local items, size = {}, 0
  for i = 1, #vs do
    local sz = #vs[i] + PAGE_OVERHEAD
    if #items > 0 and size + sz > maxBytes then break end
    size = size + sz
    items[#items + 1] = vs[i]
  end
  local next = start + #items
  local enc = NIL -- builtin encodes a page without elements as nil
  if #items > 0 then enc = mraws(items) end
  -- Next is a Go int64: always 9 bytes, as msgpack encodes one.
  return ok('\147' .. enc .. '\211' .. struct.pack('>I4I4', math.floor(next / 4294967296), next % 4294967296) .. mbool(next >= len()))
end
F.All = function() return ok(mraws(load())) end
F.Get = function()
  local k, e = index(A[1], len(), ARRAY and 'array index' or 'list index')
  if not k then return e end
  return ok(redis.call('LINDEX', L, k))
end
F.Set = function()
  local k, e = index(A[1], len(), ARRAY and 'array assignment index' or 'list assignment index')
  if not k then return e end
  redis.call('LSET', L, k, A[2])
  bump()
  return OKNIL
end
F.GetSlice = function()
  local items, lo, hi, st, cnt = sliced()
  if not items then return lo end
  local out = {}
  for j = 0, cnt - 1 do out[#out + 1] = items[lo + j * st + 1] end
  return ok(mraws(out))
end
local function values(from)
  local v = {}
  for i = from, #A do v[#v + 1] = A[i] end
  return v
end
F.SetSlice = function()
  local items, lo, hi, st, cnt = sliced()
  if not items then return lo end
  local vs = values(4)
  if ARRAY and #vs ~= cnt then
    return fail('bad_arguments', string.format('can only assign a sequence of the same size (%d values to a slice of %d)', #vs, cnt))
  end
  if st == 1 then
    local out = {}
    for i = 1, lo do out[#out + 1] = items[i] end
    for _, v in ipairs(vs) do out[#out + 1] = v end
    for i = math.max(lo, hi) + 1, #items do out[#out + 1] = items[i] end
    store(out)
  else
    if #vs ~= cnt then
      return fail('bad_arguments', string.format('attempt to assign sequence of size %d to extended slice of size %d', #vs, cnt))
    end
    for j = 0, cnt - 1 do items[lo + j * st + 1] = vs[j + 1] end
    store(items)
  end
  bump()
  return OKNIL
end
F.LoadVersion = function()
  return ok('\146' .. mraws(load()) .. muint64(tonumber(redis.call('HGET', MKEY, 'seq'))))
end
F.StoreIfVersion = function()
  local want = unpack1(A[1])
  local vs = values(2)
  if ARRAY and #vs ~= len() then
    return fail('bad_arguments', string.format('array length is %d, got %d values', len(), #vs))
  end
  if type(want) ~= 'number' or tonumber(redis.call('HGET', MKEY, 'seq')) ~= want then return ok(FALSE) end
  store(vs)
  bump()
  return ok(TRUE)
end

do -- an Array's own methods
  local F = {}
  FT.Array = F
  F.Add = function()
    local k, e = index(A[1], len(), 'array index')
    if not k then return e end
    local sum, e2 = nadd(redis.call('LINDEX', L, k), A[2])
    if not sum then return e2 end
    redis.call('LSET', L, k, sum)
    bump()
    return ok(sum)
  end
end
do -- a List's own methods
  local F = {}
  FT.List = F
  F.Append = function() redis.call('RPUSH', L, A[1]); bump(); return OKNIL end
  F.Extend = function() push(A); bump(); return OKNIL end
  F.Insert = function()
    local i = unpack1(A[1])
    if type(i) ~= 'number' then return fail('bad_arguments', 'insert index is not an integer') end
    local n = len()
    if i < 0 then i = math.max(i + n, 0) end
    i = math.min(i, n)
    if i == n then
      redis.call('RPUSH', L, A[2])
    elseif i == 0 then
      redis.call('LPUSH', L, A[2])
    else
      local items = load()
      table.insert(items, i + 1, A[2])
      store(items)
    end
    bump()
    return OKNIL
  end
  local function removeAt(k)
    local v = redis.call('LINDEX', L, k)
    redis.call('LSET', L, k, TOMB)
    redis.call('LREM', L, 1, TOMB)
    return v
  end
  F.Pop = function()
    local n = len()
    if n == 0 then return fail('index_out_of_range', 'pop from empty list') end
    local k, e = index(A[1], n, 'pop index')
    if not k then return e end
    local v = removeAt(k)
    bump()
    return ok(v)
  end
  -- PopAs is Pop for a caller that decodes only values of shape A[2]:
  -- an element that does not fit stays in the list.
  F.PopAs = function()
    local sh, bad = SHAPE.arg(A[2])
    if bad then return bad end
    local n = len()
    if n == 0 then return fail('index_out_of_range', 'pop from empty list') end
    local k, e = index(A[1], n, 'pop index')
    if not k then return e end
    bad = SHAPE.fits(sh, redis.call('LINDEX', L, k), 'it stays in the list')
    if bad then return bad end
    local v = removeAt(k)
    bump()
    return ok(v)
  end
  F.Delete = function()
    local k, e = index(A[1], len(), 'list assignment index')
    if not k then return e end
    removeAt(k)
    bump()
    return OKNIL
  end
  F.Remove = function()
    if redis.call('LREM', L, 1, A[1]) == 0 then
      return fail('not_found', 'list.remove(x): x not in list')
    end
    bump()
    return OKNIL
  end
  local function clamp(raw, n, dflt)
    local i = unpack1(raw)
    if i == nil then return dflt end
    if i < 0 then i = math.max(i + n, 0) end
    return math.min(i, n)
  end
  F.Index = function()
    local items = load()
    local n = #items
    local lo, hi = clamp(A[2], n, 0), clamp(A[3], n, n)
    for k = lo, hi - 1 do
      if items[k + 1] == A[1] then return ok(mint(k)) end
    end
    return fail('not_found', 'list.index(x): x not in list')
  end
  F.Count = function()
    local c = 0
    for _, v in ipairs(load()) do if v == A[1] then c = c + 1 end end
    return ok(mint(c))
  end
  F.Contains = function()
    return ok(mbool(redis.call('LPOS', L, A[1])))
  end
  F.Reverse = function()
    local items = load()
    local out = {}
    for i = #items, 1, -1 do out[#out + 1] = items[i] end
    store(out)
    bump()
    return OKNIL
  end
  F.DeleteSlice = function()
    local items, lo, hi, st, cnt = sliced()
    if not items then return lo end
    if cnt == 0 then return OKNIL end
    local drop = {}
    for j = 0, cnt - 1 do drop[lo + j * st + 1] = true end
    local out = {}
    for i, v in ipairs(items) do if not drop[i] then out[#out + 1] = v end end
    store(out)
    bump()
    return OKNIL
  end
  F.Clear = function() redis.call('DEL', L); bump(); return OKNIL end

  -- Sort keys: strings compare by bytes, numbers and bools numerically
  -- (integers exactly; an integer against a float as doubles, so beyond
  -- 2^53 the order may differ from internal/builtin's exact one).
  local function bytecmp(a, b)
    local n = math.min(#a, #b)
    for i = 1, n do
      local x, y = string.byte(a, i), string.byte(b, i)
      if x ~= y then return x < y and -1 or 1 end
    end
    if #a == #b then return 0 end
    return #a < #b and -1 or 1
  end
  local function sortkey(raw)
    local c = string.byte(raw, 1)
    if c == nil then return nil, fail('bad_arguments', 'sort: empty element') end
    if c == 0xc2 then return { s = 1, hi = 0, lo = 0, kind = 'i' } end
    if c == 0xc3 then return { s = 1, hi = 0, lo = 1, kind = 'i' } end
    if (c >= 0xa0 and c <= 0xbf) or c == 0xd9 or c == 0xda or c == 0xdb then
      return { str = cmsgpack.unpack(raw) }
    end
    local v = ndecode(raw, 'sort')
    if not v then
      return nil, fail('bad_arguments', string.format('sort supports numbers, bools and strings (msgpack code 0x%02x)', c))
    end
    return v
  end
  local function numcmp(a, b)
    if a.kind ~= 'f' and b.kind ~= 'f' then
      if a.s ~= b.s then return a.s < b.s and -1 or 1 end
      local m = magcmp(a, b)
      if a.s < 0 then m = -m end
      return m
    end
    local x, y = nfloat(a), nfloat(b)
    if x ~= x then if y ~= y then return 0 end return -1 end
    if y ~= y then return 1 end
    if x == y then return 0 end
    return x < y and -1 or 1
  end
  F.Sort = function()
    local rev = unpack1(A[1]) == true
    local items = load()
    if #items < 2 then bump(); return OKNIL end
    local keyed = {}
    for i, raw in ipairs(items) do
      local k, e = sortkey(raw)
      if not k then return fail('bad_arguments', 'sort element ' .. (i - 1) .. ': ' .. string.sub(e, 2)) end
      if i > 1 and (k.str ~= nil) ~= (keyed[1].k.str ~= nil) then
        return fail('bad_arguments', 'sort: cannot compare strings with numbers (elements 0 and ' .. (i - 1) .. ')')
      end
      keyed[i] = { k = k, v = raw, i = i }
    end
    table.sort(keyed, function(a, b)
      local c
      if a.k.str then c = bytecmp(a.k.str, b.k.str) else c = numcmp(a.k, b.k) end
      if rev then c = -c end
      if c ~= 0 then return c < 0 end
      return a.i < b.i -- stable
    end)
    local out = {}
    for i, e in ipairs(keyed) do out[i] = e.v end
    store(out)
    bump()
    return OKNIL
  end
end
