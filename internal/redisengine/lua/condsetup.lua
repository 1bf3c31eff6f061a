-- A Condition works on its own lock (in its own meta hash) or on an
-- existing Lock or RLock: then its keys are in the lock's hash slot
-- ("{ns:lock}:c<n>:") and meta 'lp' is the lock's prefix, 'lt' its type.
TYPES = { Condition = true }
local LP, LM, RE
ONCALL(function()
  LP = META.lp or P
  LM = LP .. 'm'
  RE = META.lt == 'RLock'
end, 'lp', 'lt')
