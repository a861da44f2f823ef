-- advance(fc, floor): moves a resource's fencing counter to max(fc + 1, floor) and returns the new
-- value as a decimal string. Commonly the floor is above it: one SET … GET. Else the counter is
-- put back and INCRed (exact up to 2^63 - 1). Needs include/decimal.
local function advance(fc, floor)
  local old = redis.call('SET', fc, floor, 'GET')
  if not old or greater(floor, old) then return floor end
  redis.call('SET', fc, old)
  redis.call('INCR', fc)
  return redis.call('GET', fc)
end
