-- Lock and RLock methods (the lock itself is lockcore.lua's).
REAP = lreap
DISPATCH = ldispatch
RECHECK = lrecheck
LOST = function() return not inlist(LP .. 'wa') end
F.Acquire = lacquire
F.TryAcquire = ltryacquire
F.Release = lrelease
F.Locked = llocked
-- Token returns the fencing token of the caller's hold: it grows with
-- every acquisition of a free lock, so a resource that remembers the
-- highest token it has seen can refuse a holder that lost the lock.
F.Token = function()
  if holder() ~= OWNER then return notheld('token') end
  return ok(muint64(tonumber(redis.call('HGET', LM, 'tk'))))
end
