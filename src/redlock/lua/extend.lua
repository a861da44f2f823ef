-- Extends a lock on one node: every resource must still be held by the owner, or nothing changes.
-- KEYS:    lk[1..n]
-- ARGV:    [1] owner, [2] new ttl in ms
-- Returns: 1 extended, 0 not (some resource is missing or held by another owner)
for i = 1, #KEYS do
  if redis.call('GET', KEYS[i]) ~= ARGV[1] then return 0 end
end
for i = 1, #KEYS do
  redis.call('PEXPIRE', KEYS[i], ARGV[2])
end
return 1
