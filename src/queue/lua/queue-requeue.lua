-- Puts an active job straight back where the next fetch looks, unfinished (close with a timeout,
-- or a claim whose quorum lock was refused). The holder's token stops being current, so the
-- abandoned attempt can no longer finish the job; attemptsMade is unchanged.
-- KEYS:    [1] the queue's meta key
-- ARGV:    [1] job id, [2] the holder's token or claim id, [3] for a claim: the job's token when
--          it was claimed ('' = none); a claim whose lease ran out is still the holder's when
--          nobody locked the job or gave it a token since
-- Returns: 1 put back, 0 not this holder's (finished, taken over or removed)
--@include queue-keys

local id, holder = ARGV[1], ARGV[2]
local jk, lk = jobKey(id), lockKey(id)
local current = redis.call('HGET', jk, 'ftok')
local lock = redis.call('GET', lk)
if lock ~= holder and current ~= holder and (lock or ARGV[3] == nil or (current or '') ~= ARGV[3]) then return 0 end
if redis.call('LREM', qk('active'), 1, id) == 0 then return 0 end
redis.call('DEL', lk)
if current == holder then redis.call('HSET', jk, 'ftok', '') end
enqueue(id, true)
emit('waiting', 'jobId', id, 'prev', 'active')
return 1
