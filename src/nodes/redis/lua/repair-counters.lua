-- Copies fencing counters onto a node that lost its data (repair), set-if-greater, and only while
-- the node is not ready: once ready it serves grants and its counters are its own.
-- KEYS:    [1] ready key, [2..n+1] fc keys
-- ARGV:    [1..n] the highest value seen on a majority for each fc key, decimal strings
-- Returns: how many counters were raised; error 'READY' when the node is ready already
if redis.call('EXISTS', KEYS[1]) == 1 then
  return redis.error_reply('READY the node is ready already')
end
--@include decimal
local raised = 0
for i = 2, #KEYS do
  local v = ARGV[i - 1]
  if greater(v, redis.call('GET', KEYS[i]) or '0') then
    redis.call('SET', KEYS[i], v)
    raised = raised + 1
  end
end
return raised
