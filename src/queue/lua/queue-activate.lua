-- distributedLock: records the fencing token of the quorum lock just granted for a job that
-- queue-fetch claimed, if the claim is still this worker's and the token is newer than the job's.
-- KEYS:    [1] the queue's meta key
-- ARGV:    [1] job id, [2] claim id, [3] token (decimal), [4] lockDuration (ms), [5] the job's
--          token when it was claimed ('' = none)
-- Returns: {1, attemptsStarted, processedOn}  activated
--          {0}                                the claim is gone (the job was taken or removed)
--          {-2, current}                      the token is not newer than the job's current one
--@include decimal
--@include queue-keys

local id, claim, token = ARGV[1], ARGV[2], ARGV[3]
local jk, lk = jobKey(id), lockKey(id)
local holder = redis.call('GET', lk)
local current = redis.call('HGET', jk, 'ftok') or ''
if holder ~= claim then
  -- The claim's lease ran out while the quorum lock was granted: the job is still this claim's
  -- when nobody locked it, gave it a token or moved it out of active since.
  if holder or current ~= ARGV[5] or not redis.call('LPOS', qk('active'), id) then return {0} end
end
if current ~= '' and not greater(token, current) then return {-2, current} end
local t = nowMs()
redis.call('HSET', jk, 'ftok', token, 'processedOn', t)
local ats = redis.call('HINCRBY', jk, 'ats', 1)
redis.call('SET', lk, token, 'PX', tonumber(ARGV[4]))
return {1, ats, t}
