-- distributedLock: records the fencing token of the quorum lock just granted for a job that
-- queue-fetch claimed, if the claim is still this worker's and the token is newer than the job's.
-- KEYS:    [1] the queue's meta key
-- ARGV:    [1] job id, [2] claim id, [3] token (decimal), [4] lockDuration (ms)
-- Returns: {1, attemptsStarted, processedOn}  activated
--          {0}                                the claim is gone (the job was taken or removed)
--          {-2, current}                      the token is not newer than the job's current one
--@include decimal
--@include queue-keys

local id, claim, token = ARGV[1], ARGV[2], ARGV[3]
local jk, lk = jobKey(id), lockKey(id)
if redis.call('GET', lk) ~= claim then return {0} end
local current = redis.call('HGET', jk, 'ftok')
if current and current ~= '' and not greater(token, current) then return {-2, current} end
local t = nowMs()
redis.call('HSET', jk, 'ftok', token, 'processedOn', t)
local ats = redis.call('HINCRBY', jk, 'ats', 1)
redis.call('SET', lk, token, 'PX', tonumber(ARGV[4]))
return {1, ats, t}
