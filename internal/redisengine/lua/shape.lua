-- Shapes: the Lua twin of internal/wire's Shape.Check, so that the
-- methods that remove or replace a value for a caller of one Go type
-- (Queue.GetAs, List.PopAs, Dict.LoadAndDeleteAs …) check the stored
-- msgpack value inside the same script, before anything is removed.
-- SHAPE.parse(raw) parses wire.AppendShape's encoding; SHAPE.fits(sh,
-- value, left) returns nil when value decodes into sh's Go type without
-- changing, else the error reply ("wrong_type", or "protocol" for a
-- malformed value). Every rule of Shape.Check is here, recursively:
-- integer ranges, integers a float holds exactly, str against bin,
-- arrays, maps, structs by field name or position, proxies by typeid,
-- recursive types (KindRef). Integers are read as two 32-bit halves,
-- since Lua's numbers are doubles. It is one table, so that it adds one
-- local to the script's main chunk (Lua allows 200), and it is built on
-- first use (each of its functions first builds it): a script defines
-- it on every call, and most calls never check a shape; a function
-- library could not build it at load, which calls no library function.
local SHAPE = {}
local function shapebuild()
  for k, v in pairs((function()
  local byte, sub, floor = string.byte, string.sub, math.floor
  local MAXDEPTH = 64
  local TWO32 = 4294967296
  local K = { ANY = 0, NIL = 1, BOOL = 2, STRING = 3, BYTES = 4, I8 = 5, I64 = 8, U8 = 9, U64 = 12,
    F32 = 13, F64 = 14, SLICE = 15, ARRAY = 16, BYTEARRAY = 17, MAP = 18, STRUCT = 19, PROXY = 20,
    ERROR = 21, EXT = 22, REF = 23, N = 24 }
  local NAMES = { [0] = 'any value', 'nil', 'bool', 'string', '[]byte', 'int8', 'int16', 'int32', 'int64',
    'uint8', 'uint16', 'uint32', 'uint64', 'float32', 'float64', 'slice', 'array', 'byte array', 'map', 'struct',
    'proxy', 'error', 'extension', 'recursive type' }
  local COMPOSITE = { [15] = 2, [16] = 3, [17] = 2, [18] = 3, [19] = 0, [20] = 0, [23] = 2 } -- kind -> parts (0: varies)
  local PROXYEXT = 7

  -- be reads a big-endian unsigned integer of w (<= 4) bytes at p.
  local function be(s, p, w)
    local n = 0
    for i = p, p + w - 1 do n = n * 256 + byte(s, i) end
    return n
  end

  -- head reads the msgpack header at p of s and returns its tag, up to
  -- three values, and the position after the header (nil when cut off or
  -- invalid):
  --   'nil'; 'bool'; 'int' neg, hi, lo (the magnitude's 32-bit halves);
  --   'float32'/'float64' value; 'str'/'bin' length; 'arr'/'map' count;
  --   'ext' type, length.
  local function head(s, p)
    local c = byte(s, p)
    if c == nil then return nil end
    local n = #s
    local function has(w) return p + w <= n end
    if c <= 0x7f then return 'int', false, 0, c, nil, p + 1 end
    if c >= 0xe0 then return 'int', true, 0, 256 - c, nil, p + 1 end
    if c >= 0xa0 and c <= 0xbf then return 'str', c - 0xa0, nil, nil, nil, p + 1 end
    if c >= 0x90 and c <= 0x9f then return 'arr', c - 0x90, nil, nil, nil, p + 1 end
    if c >= 0x80 and c <= 0x8f then return 'map', c - 0x80, nil, nil, nil, p + 1 end
    if c == 0xc0 then return 'nil', nil, nil, nil, nil, p + 1 end
    if c == 0xc2 or c == 0xc3 then return 'bool', nil, nil, nil, nil, p + 1 end
    if c >= 0xcc and c <= 0xcf then
      local w = 2 ^ (c - 0xcc)
      if not has(w) then return nil end
      if w == 8 then return 'int', false, be(s, p + 1, 4), be(s, p + 5, 4), nil, p + 9 end
      return 'int', false, 0, be(s, p + 1, w), nil, p + 1 + w
    end
    if c >= 0xd0 and c <= 0xd3 then
      local w = 2 ^ (c - 0xd0)
      if not has(w) then return nil end
      if w == 8 then
        local hi, lo = be(s, p + 1, 4), be(s, p + 5, 4)
        if hi < 2147483648 then return 'int', false, hi, lo, nil, p + 9 end
        if lo == 0 then return 'int', true, TWO32 - hi, 0, nil, p + 9 end
        return 'int', true, TWO32 - 1 - hi, TWO32 - lo, nil, p + 9
      end
      local v = be(s, p + 1, w)
      if v >= 2 ^ (8 * w - 1) then return 'int', true, 0, 2 ^ (8 * w) - v, nil, p + 1 + w end
      return 'int', false, 0, v, nil, p + 1 + w
    end
    if c == 0xca then
      if not has(4) then return nil end
      return 'float32', (struct.unpack('>f', s, p + 1)), nil, nil, nil, p + 5
    end
    if c == 0xcb then
      if not has(8) then return nil end
      return 'float64', (struct.unpack('>d', s, p + 1)), nil, nil, nil, p + 9
    end
    local w
    if c == 0xd9 or c == 0xc4 then w = 1 elseif c == 0xda or c == 0xc5 then w = 2
    elseif c == 0xdb or c == 0xc6 then w = 4 end
    if w then
      if not has(w) then return nil end
      local tag = 'str'
      if c <= 0xc6 then tag = 'bin' end
      return tag, be(s, p + 1, w), nil, nil, nil, p + 1 + w
    end
    if c == 0xdc or c == 0xdd or c == 0xde or c == 0xdf then
      w = 2
      if c == 0xdd or c == 0xdf then w = 4 end
      if not has(w) then return nil end
      local tag = 'arr'
      if c >= 0xde then tag = 'map' end
      return tag, be(s, p + 1, w), nil, nil, nil, p + 1 + w
    end
    if c >= 0xd4 and c <= 0xd8 then
      if not has(1) then return nil end
      local t = byte(s, p + 1)
      if t >= 128 then t = t - 256 end
      return 'ext', t, 2 ^ (c - 0xd4), nil, nil, p + 2
    end
    if c >= 0xc7 and c <= 0xc9 then
      w = 2 ^ (c - 0xc7)
      if not has(w + 1) then return nil end
      local t = byte(s, p + 1 + w)
      if t >= 128 then t = t - 256 end
      return 'ext', t, be(s, p + 1, w), nil, nil, p + 2 + w
    end
    return nil
  end

  local MALFORMED = 'malformed msgpack value'

  -- proxytype returns the typeid of the proxy extension payload at p, of
  -- n bytes, or nil.
  local function proxytype(s, p, n)
    local stop = p + n
    local tag, a, _, _, _, q = head(s, p)
    if tag ~= 'arr' or a ~= 3 then return nil end
    tag, a, _, _, _, q = head(s, q)
    if (tag ~= 'bin') or a ~= 16 then return nil end
    tag, a, _, _, _, q = head(s, q + 16)
    if tag ~= 'int' or a then return nil end
    tag, a, _, _, _, q = head(s, q)
    if tag ~= 'str' or q + a ~= stop then return nil end
    return sub(s, q, q + a - 1)
  end


  -- skip returns the position after the whole value at p, or nil and an
  -- error (Scan's rules: every length within the bytes left, nesting at
  -- most MAXDEPTH).
  local function skip(s, p, depth)
    local tag, a, b, _, _, q = head(s, p)
    if not tag then return nil, MALFORMED end
    if tag == 'str' or tag == 'bin' then
      if q + a - 1 > #s then return nil, MALFORMED end
      return q + a
    end
    if tag == 'ext' then
      if q + b - 1 > #s then return nil, MALFORMED end
      if a == PROXYEXT and not proxytype(s, q, b) then return nil, 'malformed proxy' end
      return q + b
    end
    if tag == 'arr' or tag == 'map' then
      if depth >= MAXDEPTH then return nil, 'nested deeper than ' .. MAXDEPTH end
      local n = a
      if tag == 'map' then n = 2 * a end
      if n > #s - q + 1 then return nil, MALFORMED end
      for _ = 1, n do
        local e
        q, e = skip(s, q, depth + 1)
        if not q then return nil, e end
      end
    end
    return q
  end

  -- Shapes are tables {k = kind, name, len, key, elem, fields, aliases,
  -- typeids, up}; the scalar ones are shared.
  local SCALAR = {}
  for k = 0, K.N - 1 do SCALAR[k] = { k = k } end

  local function want(sh)
    if sh.name and sh.name ~= '' then return sh.name end
    if sh.k == K.PROXY and sh.typeids[1] then return 'proxy to a ' .. sh.typeids[1] end
    return NAMES[sh.k]
  end

  -- Shape parsing: a reader over the encoding that raises a string error.
  local function parse(raw)
    local p = 1
    local function fail(msg) error({ shape = msg }) end
    local function hdr()
      local tag, a, b, c, _, q = head(raw, p)
      if not tag then fail('cut off or invalid') end
      p = q
      return tag, a, b, c
    end
    local function uint()
      local tag, neg, hi, lo = hdr()
      if tag ~= 'int' or neg then fail('expected a msgpack unsigned integer') end
      return hi * TWO32 + lo
    end
    local function str(orNil)
      local tag, n = hdr()
      if orNil and tag == 'nil' then return '' end
      if tag ~= 'str' then fail('expected a msgpack string') end
      if p + n - 1 > #raw then fail('cut off') end
      local v = sub(raw, p, p + n - 1)
      p = p + n
      return v
    end
    local function arr()
      local tag, n = hdr()
      if tag ~= 'arr' then fail('expected an array') end
      return n
    end
    local body
    body = function(depth)
      if depth > MAXDEPTH then fail('shape nested deeper than ' .. MAXDEPTH) end
      local c = byte(raw, p)
      if c == 0xc0 then p = p + 1; return SCALAR[K.ANY] end
      if c ~= nil and c < 0x80 then
        p = p + 1
        if c < K.N and not COMPOSITE[c] then return SCALAR[c] end
        fail('bad shape kind ' .. c)
      end
      local n = arr()
      if n < 1 then fail('empty shape') end
      local sh = { k = uint() }
      local w = COMPOSITE[sh.k]
      if w == nil then fail('bad shape kind ' .. sh.k) end
      if (w > 0 and n ~= w) or (sh.k == K.STRUCT and (n < 2 or n % 2 ~= 0)) then
        fail(string.format('shape of kind %d with %d parts', sh.k, n))
      end
      if sh.k == K.SLICE then
        sh.elem = body(depth + 1)
      elseif sh.k == K.ARRAY then
        sh.len = uint()
        sh.elem = body(depth + 1)
      elseif sh.k == K.BYTEARRAY then
        sh.len = uint()
      elseif sh.k == K.MAP then
        sh.key = body(depth + 1)
        sh.elem = body(depth + 1)
      elseif sh.k == K.STRUCT then
        local nf = math.min(uint(), n / 2 - 1)
        sh.fields, sh.aliases = {}, {}
        for i = 1, n / 2 - 1 do
          local f = { name = str(), shape = nil }
          f.shape = body(depth + 1)
          if i <= nf then sh.fields[#sh.fields + 1] = f else sh.aliases[#sh.aliases + 1] = f end
        end
      elseif sh.k == K.PROXY then
        sh.typeids = {}
        for i = 1, n - 1 do sh.typeids[i] = str() end
      elseif sh.k == K.REF then
        sh.up = uint()
      end
      return sh
    end
    local okp, res = pcall(function()
      if arr() ~= 2 then fail('not a [name, shape] pair') end
      local name = str(true)
      local sh = body(0)
      if p <= #raw then fail('trailing bytes') end
      if sh.k ~= K.ANY or name ~= '' then
        local c = {}
        for k, v in pairs(sh) do c[k] = v end
        c.name = name
        sh = c
      end
      return sh
    end)
    if okp then return res end
    if type(res) == 'table' then return nil, 'malformed shape: ' .. res.shape end
    return nil, 'malformed shape: ' .. tostring(res)
  end

  -- decimal formats the integer hi*2^32+lo exactly.
  local function decimal(hi, lo)
    if hi == 0 then return string.format('%d', lo) end
    local digits = {}
    while hi > 0 or lo > 0 do
      local r = hi % 10
      hi = floor(hi / 10)
      local x = r * TWO32 + lo -- < 2^36: exact
      digits[#digits + 1] = tostring(x % 10)
      lo = floor(x / 10)
    end
    return string.reverse(table.concat(digits))
  end

  -- shortest formats f as Go's strconv.FormatFloat(f, 'g', -1, bits)
  -- does: the fewest digits that read back as f (as a float32 when prec
  -- is 9), in %e form when the exponent is below -4 or at least 6.
  local function shortest(f, prec)
    if f ~= f then return 'NaN' end
    if f == math.huge then return '+Inf' end
    if f == -math.huge then return '-Inf' end
    if f == 0 then
      if 1 / f < 0 then return '-0' end
      return '0'
    end
    local e
    for d = 1, prec do
      e = string.format('%.' .. (d - 1) .. 'e', f)
      local back = tonumber(e)
      if prec == 9 then back = struct.unpack('>f', struct.pack('>f', back)) end
      if back == f then break end
    end
    local mant, x = string.match(e, '^(.-)e([-+]%d+)$')
    x = tonumber(x)
    if x < -4 or x >= 6 then return e end
    local nd = #(string.gsub(mant, '[^%d]', ''))
    return string.format('%.' .. math.max(nd - 1 - x, 0) .. 'f', f)
  end

  -- quote quotes s as Go's strconv.Quote does, for the common cases:
  -- valid UTF-8 beyond ASCII is kept as it is.
  local ESC = { [7] = '\\a', [8] = '\\b', [12] = '\\f', [10] = '\\n', [13] = '\\r', [9] = '\\t', [11] = '\\v',
    [34] = '\\"', [92] = '\\\\' }
  local function quote(s)
    local out, i, n = {}, 1, #s
    while i <= n do
      local c = byte(s, i)
      local w = 0
      if c >= 0xc2 and c <= 0xdf then w = 1 elseif c >= 0xe0 and c <= 0xef then w = 2
      elseif c >= 0xf0 and c <= 0xf4 then w = 3 end
      local valid = w > 0 and i + w <= n
      for j = i + 1, i + w do
        local x = byte(s, j)
        if not x or x < 0x80 or x > 0xbf then valid = false end
      end
      if valid then
        out[#out + 1] = sub(s, i, i + w)
        i = i + w + 1
      else
        if ESC[c] then out[#out + 1] = ESC[c]
        elseif c < 0x20 or c >= 0x7f then out[#out + 1] = string.format('\\x%02x', c)
        else out[#out + 1] = string.char(c) end
        i = i + 1
      end
    end
    return '"' .. table.concat(out) .. '"'
  end

  -- describe names the value at p, for messages, as wire's describe.
  local function describe(s, p)
    local tag, a, b, c, _, q = head(s, p)
    if tag == nil then
      local x = byte(s, p)
      if x == nil then return 'nothing' end
      return string.format('byte 0x%02x', x)
    end
    if tag == 'nil' or tag == 'bool' or tag == 'bin' then return tag end
    if tag == 'str' then
      if a <= 32 and q + a - 1 <= #s then return 'str ' .. quote(sub(s, q, q + a - 1)) end
      return 'str'
    end
    if tag == 'float32' then return 'float32 ' .. shortest(a, 9) end
    if tag == 'float64' then return 'float64 ' .. shortest(a, 17) end
    if tag == 'int' then
      if a then return 'int -' .. decimal(b, c) end
      return 'int ' .. decimal(b, c)
    end
    if tag == 'arr' then return 'array of ' .. a end
    if tag == 'map' then return 'map of ' .. a end
    if a == PROXYEXT and q + b - 1 <= #s then
      local t = proxytype(s, q, b)
      if t then return 'proxy to a ' .. t end
    end
    return 'extension ' .. a
  end

  local function mismatch(s, p, sh) return { path = '', got = describe(s, p), want = want(sh) } end
  local function inside(e, step)
    if type(e) == 'table' then e.path = step .. e.path end
    return e
  end

  local function intfits(k, neg, hi, lo)
    if k >= K.U8 then
      if neg then return false end
      if k == K.U64 then return true end
      return hi == 0 and lo < 2 ^ (8 * 2 ^ (k - K.U8))
    end
    if k == K.I64 then return neg or hi < 2147483648 end
    local half = 2 ^ (8 * 2 ^ (k - K.I8) - 1)
    if neg then return hi == 0 and lo <= half end
    return hi == 0 and lo <= half - 1
  end

  -- bitlen is the number of bits of x (< 2^32); tz its trailing zeros.
  local function bitlen(x)
    local n = 0
    while x >= 1 do x = floor(x / 2); n = n + 1 end
    return n
  end
  local function tz(x)
    local n = 0
    while x % 2 == 0 do x = x / 2; n = n + 1 end
    return n
  end
  -- floatholds: a float of prec significant bits holds the magnitude
  -- hi*2^32+lo exactly (the exponent range is never the limit here).
  local function floatholds(prec, hi, lo)
    if hi == 0 and lo == 0 then return true end
    local top, low
    if hi > 0 then top = 32 + bitlen(hi) else top = bitlen(lo) end
    if lo > 0 then low = tz(lo) else low = 32 + tz(hi) end
    return top - low <= prec
  end

  local function fieldstep(name)
    if name == '' then return '' end
    return '.' .. name
  end
  local function field(sh, name)
    for _, fs in ipairs({ sh.fields, sh.aliases }) do
      for _, f in ipairs(fs) do
        if f.name == name then return f.shape end
      end
    end
    return nil
  end

  -- check checks the value at p of s against sh and returns the
  -- position after it, or nil and an error: a table (a mismatch, as
  -- wire.ShapeError) or a string (malformed).
  local frames, nframe = {}, 0
  local check
  local function parts(sh, depth, n, q, part)
    if depth >= MAXDEPTH then return nil, 'nested deeper than ' .. MAXDEPTH end
    nframe = nframe + 1
    frames[nframe] = sh
    for i = 0, n - 1 do
      local e
      q, e = part(i, q)
      if not q then
        nframe = nframe - 1
        return nil, e
      end
    end
    nframe = nframe - 1
    return q
  end
  check = function(sh, s, p, depth)
    local c = byte(s, p)
    if c == nil then return nil, MALFORMED end
    if sh.k == K.REF then
      if sh.up >= nframe then
        return nil, string.format('malformed shape: reference %d levels up, in %d', sh.up, nframe)
      end
      sh = frames[nframe - sh.up]
    end
    local k = sh.k
    if c == 0xc0 or k == K.ANY then return skip(s, p, depth) end
    local tag, a, b, cc, _, q = head(s, p)
    if not tag then return nil, mismatch(s, p, sh) end
    if k == K.BOOL then
      if tag == 'bool' then return q end
    elseif k == K.STRING or k == K.BYTES or k == K.ERROR then
      if tag == 'str' or (k ~= K.ERROR and tag == 'bin') then return skip(s, p, depth) end
    elseif k == K.BYTEARRAY then
      if (tag == 'str' or tag == 'bin') and a <= sh.len then return skip(s, p, depth) end
    elseif k >= K.I8 and k <= K.U64 then
      if tag == 'int' then
        if intfits(k, a, b, cc) then return q end
        return nil, mismatch(s, p, sh)
      end
    elseif k == K.F32 or k == K.F64 then
      if tag == 'float32' or (tag == 'float64' and k == K.F64) then return q end
      if tag == 'int' then
        -- msgpack would read a uint64 beyond MaxInt64 as a negative int64
        if not a and b >= 2147483648 then return nil, mismatch(s, p, sh) end
        local prec = 53
        if k == K.F32 then prec = 24 end
        if floatholds(prec, b, cc) then return q end
        return nil, mismatch(s, p, sh)
      end
    elseif k == K.SLICE or k == K.ARRAY then
      if tag == 'arr' then
        if k == K.ARRAY and a > sh.len then return nil, mismatch(s, p, sh) end
        if a > #s - q + 1 then return nil, MALFORMED end
        return parts(sh, depth, a, q, function(i, at)
          local r, e = check(sh.elem, s, at, depth + 1)
          return r, inside(e, '[' .. i .. ']')
        end)
      end
    elseif k == K.MAP then
      if tag == 'map' then
        if 2 * a > #s - q + 1 then return nil, MALFORMED end
        return parts(sh, depth, a, q, function(_, at)
          local r, e = check(sh.key, s, at, depth + 1)
          if not r then return nil, inside(e, '[key]') end
          local key = at
          r, e = check(sh.elem, s, r, depth + 1)
          if not r and type(e) == 'table' then e = inside(e, '[' .. describe(s, key) .. ']') end
          return r, e
        end)
      end
    elseif k == K.STRUCT then
      if tag == 'map' then
        if 2 * a > #s - q + 1 then return nil, MALFORMED end
        return parts(sh, depth, a, q, function(_, at)
          local t, n, _, _, _, r = head(s, at)
          local name
          if t == 'nil' then
            name = ''
          elseif t == 'str' or t == 'bin' then
            if r + n - 1 > #s then return nil, MALFORMED end
            name = sub(s, r, r + n - 1)
            r = r + n
          else
            return nil, mismatch(s, at, SCALAR[K.STRING]) -- a key msgpack cannot read as a field name
          end
          local f = field(sh, name)
          if f then
            local e
            r, e = check(f, s, r, depth + 1)
            return r, inside(e, fieldstep(name))
          end
          return skip(s, r, depth + 1) -- an unknown field: msgpack skips it
        end)
      end
      if tag == 'arr' then
        if a ~= 0 and a ~= #sh.fields then return nil, mismatch(s, p, sh) end
        if a > #s - q + 1 then return nil, MALFORMED end
        return parts(sh, depth, a, q, function(i, at)
          local f = sh.fields[i + 1]
          local r, e = check(f.shape, s, at, depth + 1)
          return r, inside(e, fieldstep(f.name))
        end)
      end
    elseif k == K.PROXY or k == K.EXT then
      if tag == 'ext' then
        local stop = q + b
        if stop - 1 > #s then return nil, MALFORMED end
        local t = nil
        if a == PROXYEXT then
          t = proxytype(s, q, b)
          if not t then return nil, 'malformed proxy' end
        end
        if k == K.EXT then return stop end
        if t then
          if #sh.typeids == 0 then return stop end
          for _, w in ipairs(sh.typeids) do
            if t == w then return stop end
          end
          return nil, { path = '', got = 'proxy to a ' .. t, want = want(sh) }
        end
      end
    end
    return nil, mismatch(s, p, sh)
  end

  -- fits returns nil when value fits sh (nil: any value), else the
  -- error reply, ending with left (what happened to the value).
  local function fits(sh, value, left)
    if sh == nil or sh.k == K.ANY then return nil end
    frames, nframe = {}, 0
    local q, e = check(sh, value, 1, 0)
    if q and q <= #value then e = (#value - q + 1) .. ' trailing bytes after the value' end
    if q and not e then return nil end
    if type(e) == 'table' then
      local msg
      if e.path == '' then
        msg = string.format('the stored value (%s) does not decode into %s without changing it', e.got, e.want)
      else
        msg = string.format('the stored value\'s %s (%s) does not decode into %s (part of %s) without changing it',
          e.path, e.got, e.want, want(sh))
      end
      return 'Ewrong_type ' .. msg .. '; ' .. left
    end
    return 'Eprotocol stored value: ' .. e .. '; ' .. left
  end

  -- arg parses a method's shape argument, caching by its encoding; it
  -- returns the shape, or nil and an error reply. nil (msgpack's) means
  -- any value, as for internal/builtin, which decodes it as no bytes.
  -- A function library keeps the cache from call to call: it holds
  -- cachemax shapes at most.
  local cache, cached, cachemax = {}, 0, 64
  local function arg(raw)
    if raw == nil or raw == '' or raw == '\192' then return nil end
    local sh = cache[raw]
    if sh then return sh end
    local e
    sh, e = parse(raw)
    if not sh then return nil, 'Ebad_arguments ' .. e end
    if cached == cachemax then cache, cached = {}, 0 end
    cache[raw], cached = sh, cached + 1
    return sh
  end

  return { parse = parse, fits = fits, arg = arg }
end)()) do SHAPE[k] = v end
end
SHAPE.parse = function(...) shapebuild(); return SHAPE.parse(...) end
SHAPE.fits = function(...) shapebuild(); return SHAPE.fits(...) end
SHAPE.arg = function(...) shapebuild(); return SHAPE.arg(...) end
