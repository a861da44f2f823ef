-- Round 2 of a grant (slow path), on a node this attempt locked whose counter is below T:
-- set-if-greater. A node moves to a value at most once (counters only grow), which is what makes
-- two grants with the same token impossible.
-- KEYS:    lk[1..n], fc[1..n]
-- ARGV:    [1] owner, [2] T as a decimal string
-- Returns: 1 every counter moved to T for this grant; 0 the lock is not ours any more, or some
--          counter is already >= T (never counted as an ack)
local n = #KEYS / 2
local t = ARGV[2]
--@include decimal
for i = 1, n do
  if redis.call('GET', KEYS[i]) ~= ARGV[1] then return 0 end
  if not greater(t, redis.call('GET', KEYS[n + i]) or '0') then return 0 end
end
for i = n + 1, 2 * n do
  redis.call('SET', KEYS[i], t)
end
return 1
