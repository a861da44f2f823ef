-- Releases a lock on one node: deletes each resource the owner still holds and announces it on the
-- resource's channel, so that waiters retry at once instead of sleeping out their retry delay.
-- The fencing counters are never touched.
-- KEYS:    lk[1..n]
-- ARGV:    [1] owner, [2..n+1] release channel of each resource
-- Returns: how many resources were deleted
local deleted = 0
for i = 1, #KEYS do
  if redis.call('GET', KEYS[i]) == ARGV[1] then
    redis.call('DEL', KEYS[i])
    redis.call('PUBLISH', ARGV[i + 1], ARGV[1])
    deleted = deleted + 1
  end
end
return deleted
