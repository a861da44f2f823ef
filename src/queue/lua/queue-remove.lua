-- Removes a job and its keys, from whatever state, unless it is active and its lock is held.
-- KEYS:    [1] the queue's meta key
-- ARGV:    [1] job id
-- Returns: 1 removed, 0 no such job, -1 locked (active, being processed)
--@include queue-keys

local id = ARGV[1]
if redis.call('EXISTS', jobKey(id)) == 0 then return 0 end
local active = redis.call('LPOS', qk('active'), id)
if active and redis.call('EXISTS', lockKey(id)) == 1 then return -1 end
redis.call('LREM', qk('active'), 1, id)
redis.call('LREM', qk('wait'), 1, id)
for _, set in ipairs({'prioritized', 'delayed', 'completed', 'failed'}) do redis.call('ZREM', qk(set), id) end
deleteJob(id)
emit('removed', 'jobId', id)
return 1
