-- A downstream fence on one Redis: accepts a fencing token that is not lower than the highest one
-- seen for the resource (equal = the same grant acting again), records it, and then optionally
-- reads or writes the protected value in the same atomic step. A lower token is stale and nothing
-- happens.
-- KEYS:    [1] the fence key (highest token seen), [2] the protected key (only for 'get'/'set')
-- ARGV:    [1] token as a decimal string, [2] 'check' | 'get' | 'set', [3] the value for 'set'
-- Returns: {1, value-or-false}  accepted ('get' returns the value, 'set' and 'check' false)
--          {0, highest}         stale: the highest token seen, as a decimal string
--@include decimal

local token = ARGV[1]
local highest = redis.call('GET', KEYS[1])
if highest and greater(highest, token) then
  return {0, highest}
end
if highest ~= token then redis.call('SET', KEYS[1], token) end
local op = ARGV[2]
if op == 'get' then
  return {1, redis.call('GET', KEYS[2])}
elseif op == 'set' then
  redis.call('SET', KEYS[2], ARGV[3])
end
return {1, false}
