-- Adds jobs, all in one step (addBulk): each new job id gets a hash and goes to the wait list,
-- prioritized or delayed. A job id that exists already is that job: nothing is written for it.
-- KEYS:    [1] the queue's meta key (every other key is derived from it: include/queue-keys.lua)
-- ARGV:    [1] n, then 7 per job: id ('' = the next auto id), name, data (JSON), opts (JSON),
--          delay (ms), priority (0 = none, 1 = highest), lifo ('1' | '0')
-- Returns: {timestamp (server ms), id1, duplicate1 (1 | 0), id2, duplicate2, …}
--@include queue-keys

local t = nowMs()
local out = {t}
local n = tonumber(ARGV[1])
for i = 0, n - 1 do
  local a = 2 + i * 7
  local id = ARGV[a]
  local duplicate = 0
  if id == '' then
    -- Auto ids skip any custom id that took the number already.
    repeat id = tostring(redis.call('INCR', qk('id'))) until redis.call('EXISTS', jobKey(id)) == 0
  elseif redis.call('EXISTS', jobKey(id)) == 1 then
    duplicate = 1
  end
  if duplicate == 0 then
    local delay = tonumber(ARGV[a + 4])
    redis.call('HSET', jobKey(id), 'name', ARGV[a + 1], 'data', ARGV[a + 2], 'opts', ARGV[a + 3],
      'timestamp', t, 'delay', delay, 'priority', ARGV[a + 5], 'lifo', ARGV[a + 6], 'atm', 0, 'ats', 0)
    if delay > 0 then
      redis.call('ZADD', qk('delayed'), t + delay, id)
      emit('delayed', 'jobId', id, 'delay', t + delay)
      -- A worker waiting for a later delayed job wakes to wait for this one instead.
      wake()
    else
      enqueue(id, false)
      emit('waiting', 'jobId', id)
    end
  else
    emit('duplicated', 'jobId', id)
  end
  out[#out + 1] = id
  out[#out + 1] = duplicate
end
return out
