-- Takes a waiter that gave up (aborted, out of retries) out of the queues, gives back any lease its
-- ticket still has (a hand-over it will never use), and when that leaves a free resource with
-- someone waiting, hands it over to the new head at once.
-- KEYS:    lk[1..n] (fc, q, qe derived, see include/keys.lua)
-- ARGV:    [1] '<ticket> <floor> <wake>' (keys.ts, leaveArgs): floor: wall clock in µs; wake: the
--          wake channel prefix (last: it may hold spaces)
-- Returns: how many queues the ticket was removed from
local ticket, floor, wake = string.match(ARGV[1], '^(%S+) (%d+) (.*)$')
--@include keys
--@include decimal
--@include counter
--@include queue
--@include hand-over

local removed = 0
for i = 1, #KEYS do
  local lk = KEYS[i]
  local q, qe = keyOf(lk, 'q'), keyOf(lk, 'qe')
  removed = removed + redis.call('ZREM', q, ticket)
  redis.call('ZREM', qe, ticket)
  local holder = redis.call('GET', lk)
  if ownedBy(holder, ticket) then
    redis.call('DEL', lk)
    holder = false
  end
  if not holder then handOver(lk, keyOf(lk, 'fc'), q, qe, '', wake, floor) end
end
return removed
