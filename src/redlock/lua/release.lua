-- Releases a lock on one node: deletes each resource the owner still holds, drops the owner's
-- ticket from the queues (unless quiet), and hands each resource over to the head of its queue:
-- the lease is reserved for that ticket and the waiter is told on the resource's channel
-- ("<ticket>|<owner>"), so the next grant needs no race. The fencing counters are never touched.
-- The channel of a resource is its lease key with 'released' in place of the final 'lk'.
-- KEYS:    lk[1..n], q[1..n], qe[1..n]
-- ARGV:    [1] owner '<ticket>:<attempt>', [2] '1' to stay quiet (undoing a failed attempt, which
--          never held a quorum: waking anyone would only make them try too early)
-- Returns: how many resources were deleted
local n = #KEYS / 3
local owner, quiet = ARGV[1], ARGV[2] == '1'
local ticket = string.match(owner, '^(.*):') or owner
--@include queue

local deleted = 0
for i = 1, n do
  local q, qe = KEYS[n + i], KEYS[2 * n + i]
  local mine = redis.call('GET', KEYS[i]) == owner
  if mine then
    redis.call('DEL', KEYS[i])
    deleted = deleted + 1
  end
  -- Queue work only when someone is queued: one EXISTS in the common, uncontended case. A quiet
  -- undo leaves the waiter's place alone.
  if not quiet and redis.call('EXISTS', q) == 1 then
    redis.call('ZREM', q, ticket)
    redis.call('ZREM', qe, ticket)
    if mine then handOver(KEYS[i], q, qe, owner) end
  end
end
return deleted
