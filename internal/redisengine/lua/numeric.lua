-- Exact msgpack numeric add, the rules of internal/builtin's numericAddTo:
-- a float stays a float of its width; an integer stays signed or unsigned,
-- in its width if the sum fits and the next wider otherwise; a fixint
-- gives a compact sum; no wrap-around. Lua numbers are doubles, so
-- integers are kept as a sign and two 32-bit halves of the magnitude.
local TWO32 = 4294967296
local function badnum(msg) return fail('bad_arguments', msg) end

-- ndecode returns a table {kind=, code=, s=, hi=, lo=} or {kind='f', code=, f=},
-- or nil and an error reply.
local function ndecode(raw, what)
  if raw == nil or #raw == 0 then return nil, badnum(what .. ': not a number (empty value)') end
  local c = string.byte(raw, 1)
  local want = 0
  if c == 0xcc or c == 0xd0 then want = 1
  elseif c == 0xcd or c == 0xd1 then want = 2
  elseif c == 0xce or c == 0xd2 or c == 0xca then want = 4
  elseif c == 0xcf or c == 0xd3 or c == 0xcb then want = 8
  elseif not (c <= 0x7f or c >= 0xe0) then
    return nil, badnum(string.format('%s: not a number (msgpack code 0x%02x); atomic add needs an integer or float', what, c))
  end
  if #raw - 1 ~= want then
    return nil, badnum(string.format('%s: malformed number (msgpack code 0x%02x with %d bytes after it)', what, c, #raw - 1))
  end
  local v = { code = c, s = 1, hi = 0, lo = 0 }
  if c <= 0x7f then v.kind = 'x'; v.lo = c
  elseif c >= 0xe0 then v.kind = 'i'; v.s = -1; v.lo = 256 - c
  elseif c == 0xcc then v.kind = 'u'; v.lo = struct.unpack('>I1', raw, 2)
  elseif c == 0xcd then v.kind = 'u'; v.lo = struct.unpack('>I2', raw, 2)
  elseif c == 0xce then v.kind = 'u'; v.lo = struct.unpack('>I4', raw, 2)
  elseif c == 0xcf then v.kind = 'u'; v.hi, v.lo = struct.unpack('>I4I4', raw, 2)
  elseif c == 0xd0 or c == 0xd1 or c == 0xd2 then
    v.kind = 'i'
    local n = struct.unpack('>i' .. want, raw, 2)
    if n < 0 then v.s = -1; n = -n end
    v.lo = n
  elseif c == 0xd3 then
    v.kind = 'i'
    local hi, lo = struct.unpack('>I4I4', raw, 2)
    if hi >= 2147483648 then -- negative: the magnitude is the two's complement
      v.s = -1
      hi, lo = TWO32 - 1 - hi, TWO32 - 1 - lo
      lo = lo + 1
      if lo == TWO32 then lo = 0; hi = hi + 1 end
    end
    v.hi, v.lo = hi, lo
  elseif c == 0xca then v.kind = 'f'; v.f = struct.unpack('>f', raw, 2)
  else v.kind = 'f'; v.f = struct.unpack('>d', raw, 2)
  end
  if v.kind ~= 'f' and v.hi == 0 and v.lo == 0 then v.s = 1 end
  return v
end

local function nfloat(v)
  if v.kind == 'f' then return v.f end
  return v.s * (v.hi * TWO32 + v.lo)
end

local function magcmp(a, b)
  if a.hi ~= b.hi then return a.hi < b.hi and -1 or 1 end
  if a.lo ~= b.lo then return a.lo < b.lo and -1 or 1 end
  return 0
end

-- nsum returns the exact signed sum of two integers (hi may exceed 32
-- bits by one on overflow, caught by the range checks).
local function nsum(a, b)
  local r = { s = 1 }
  if a.s == b.s then
    r.s = a.s
    r.lo = a.lo + b.lo
    r.hi = a.hi + b.hi
    if r.lo >= TWO32 then r.lo = r.lo - TWO32; r.hi = r.hi + 1 end
  else
    local big, small = a, b
    if magcmp(a, b) < 0 then big, small = b, a end
    r.s = big.s
    r.lo = big.lo - small.lo
    r.hi = big.hi - small.hi
    if r.lo < 0 then r.lo = r.lo + TWO32; r.hi = r.hi - 1 end
  end
  if r.hi == 0 and r.lo == 0 then r.s = 1 end
  return r
end

local function fitsInt64(r)
  if r.s > 0 then return r.hi < 2147483648 end
  return r.hi < 2147483648 or (r.hi == 2147483648 and r.lo == 0)
end
local function fitsUint64(r) return r.s > 0 and r.hi < TWO32 end

-- fits reports whether r fits a signed (bits) or unsigned width.
local function fitsSigned(r, bits)
  if bits == 64 then return fitsInt64(r) end
  if r.hi ~= 0 then return false end
  local lim = 2 ^ (bits - 1)
  if r.s > 0 then return r.lo < lim end
  return r.lo <= lim
end
local function fitsUnsigned(r, bits)
  if r.s < 0 then return false end
  if bits == 64 then return r.hi < TWO32 end
  return r.hi == 0 and r.lo < 2 ^ bits
end

local function putSigned(code, r)
  if code == 0xd3 then
    local hi, lo = r.hi, r.lo
    if r.s < 0 then
      hi, lo = TWO32 - 1 - hi, TWO32 - 1 - lo
      lo = lo + 1
      if lo == TWO32 then lo = 0; hi = hi + 1 end
      if hi == TWO32 then hi = 0 end
    end
    return string.char(code) .. struct.pack('>I4I4', hi, lo)
  end
  local n = r.s * r.lo
  local w = ({ [0xd0] = 1, [0xd1] = 2, [0xd2] = 4 })[code]
  return string.char(code) .. struct.pack('>i' .. w, n)
end
local function putUnsigned(code, r)
  if code == 0xcf then return string.char(code) .. struct.pack('>I4I4', r.hi, r.lo) end
  local w = ({ [0xcc] = 1, [0xcd] = 2, [0xce] = 4 })[code]
  return string.char(code) .. struct.pack('>I' .. w, r.lo)
end

local SIGNED = { { 0xd0, 8 }, { 0xd1, 16 }, { 0xd2, 32 }, { 0xd3, 64 } }
local UNSIGNED = { { 0xcc, 8 }, { 0xcd, 16 }, { 0xce, 32 }, { 0xcf, 64 } }

local function encodeCompact(r)
  if r.s < 0 then
    if r.hi == 0 and r.lo <= 32 then return string.char(256 - r.lo) end
    for _, w in ipairs(SIGNED) do
      if fitsSigned(r, w[2]) then return putSigned(w[1], r) end
    end
  end
  if r.hi == 0 and r.lo <= 127 then return string.char(r.lo) end
  for _, w in ipairs(UNSIGNED) do
    if fitsUnsigned(r, w[2]) then return putUnsigned(w[1], r) end
  end
end

-- encodeInt encodes r in code's family, at least as wide as code.
local function encodeInt(code, r)
  if code <= 0x7f or code >= 0xe0 then return encodeCompact(r) end
  if code >= 0xd0 and code <= 0xd3 then
    for _, w in ipairs(SIGNED) do
      if w[1] >= code and fitsSigned(r, w[2]) then return putSigned(w[1], r) end
    end
  end
  for _, w in ipairs(UNSIGNED) do
    if w[1] >= code and fitsUnsigned(r, w[2]) then return putUnsigned(w[1], r) end
  end
end

local function decstr(r)
  -- decimal text of a sign and magnitude, for messages
  local n = r.hi * TWO32 + r.lo
  local s = string.format('%.0f', n)
  if r.hi >= 2097152 then s = '~' .. s end -- beyond 2^53: approximate
  if r.s < 0 then return '-' .. s end
  return s
end

-- nzero returns the encoding of zero in delta's family and width: what
-- an absent entry counts as.
local function nzero(raw)
  local d, e = ndecode(raw, 'add delta')
  if not d then return nil, e end
  if d.kind == 'f' then
    if d.code == 0xca then return '\202\0\0\0\0' end
    return '\203\0\0\0\0\0\0\0\0'
  end
  if d.code <= 0x7f or d.code >= 0xe0 then return '\0' end
  return encodeInt(d.code, { s = 1, hi = 0, lo = 0 })
end

-- nadd returns cur + delta encoded, or nil and an error reply.
local function nadd(cur, delta)
  local c, e = ndecode(cur, 'add to stored value')
  if not c then return nil, e end
  local d, e2 = ndecode(delta, 'add delta')
  if not d then return nil, e2 end
  if c.kind == 'f' then
    local sum = c.f + nfloat(d)
    if c.code == 0xca then return '\202' .. struct.pack('>f', sum) end
    return '\203' .. struct.pack('>d', sum)
  end
  if d.kind == 'f' then
    return nil, badnum('cannot add a float delta to an integer value (use an integer delta, or store a float)')
  end
  local r = nsum(c, d)
  if c.kind == 'i' and not fitsInt64(r) then
    return nil, badnum('integer overflow: ' .. decstr(c) .. ' + ' .. decstr(d) .. ' does not fit in int64')
  elseif c.kind == 'u' and not fitsUint64(r) then
    return nil, badnum('integer overflow: ' .. decstr(c) .. ' + ' .. decstr(d) .. ' does not fit in uint64')
  elseif c.kind == 'x' and not fitsInt64(r) and not fitsUint64(r) then
    return nil, badnum('integer overflow: ' .. decstr(c) .. ' + ' .. decstr(d) .. ' does not fit in 64 bits')
  end
  return encodeInt(c.code, r)
end
