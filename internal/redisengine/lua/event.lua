-- Event: meta 'set'; waiters in P..'wa', all woken by Set.
TYPES = { Event = true }
local function isset() return redis.call('HGET', MKEY, 'set') == '1' end
F.Set = function()
  redis.call('HSET', MKEY, 'set', '1')
  while true do
    local cid = popwaiter('wa')
    if not cid then break end
    grant(cid, ok(TRUE))
  end
  return OKNIL
end
F.Clear = function() redis.call('HSET', MKEY, 'set', '0'); return OKNIL end
F.IsSet = function() return ok(mbool(isset())) end
F.Wait = function()
  if isset() then return ok(TRUE) end
  return wait('wa')
end
