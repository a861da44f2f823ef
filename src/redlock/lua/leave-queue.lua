-- Takes a waiter that gave up (aborted, out of retries) out of the queues, and when that leaves a
-- free resource with someone waiting, tells the new head at once.
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
  if redis.call('EXISTS', KEYS[i]) == 0 then
    local h = queueHead(q, qe)
    if h then redis.call('PUBLISH', channelOf(KEYS[i]), h .. '|') end
  end
end
return removed
