-- Extends a lock on one node: every resource must still be held by the owner, or nothing changes.
-- KEYS:    lk[1..n], then the ready key on gated nodes (for the cluster's max TTL)
-- ARGV:    [1] owner, [2] new ttl in ms
-- Returns: 1 extended; 0 not: some resource's lease is gone (expired); -1 not: another owner
--          holds some resource (the lock is lost); error 'TTLTOOLONG <max>' when the ttl is above
--          the cluster's max TTL kept in the ready key (nothing changes)
local gated = string.sub(KEYS[#KEYS], -7) == '__ready'
local n = gated and #KEYS - 1 or #KEYS
if gated then
  local max = string.match(redis.call('GET', KEYS[n + 1]) or '', '^%S+ (%d+) ')
  if max and tonumber(ARGV[2]) > tonumber(max) then return redis.error_reply('TTLTOOLONG ' .. max) end
end
local gone = false
for i = 1, n do
  local holder = redis.call('GET', KEYS[i])
  if holder ~= ARGV[1] then
    if holder then return -1 end
    gone = true
  end
end
if gone then return 0 end
for i = 1, n do
  redis.call('PEXPIRE', KEYS[i], ARGV[2])
end
return 1
