-- Round 1 of a grant on one node: lock every resource or none, and move each resource's fencing
-- counter to one common value m = max(max over keys of fc + 1, floor). Waiters queue in arrival
-- order (ticket score), and a free resource goes only to the head of its queue, so a releasing
-- client cannot re-grab it while others wait.
-- KEYS:    lk[1..n] (the counters fc, queues q (ticket -> arrival score) and qe (ticket -> expiry
--          in server ms) are derived, see include/keys.lua), then the ready key on gated nodes
--          (its value '<cluster id> <max ttl> <incarnation> <nodes>', see fencing/ready-gate.ts)
-- ARGV:    [1] '<owner> <ttl> <floor> <score> <stay> <nodes>' (keys.ts, acquireArgs): owner
--          '<ticket>:<attempt>' (a ticket per acquire call, fresh per attempt); ttl in ms; floor:
--          wall clock in µs; ticket score (arrival, µs); ms to stay queued when blocked (0: do not
--          queue, e.g. tryAcquire); nodes: how many nodes the client's Redlock has
-- Returns: {1, m}  locked; m is the token this node moved to, a decimal string
--          {0, i, c}  blocked on the i-th resource (held, or another waiter is ahead); queued if
--          asked; c is the first resource's counter now, so that a hand-over grant announced
--          later can be proven newer than this answer (its token is above c)
--          error 'NOTREADY …' when the ready key is required and missing (node never initialised,
--          or lost its data)
--          error 'TTLTOOLONG <max>' when ttl is above the cluster's max TTL kept in the ready key
--          error 'CLUSTERSIZE <n>' when the node belongs to a cluster of n nodes, not the client's
-- Counters are decimal strings compared by length, then lexically, so no precision is lost in
-- Lua's doubles; the + 1 is INCR, exact up to 2^63 - 1 (past that Redis answers an error).
-- Kept lean: 4 calls in the common uncontended single-key case.
local gated = string.sub(KEYS[#KEYS], -7) == '__ready'
local n = gated and #KEYS - 1 or #KEYS
local owner, ttl, floor, score, stay, nodes = string.match(ARGV[1], '^(%S+) (%d+) (%d+) (%d+) (%d+) (%d+)$')
--@include keys
--@include decimal
--@include counter
local q = {}
for i = 1, n do q[i] = keyOf(KEYS[i], 'q') end
-- A node without its ready marker lost its data, queues included: it refuses. The marker also
-- carries the cluster's max TTL, which every lease on the node stays within (repair waits it out).
if gated then
  local mark = redis.call('GET', KEYS[n + 1])
  if not mark then
    return redis.error_reply('NOTREADY no ready marker: never initialised, or lost its data')
  end
  local max, size = string.match(mark, '^%S+ (%d+) %S+ ?(%d*)$')
  if size and size ~= '' and size ~= nodes then return redis.error_reply('CLUSTERSIZE ' .. size) end
  if max and tonumber(ttl) > tonumber(max) then return redis.error_reply('TTLTOOLONG ' .. max) end
end
local waiting = redis.call('EXISTS', unpack(q))

-- The common case, one free resource and nobody queued, before any queue machinery is built:
-- lock it and move the counter (to the floor when that is above it, else INCR). Anything else
-- (held, a replayed or handed-over lease) falls through to the general path below; `single`
-- then says that this SET was made and failed.
local single = n == 1 and waiting == 0
if single and redis.call('SET', KEYS[1], owner, 'NX', 'PX', ttl) then
  return {1, advance(keyOf(KEYS[1], 'fc'), floor)}
end

local ticket = string.match(owner, '^(.*):')
local fc, qe = {}, {}
for i = 1, n do fc[i], qe[i] = keyOf(KEYS[i], 'fc'), keyOf(KEYS[i], 'qe') end
--@include queue

local blocked, queued = 0, {}
for i = 1, waiting > 0 and n or 0 do
  local h = queueHead(q[i], qe[i])
  if h == ticket then
    queued[i] = true
  elseif h then
    blocked = i
    break
  end
end
if blocked == 0 then
  for i = 1, n do
    if single or not redis.call('SET', KEYS[i], owner, 'NX', 'PX', ttl) then
      local holder = redis.call('GET', KEYS[i])
      if holder == owner then
        -- The same attempt replayed (a resent command): report the value it already moved to.
        return {1, redis.call('GET', fc[1]) or '0'}
      elseif ownedBy(holder, ticket) then
        -- Reserved for this ticket by a release (hand-over), or left by an earlier attempt of this
        -- same acquire whose undo was lost: nobody holds it as a grant, so this attempt takes it.
        redis.call('SET', KEYS[i], owner, 'PX', ttl)
      else
        for j = 1, i - 1 do redis.call('DEL', KEYS[j]) end
        blocked = i
        break
      end
    end
  end
end
if blocked > 0 then
  if stay ~= '0' then
    score = arrival(score)
    for i = 1, n do
      redis.call('ZADD', q[i], 'NX', score, ticket)
      redis.call('ZADD', qe[i], now() + tonumber(stay), ticket)
    end
  end
  return {0, blocked, redis.call('GET', fc[1]) or '0'}
end
for i = 1, n do
  if queued[i] then
    redis.call('ZREM', q[i], ticket)
    redis.call('ZREM', qe[i], ticket)
  end
end

-- m: the floor when it is above every counter (the common case: one SET … GET per key), else the
-- largest fc + 1 (INCR keeps it exact), written to every key. The floor written first never shows:
-- the script is atomic.
local m, top = floor, nil
for i = 1, n do
  local old = redis.call('SET', fc[i], m, 'GET') or '0'
  if not greater(m, old) and (not top or greater(old, top)) then top = old end
end
if top then
  redis.call('SET', fc[1], top)
  redis.call('INCR', fc[1])
  m = redis.call('GET', fc[1])
  for i = 2, n do redis.call('SET', fc[i], m) end
end
return {1, m}
