-- A Lock or RLock object is its own lock.
TYPES = { Lock = true, RLock = true }
local LP, LM, RE
ONCALL(function() LP, LM, RE = P, MKEY, TYPE == 'RLock' end)
