-- Round 1 of a grant on one node: lock every resource or none, and move each resource's fencing
-- counter to one common value m = max(max over keys of fc + 1, floor).
-- KEYS:    lk[1..n], fc[1..n], then the ready key when ARGV[4] == '1'
-- ARGV:    [1] owner (random, fresh per attempt), [2] ttl in ms, [3] floor: wall clock in µs as a
--          decimal string, [4] '1' to require the ready key, '0' to skip the gate
-- Returns: {1, m}  locked; m is the token this node moved to, a decimal string
--          {0, i}  held: the i-th resource is locked by another owner; nothing changed
--          error 'NOTREADY' when the ready key is required and missing (node lost its data)
-- Counters are decimal strings compared by length, then lexically, so no precision is lost in
-- Lua's doubles; INCR keeps the +1 exact up to 2^63 - 1 (past that Redis answers an error).
local gated = ARGV[4] == '1'
local n = gated and (#KEYS - 1) / 2 or #KEYS / 2
if gated and redis.call('EXISTS', KEYS[#KEYS]) == 0 then
  return redis.error_reply('NOTREADY this node lost its data (no ready marker); repair it')
end

local function greater(a, b)
  if #a ~= #b then return #a > #b end
  return a > b
end

local owner = ARGV[1]
local mine = 0
for i = 1, n do
  local holder = redis.call('GET', KEYS[i])
  if holder == owner then
    mine = mine + 1
  elseif holder then
    return {0, i}
  end
end
if mine == n then
  -- The same attempt replayed (a resent command): report the value it already moved to.
  return {1, redis.call('GET', KEYS[n + 1]) or '0'}
end

local m = ARGV[3]
for i = n + 1, 2 * n do
  redis.call('INCR', KEYS[i])
  local next = redis.call('GET', KEYS[i])
  if greater(next, m) then m = next end
end
for i = 1, n do
  redis.call('SET', KEYS[i], owner, 'PX', ARGV[2])
  redis.call('SET', KEYS[n + i], m)
end
return {1, m}
