-- A job's state, from the list or set it is in.
-- KEYS:    [1] the queue's meta key
-- ARGV:    [1] job id
-- Returns: 'completed' | 'failed' | 'delayed' | 'active' | 'prioritized' | 'waiting' | 'paused' | 'unknown'
--@include queue-keys

local id = ARGV[1]
if redis.call('ZSCORE', qk('completed'), id) then return 'completed' end
if redis.call('ZSCORE', qk('failed'), id) then return 'failed' end
if redis.call('ZSCORE', qk('delayed'), id) then return 'delayed' end
if redis.call('LPOS', qk('active'), id) then return 'active' end
if redis.call('ZSCORE', qk('prioritized'), id) then return 'prioritized' end
if redis.call('LPOS', qk('wait'), id) then
  if isPaused() then return 'paused' end
  return 'waiting'
end
return 'unknown'
