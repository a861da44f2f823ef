-- Updates a job: 'progress' (also an event), 'log' (appends a row, keeping the last keepLogs) or
-- 'data'. With a token, only while it is the job's current one (a stale worker cannot write).
-- KEYS:    [1] the queue's meta key
-- ARGV:    [1] 'progress' | 'log' | 'data', [2] job id, [3] token ('' = not fenced),
--          [4] value (JSON, or the log row), [5] keepLogs (0 = all)
-- Returns: {1, n}          done (n: the number of log rows for 'log', else 0)
--          {-1}            no such job
--          {-2, current}   stale token
--@include queue-keys

local op, id, token, value = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local jk = jobKey(id)
if redis.call('EXISTS', jk) == 0 then return {-1} end
if token ~= '' then
  local current = redis.call('HGET', jk, 'ftok') or ''
  if current ~= token then return {-2, current} end
end
if op == 'progress' then
  redis.call('HSET', jk, 'progress', value)
  emit('progress', 'jobId', id, 'data', value)
  return {1, 0}
elseif op == 'log' then
  local n = redis.call('RPUSH', logKey(id), value)
  local keep = tonumber(ARGV[5])
  if keep > 0 and n > keep then
    redis.call('LTRIM', logKey(id), -keep, -1)
    n = keep
  end
  return {1, n}
end
redis.call('HSET', jk, 'data', value)
return {1, 0}
