-- now(): the server's clock in ms, read once per script.
local clock
local function now()
  if not clock then
    local t = redis.call('TIME')
    clock = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  end
  return clock
end
-- queueHead(q, qe): the first live ticket of a waiter queue; expired tickets (waiters that left
-- without saying so) are dropped on the way.
local function queueHead(q, qe)
  for _ = 1, 16 do
    local h = redis.call('ZRANGE', q, 0, 0)[1]
    if not h then return nil end
    local expiry = redis.call('ZSCORE', qe, h)
    if expiry and tonumber(expiry) > now() then return h end
    redis.call('ZREM', q, h)
    redis.call('ZREM', qe, h)
  end
  return redis.call('ZRANGE', q, 0, 0)[1]
end
