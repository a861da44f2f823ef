-- Releases a lock on one node: deletes each resource the owner still holds, drops the owner's
-- ticket from the queues (unless quiet), and hands each resource over to the head of its queue
-- (see handOver in include/hand-over.lua), so the next grant needs no race.
-- KEYS:    lk[1..n] (fc, q, qe derived, see include/keys.lua)
-- ARGV:    [1] '<owner> <quiet> <floor> <wake>' (keys.ts, releaseArgs): owner '<ticket>:<attempt>';
--          quiet '1' when undoing a failed attempt, which never held a quorum: only that exact
--          owner's leases go, and nobody is woken; floor: wall clock in µs (for a hand-over
--          grant's token); wake: the wake channel prefix (last: it may hold spaces)
-- A lock's release (not quiet) deletes every lease of its ticket, whichever attempt or hand-over
-- set it: the acquire call is over, and anything it left is garbage.
-- Returns: how many resources were deleted
local owner, quiet, floor, wake = string.match(ARGV[1], '^(%S+) ([01]) (%d+) (.*)$')
quiet = quiet == '1'
local ticket = string.match(owner, '^(.*):') or owner
--@include keys
--@include decimal
--@include queue
--@include hand-over

local deleted = 0
for i = 1, #KEYS do
  local lk = KEYS[i]
  local q = keyOf(lk, 'q')
  local holder = redis.call('GET', lk)
  local mine = holder == owner or (not quiet and ownedBy(holder, ticket))
  if mine then
    redis.call('DEL', lk)
    deleted = deleted + 1
  end
  -- Queue work only when someone is queued: one EXISTS in the common, uncontended case. A quiet
  -- undo leaves the waiter's place alone.
  if not quiet and redis.call('EXISTS', q) == 1 then
    local qe = keyOf(lk, 'qe')
    redis.call('ZREM', q, ticket)
    redis.call('ZREM', qe, ticket)
    if mine then handOver(lk, keyOf(lk, 'fc'), q, qe, owner, wake, floor) end
  end
end
return deleted
