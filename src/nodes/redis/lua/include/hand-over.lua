-- handOver(lk, fc, q, qe, from, wake, floor): the resource just became free; if a waiter is
-- queued, its head gets it. Tickets read '<client>/<seq>/<ttl>'. A waiter for this one resource
-- (ttl > 0) is granted the lease outright: lk = '<ticket>:g' for its TTL, and the counter moves as
-- in acquire.lua (advance, include/counter); it holds the lock once a quorum of nodes told it so,
-- with no round trip of its own, and its place in the queue ends with the lease at the latest.
-- Other waiters (ttl 0: several resources) get the lease reserved ('<ticket>:handoff', for as
-- long as their place in the queue lasts) and take it over with their next attempt. Either way the waiter is told on its client's channel (wake .. client) as
-- '<ticket>|<from>|<token>' (token '' for a reservation). Returns the ticket, or nil.
local function handOver(lk, fc, q, qe, from, wake, floor)
  local h = queueHead(q, qe)
  if not h then return nil end
  local client, ttl = string.match(h, '^([^/]+)/[^/]+/(%d+)$')
  if not client then return nil end
  local token = ''
  if ttl ~= '0' then
    redis.call('SET', lk, h .. ':g', 'PX', ttl)
    token = advance(fc, floor)
    -- The waiter now holds the lease; its place may outlast it no longer than the lease, so that
    -- a holder that never comes back (crashed, stalled) blocks the next waiter for at most its TTL.
    redis.call('ZADD', qe, 'LT', now() + tonumber(ttl), h)
  else
    local left = math.max(1, math.ceil(tonumber(redis.call('ZSCORE', qe, h)) - now()))
    redis.call('SET', lk, h .. ':handoff', 'PX', left)
  end
  redis.call('PUBLISH', wake .. client, h .. '|' .. from .. '|' .. token)
  return h
end
