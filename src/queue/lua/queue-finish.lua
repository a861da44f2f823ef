-- Finishes an attempt, judged by the fencing token: only the job's current token may move it.
-- A current token is accepted even when its lock expired (a late but uncontested completion).
-- The job leaves active (or, after being put back unfinished, the list it waits in), its lock is
-- deleted, attemptsMade grows by one, and it goes to completed, failed, or back to be retried.
-- KEYS:    [1] the queue's meta key
-- ARGV:    [1] job id, [2] token, [3] 'completed' | 'failed' | 'retry' (now) | 'delayed' (retry later),
--          [4] returnvalue (JSON) or failedReason, [5] stacktrace (JSON, '' = unchanged),
--          [6] delay (ms, for 'delayed'), [7] keep count (-1 = all), [8] keep age (s, -1 = any)
-- Returns: {1, attemptsMade, finishedOn}
--          {-1}            no such job (removed)
--          {-2, current}   stale: the job's current token is another one ('' = none)
--          {-3}            the job is not active or waiting (finished already)
--@include queue-keys

local id, token, target, value, stack = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local jk = jobKey(id)
if redis.call('EXISTS', jk) == 0 then return {-1} end
local current = redis.call('HGET', jk, 'ftok') or ''
if current ~= token then
  emit('stale', 'jobId', id, 'token', token, 'current', current)
  return {-2, current}
end
local found = redis.call('LREM', qk('active'), 1, id)
if found == 0 then
  found = redis.call('LREM', qk('wait'), 1, id) + redis.call('ZREM', qk('prioritized'), id) + redis.call('ZREM', qk('delayed'), id)
  if found == 0 then return {-3} end
end
redis.call('DEL', lockKey(id))
local t = nowMs()
local atm = redis.call('HINCRBY', jk, 'atm', 1)

-- Keeps the newest `count` jobs of a finished set, and none older than `age` seconds.
local function trim(set, count, age)
  if age >= 0 then
    local old = redis.call('ZRANGEBYSCORE', qk(set), '-inf', t - age * 1000, 'LIMIT', 0, 1000)
    for _, old_id in ipairs(old) do
      redis.call('ZREM', qk(set), old_id)
      deleteJob(old_id)
    end
  end
  if count >= 0 then
    local n = redis.call('ZCARD', qk(set))
    if n > count then
      local old = redis.call('ZRANGE', qk(set), 0, n - count - 1)
      for _, old_id in ipairs(old) do deleteJob(old_id) end
      redis.call('ZREMRANGEBYRANK', qk(set), 0, n - count - 1)
    end
  end
end

if target == 'completed' then
  redis.call('HSET', jk, 'returnvalue', value, 'finishedOn', t)
  redis.call('ZADD', qk('completed'), t, id)
  emit('completed', 'jobId', id, 'returnvalue', value, 'prev', 'active')
  trim('completed', tonumber(ARGV[7]), tonumber(ARGV[8]))
  return {1, atm, t}
end
redis.call('HSET', jk, 'failedReason', value)
if stack ~= '' then redis.call('HSET', jk, 'stacktrace', stack) end
if target == 'failed' then
  redis.call('HSET', jk, 'finishedOn', t)
  redis.call('ZADD', qk('failed'), t, id)
  emit('failed', 'jobId', id, 'failedReason', value, 'prev', 'active')
  trim('failed', tonumber(ARGV[7]), tonumber(ARGV[8]))
elseif target == 'delayed' then
  local at = t + tonumber(ARGV[6])
  redis.call('ZADD', qk('delayed'), at, id)
  emit('delayed', 'jobId', id, 'delay', at)
  wake()
else
  enqueue(id, false)
  emit('waiting', 'jobId', id, 'prev', 'failed')
end
return {1, atm, t}
