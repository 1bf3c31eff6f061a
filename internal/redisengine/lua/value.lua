-- Value: the encoded value in P..'x'; its version is the meta 'seq'.
TYPES = { Value = true }
local X
ONCALL(function() X = P .. 'x' end)

local function vset(v)
  local prev = redis.call('GET', X)
  redis.call('SET', X, v)
  seq()
  return prev
end

INIT = function()
  redis.call('SET', X, A[1] or NIL)
  redis.call('HSET', MKEY, 'seq', 1)
end

F.Load = function() return ok(redis.call('GET', X)) end
F.Store = function() vset(A[1]); return OKNIL end
F.Swap = function() return ok(vset(A[1])) end
-- SwapAs is Swap for a caller that decodes only values of shape A[2]: a
-- previous value that does not fit is not replaced.
F.SwapAs = function()
  local sh, bad = SHAPE.arg(A[2])
  if bad then return bad end
  bad = SHAPE.fits(sh, redis.call('GET', X), 'it was not replaced')
  if bad then return bad end
  return ok(vset(A[1]))
end
F.CompareAndSwap = function()
  if redis.call('GET', X) ~= A[1] then return ok(FALSE) end
  vset(A[2])
  return ok(TRUE)
end
F.Add = function()
  local sum, e = nadd(redis.call('GET', X), A[1])
  if not sum then return e end
  vset(sum)
  return ok(sum)
end
F.LoadVersion = function()
  local v = redis.call('GET', X)
  return ok('\147' .. v .. muint64(tonumber(redis.call('HGET', MKEY, 'seq'))) .. TRUE)
end
F.StoreIfVersion = function()
  local want = unpack1(A[1])
  if type(want) ~= 'number' then return fail('bad_arguments', 'StoreIfVersion: version is not a number') end
  if tonumber(redis.call('HGET', MKEY, 'seq')) ~= want then return ok(FALSE) end
  vset(A[2])
  return ok(TRUE)
end
