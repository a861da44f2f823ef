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
-- channelOf(lk): a resource's release channel: its lease key with 'released' for the final 'lk'.
local function channelOf(lk)
  return string.sub(lk, 1, -3) .. 'released'
end
-- handOver(lk, q, qe, from): the resource just became free; if a waiter is queued, reserve the
-- lease for the head ticket ('<ticket>:handoff', which only that ticket's next attempt takes
-- over, for as long as its place in the queue lasts) and tell it on the channel as
-- '<ticket>|<from>'. Returns the ticket, or nil when nobody waits.
local function handOver(lk, q, qe, from)
  local h = queueHead(q, qe)
  if not h then return nil end
  local left = math.max(1, tonumber(redis.call('ZSCORE', qe, h)) - now())
  redis.call('SET', lk, h .. ':handoff', 'PX', left)
  redis.call('PUBLISH', channelOf(lk), h .. '|' .. from)
  return h
end
