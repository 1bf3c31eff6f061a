-- A Lock or RLock object is its own lock.
TYPES = { Lock = true, RLock = true }
local LP, LM = P, MKEY
local RE = TYPE == 'RLock'
