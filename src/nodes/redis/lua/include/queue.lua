-- micros(), now(): the server's clock in µs and in ms, read once per script (a double holds
-- today's µs exactly).
local clock
local function micros()
  if not clock then
    local t = redis.call('TIME')
    clock = tonumber(t[1]) * 1000000 + tonumber(t[2])
  end
  return clock
end
local function now()
  return math.floor(micros() / 1000)
end
-- queueHead(q, qe): the first live ticket of a waiter queue. Every expired ticket (a waiter that
-- left without saying so, or crashed) is dropped first, however many there are, so the head
-- returned is always live: a dead waiter is never handed a lease.
local function queueHead(q, qe)
  local dead = redis.call('ZRANGEBYSCORE', qe, '-inf', now())
  -- In slices: Lua's unpack has a limit of a few thousand values.
  for i = 1, #dead, 1000 do
    local j = math.min(i + 999, #dead)
    redis.call('ZREM', q, unpack(dead, i, j))
    redis.call('ZREM', qe, unpack(dead, i, j))
  end
  while true do
    local h = redis.call('ZRANGE', q, 0, 0)[1]
    if not h or redis.call('ZSCORE', qe, h) then return h end
    redis.call('ZREM', q, h) -- queued without an expiry: never live
  end
end
-- arrival(score): a waiter's place in the queue, its client's wall clock in µs, kept within
-- ARRIVAL_SLACK_US of this node's clock: a client whose clock runs ahead or behind is queued as if
-- it arrived at most that much later or earlier, so it can neither jump nor starve behind the
-- others by more than that.
local ARRIVAL_SLACK_US = 1000000
local function arrival(score)
  local server = micros()
  local s = math.min(math.max(tonumber(score), server - ARRIVAL_SLACK_US), server + ARRIVAL_SLACK_US)
  return string.format('%.0f', s)
end
