-- Round 1 of a grant on one node: lock every resource or none, and move each resource's fencing
-- counter to one common value m = max(max over keys of fc + 1, floor). Waiters queue in arrival
-- order (ticket score), and a free resource goes only to the head of its queue, so a releasing
-- client cannot re-grab it while others wait.
-- KEYS:    lk[1..n], fc[1..n], q[1..n] (queue: ticket -> arrival score), qe[1..n] (queue: ticket
--          -> expiry in server ms), then the ready key on gated nodes (#KEYS = 4n + 1)
-- ARGV:    [1] owner '<ticket>:<attempt>' (a ticket per acquire call, fresh per attempt), [2] ttl
--          in ms, [3] floor: wall clock in µs as a decimal string, [4] ticket score (arrival, µs),
--          [5] ms to stay queued when blocked (0: do not queue, e.g. tryAcquire)
-- Returns: {1, m}  locked; m is the token this node moved to, a decimal string
--          {0, i}  blocked on the i-th resource (held, or another waiter is ahead); queued if asked
--          error 'NOTREADY …' when the ready key is required and missing (node lost its data)
-- Counters are decimal strings compared by length, then lexically, so no precision is lost in
-- Lua's doubles; the + 1 is INCR, exact up to 2^63 - 1 (past that Redis answers an error).
-- Kept lean: 3 calls in the common uncontended single-key case.
local n = math.floor(#KEYS / 4)
local gated = #KEYS == 4 * n + 1
-- One EXISTS answers both "is the node ready" and "is anyone queued": a node without its ready
-- marker lost its data, queues included, and nothing queues on a node that is not ready.
local waiting
if gated then
  waiting = redis.call('EXISTS', KEYS[#KEYS], unpack(KEYS, 2 * n + 1, 3 * n)) - 1
  if waiting < 0 then
    return redis.error_reply('NOTREADY this node lost its data (no ready marker); repair it')
  end
else
  waiting = redis.call('EXISTS', unpack(KEYS, 2 * n + 1, 3 * n))
end

local owner = ARGV[1]
local ticket = string.match(owner, '^(.*):')
--@include decimal
--@include queue

local blocked, queued = 0, {}
for i = 1, waiting > 0 and n or 0 do
  local h = queueHead(KEYS[2 * n + i], KEYS[3 * n + i])
  if h == ticket then
    queued[i] = true
  elseif h then
    blocked = i
    break
  end
end
if blocked == 0 then
  for i = 1, n do
    if not redis.call('SET', KEYS[i], owner, 'NX', 'PX', ARGV[2]) then
      local holder = redis.call('GET', KEYS[i])
      if holder == owner then
        -- The same attempt replayed (a resent command): report the value it already moved to.
        return {1, redis.call('GET', KEYS[n + 1]) or '0'}
      elseif ownedBy(holder, ticket) then
        -- Reserved for this ticket by a release (hand-over), or left by an earlier attempt of this
        -- same acquire whose undo was lost: nobody holds it as a grant, so this attempt takes it.
        redis.call('SET', KEYS[i], owner, 'PX', ARGV[2])
      else
        for j = 1, i - 1 do redis.call('DEL', KEYS[j]) end
        blocked = i
        break
      end
    end
  end
end
if blocked > 0 then
  local stay = tonumber(ARGV[5])
  if stay > 0 then
    for i = 1, n do
      redis.call('ZADD', KEYS[2 * n + i], 'NX', ARGV[4], ticket)
      redis.call('ZADD', KEYS[3 * n + i], now() + stay, ticket)
    end
  end
  return {0, blocked}
end
for i = 1, n do
  if queued[i] then
    redis.call('ZREM', KEYS[2 * n + i], ticket)
    redis.call('ZREM', KEYS[3 * n + i], ticket)
  end
end

-- m: the floor when it is above every counter (the common case: one SET … GET per key), else the
-- largest fc + 1 (INCR keeps it exact), written to every key. The floor written first never shows:
-- the script is atomic.
local m, top = ARGV[3], nil
for i = n + 1, 2 * n do
  local old = redis.call('SET', KEYS[i], m, 'GET') or '0'
  if not greater(m, old) and (not top or greater(old, top)) then top = old end
end
if top then
  redis.call('SET', KEYS[n + 1], top)
  redis.call('INCR', KEYS[n + 1])
  m = redis.call('GET', KEYS[n + 1])
  for i = n + 2, 2 * n do redis.call('SET', KEYS[i], m) end
end
return {1, m}
