-- Moves up to `count` jobs to active and locks each (the job's lock key, PX lockDuration). First
-- promotes the delayed jobs that are due. Mode 'fence': the job's new fencing token is the next
-- value of the queue's counter, recorded on the job (its `ftok`) and as the lock's value. Mode
-- 'claim' (distributedLock): the lock holds the claim id and the token is recorded later by
-- queue-activate, once the quorum lock is granted.
-- KEYS:    [1] the queue's meta key
-- ARGV:    [1] 'fence' | 'claim', [2] the claim id (mode 'claim'), [3] lockDuration (ms),
--          [4] count (≥ 1), [5] limiter max (0 = no limiter), [6] limiter duration (ms)
-- Returns: {1, 0, job…}    jobs, each {id, token ('' when claimed), field, value, …} (the hash)
--          {0, ms}         none waiting; ms until the next delayed job is due, or -1
--          {2, -1}         the queue is paused
--          {3, ms}         the rate limiter is full for ms more
--@include queue-keys

local mode, claim, lockMs, count = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local limMax, limMs = tonumber(ARGV[5]), tonumber(ARGV[6])
local t = nowMs()

local due = redis.call('ZRANGEBYSCORE', qk('delayed'), '-inf', t, 'LIMIT', 0, 1000)
for _, id in ipairs(due) do
  redis.call('ZREM', qk('delayed'), id)
  enqueue(id, false)
  emit('waiting', 'jobId', id, 'prev', 'delayed')
end

if isPaused() then return {2, -1} end

if limMax > 0 then
  local used = tonumber(redis.call('GET', qk('limiter')) or '0')
  if used >= limMax then
    local ms = redis.call('PTTL', qk('limiter'))
    if ms > 0 then return {3, ms} end
    redis.call('DEL', qk('limiter'))
    used = 0
  end
  count = math.min(count, limMax - used)
end

local out = {1, 0}
for _ = 1, count do
  local id = redis.call('RPOP', qk('wait'))
  if not id then
    local popped = redis.call('ZPOPMIN', qk('prioritized'))
    id = popped[1]
  end
  if not id then break end
  local jk = jobKey(id)
  local token = ''
  redis.call('LPUSH', qk('active'), id)
  if mode == 'fence' then
    token = decimal(redis.call('INCR', qk('fence')))
    redis.call('HSET', jk, 'ftok', token, 'processedOn', t)
    redis.call('HINCRBY', jk, 'ats', 1)
    redis.call('SET', lockKey(id), token, 'PX', lockMs)
  else
    redis.call('SET', lockKey(id), claim, 'PX', lockMs)
  end
  emit('active', 'jobId', id, 'prev', 'waiting')
  local job = redis.call('HGETALL', jk)
  table.insert(job, 1, token)
  table.insert(job, 1, id)
  out[#out + 1] = job
end

local fetched = #out - 2
if fetched > 0 and limMax > 0 then
  if redis.call('INCRBY', qk('limiter'), fetched) == fetched then redis.call('PEXPIRE', qk('limiter'), limMs) end
end
if fetched == 0 then
  local next = redis.call('ZRANGE', qk('delayed'), 0, 0, 'WITHSCORES')
  if next[2] then return {0, math.max(0, tonumber(next[2]) - t)} end
  return {0, -1}
end
if redis.call('LLEN', qk('wait')) + redis.call('ZCARD', qk('prioritized')) > 0 then
  -- More is waiting: wake another worker.
  wake()
else
  emit('drained')
end
return out
