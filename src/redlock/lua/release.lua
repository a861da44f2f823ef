-- Releases a lock on one node: deletes each resource the owner still holds, drops the owner's
-- ticket from the queues (unless quiet), and hands each resource over to the head of its queue
-- (see handOver in include/queue.lua), so the next grant needs no race.
-- KEYS:    lk[1..n], fc[1..n], q[1..n], qe[1..n]
-- ARGV:    [1] owner '<ticket>:<attempt>', [2] '1' to stay quiet (undoing a failed attempt, which
--          never held a quorum: only that exact owner's leases go, and nobody is woken), [3] the
--          wake channel prefix, [4] floor: wall clock in µs (for a hand-over grant's token)
-- A lock's release (not quiet) deletes every lease of its ticket, whichever attempt or hand-over
-- set it: the acquire call is over, and anything it left is garbage.
-- Returns: how many resources were deleted
local n = #KEYS / 4
local owner, quiet = ARGV[1], ARGV[2] == '1'
local ticket = string.match(owner, '^(.*):') or owner
--@include decimal
--@include queue
--@include hand-over

local deleted = 0
for i = 1, n do
  local q = KEYS[2 * n + i]
  local holder = redis.call('GET', KEYS[i])
  local mine = holder == owner or (not quiet and ownedBy(holder, ticket))
  if mine then
    redis.call('DEL', KEYS[i])
    deleted = deleted + 1
  end
  -- Queue work only when someone is queued: one EXISTS in the common, uncontended case. A quiet
  -- undo leaves the waiter's place alone.
  if not quiet and redis.call('EXISTS', q) == 1 then
    local qe = KEYS[3 * n + i]
    redis.call('ZREM', q, ticket)
    redis.call('ZREM', qe, ticket)
    if mine then handOver(KEYS[i], KEYS[n + i], q, qe, owner, ARGV[3], ARGV[4]) end
  end
end
return deleted
