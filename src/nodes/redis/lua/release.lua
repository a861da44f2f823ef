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
local owner, quiet = string.match(ARGV[1], '^(%S+) ([01]) ')
quiet = quiet == '1'
local ticket = string.match(owner, '^(.*):') or owner
--@include keys

-- Delete what this owner holds, except where someone waits (handed over below). A quiet undo
-- leaves the waiters' places alone, so it never looks at the queues.
local deleted, waited = 0, nil
for i = 1, #KEYS do
  local lk = KEYS[i]
  local holder = redis.call('GET', lk)
  local mine = holder == owner or (not quiet and ownedBy(holder, ticket))
  if mine then deleted = deleted + 1 end
  if not quiet and redis.call('EXISTS', keyOf(lk, 'q')) == 1 then
    waited = waited or {}
    waited[#waited + 1] = {lk, mine}
  elseif mine then
    redis.call('DEL', lk)
  end
end
if not waited then return deleted end

-- Queue work, built only when someone waits (the common, uncontended release ends above): this
-- ticket leaves the queues, and each resource it freed goes to the head of its queue.
local floor, wake = string.match(ARGV[1], '^%S+ [01] (%d+) (.*)$')
--@include decimal
--@include counter
--@include queue
--@include hand-over
for _, w in ipairs(waited) do
  local lk, mine = w[1], w[2]
  local q, qe = keyOf(lk, 'q'), keyOf(lk, 'qe')
  redis.call('ZREM', q, ticket)
  redis.call('ZREM', qe, ticket)
  -- The hand-over overwrites this owner's lease; with nobody to hand it to, it is deleted.
  if mine and not handOver(lk, keyOf(lk, 'fc'), q, qe, owner, wake, floor) then redis.call('DEL', lk) end
end
return deleted
