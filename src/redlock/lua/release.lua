-- Releases a lock on one node: deletes each resource the owner still holds, drops the owner's
-- ticket from the queues (unless quiet), and tells the head of each queue (on the resource's channel, as
-- "<ticket>|<owner>") that it may try now. The fencing counters are never touched.
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
  if not quiet then
    -- Done with this resource; an undone attempt's waiter keeps its place.
    redis.call('ZREM', q, ticket)
    redis.call('ZREM', qe, ticket)
  end
  if redis.call('GET', KEYS[i]) == owner then
    redis.call('DEL', KEYS[i])
    deleted = deleted + 1
    local h = not quiet and queueHead(q, qe)
    if h then redis.call('PUBLISH', channelOf(KEYS[i]), h .. '|' .. owner) end
  end
end
return deleted
