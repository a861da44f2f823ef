-- Takes a waiter that gave up (aborted, out of retries) out of the queues, gives back any lease its
-- ticket still has (a hand-over it will never use), and when that leaves a free resource with
-- someone waiting, hands it over to the new head at once.
-- KEYS:    lk[1..n], fc[1..n], q[1..n], qe[1..n]
-- ARGV:    [1] the ticket, [2] the wake channel prefix, [3] floor: wall clock in µs
-- Returns: how many queues the ticket was removed from
--@include decimal
--@include queue
--@include hand-over

local n = #KEYS / 4
local ticket = ARGV[1]
local removed = 0
for i = 1, n do
  local q, qe = KEYS[2 * n + i], KEYS[3 * n + i]
  removed = removed + redis.call('ZREM', q, ticket)
  redis.call('ZREM', qe, ticket)
  local holder = redis.call('GET', KEYS[i])
  if ownedBy(holder, ticket) then
    redis.call('DEL', KEYS[i])
    holder = false
  end
  if not holder then handOver(KEYS[i], KEYS[n + i], q, qe, '', ARGV[2], ARGV[3]) end
end
return removed
