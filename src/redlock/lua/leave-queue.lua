-- Takes a waiter that gave up (aborted, out of retries) out of the queues, gives back a lease that
-- was reserved for it, and when that leaves a free resource with someone waiting, hands it over
-- to the new head at once.
-- KEYS:    lk[1..n], q[1..n], qe[1..n]
-- ARGV:    [1] the ticket
-- (The channel of a resource is its lease key with 'released' in place of the final 'lk'.)
-- Returns: how many queues the ticket was removed from
--@include queue

local n = #KEYS / 3
local removed = 0
for i = 1, n do
  local q, qe = KEYS[n + i], KEYS[2 * n + i]
  removed = removed + redis.call('ZREM', q, ARGV[1])
  redis.call('ZREM', qe, ARGV[1])
  local holder = redis.call('GET', KEYS[i])
  if holder == ARGV[1] .. ':handoff' then
    redis.call('DEL', KEYS[i])
    holder = nil
  end
  if not holder then handOver(KEYS[i], q, qe, '') end
end
return removed
