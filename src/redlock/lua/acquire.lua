-- Round 1 of a grant on one node: lock every resource or none, and move each resource's fencing
-- counter to one common value m = max(max over keys of fc + 1, floor).
-- KEYS:    lk[1..n], fc[1..n], then the ready key when ARGV[4] == '1'
-- ARGV:    [1] owner (random, fresh per attempt), [2] ttl in ms, [3] floor: wall clock in µs as a
--          decimal string, [4] '1' to require the ready key, '0' to skip the gate
-- Returns: {1, m}  locked; m is the token this node moved to, a decimal string
--          {0, i}  held: the i-th resource is locked by another owner; nothing changed
--          error 'NOTREADY …' when the ready key is required and missing (node lost its data)
-- Counters are decimal strings compared by length, then lexically, so no precision is lost in
-- Lua's doubles; the + 1 is INCR, exact up to 2^63 - 1 (past that Redis answers an error).
-- Kept lean: this runs on every node for every grant (4 calls in the common single-key case).
local gated = ARGV[4] == '1'
local n = gated and (#KEYS - 1) / 2 or #KEYS / 2
if gated and redis.call('EXISTS', KEYS[#KEYS]) == 0 then
  return redis.error_reply('NOTREADY this node lost its data (no ready marker); repair it')
end

local owner = ARGV[1]
for i = 1, n do
  if not redis.call('SET', KEYS[i], owner, 'NX', 'PX', ARGV[2]) then
    if redis.call('GET', KEYS[i]) == owner then
      -- The same attempt replayed (a resent command): report the value it already moved to.
      return {1, redis.call('GET', KEYS[n + 1]) or '0'}
    end
    for j = 1, i - 1 do redis.call('DEL', KEYS[j]) end
    return {0, i}
  end
end

local function greater(a, b)
  if #a ~= #b then return #a > #b end
  return a > b
end

-- m: the floor when it is above every counter (the common case), else the largest fc + 1.
local m = ARGV[3]
local behind = 0
for i = n + 1, 2 * n do
  local fc = redis.call('GET', KEYS[i]) or '0'
  if not greater(m, fc) then
    redis.call('INCR', KEYS[i])
    m = redis.call('GET', KEYS[i])
    behind = i
  end
end
for i = n + 1, 2 * n do
  if i ~= behind or n > 1 then redis.call('SET', KEYS[i], m) end
end
return {1, m}
