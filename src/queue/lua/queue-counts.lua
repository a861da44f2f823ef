-- How many jobs are in each state.
-- KEYS:    [1] the queue's meta key
-- ARGV:    [1] unused ('')
-- Returns: {waiting, paused, prioritized, delayed, active, completed, failed}
--@include queue-keys

local wait = redis.call('LLEN', qk('wait'))
local paused = 0
if isPaused() then paused, wait = wait, 0 end
return {wait, paused, redis.call('ZCARD', qk('prioritized')), redis.call('ZCARD', qk('delayed')),
  redis.call('LLEN', qk('active')), redis.call('ZCARD', qk('completed')), redis.call('ZCARD', qk('failed'))}
