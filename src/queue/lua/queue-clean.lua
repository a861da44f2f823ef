-- Removes jobs of one state older than the grace period: finished ones by finishedOn, the others
-- by when they were added. Active jobs whose lock is held are kept.
-- KEYS:    [1] the queue's meta key
-- ARGV:    [1] 'completed' | 'failed' | 'delayed' | 'prioritized' | 'waiting' | 'paused' | 'active',
--          [2] grace (ms), [3] limit (0 = no limit)
-- Returns: the removed ids
--@include queue-keys

local state, grace, limit = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local before = nowMs() - grace
local removed = {}
local function full() return limit > 0 and #removed >= limit end
local function drop(id)
  deleteJob(id)
  removed[#removed + 1] = id
  emit('removed', 'jobId', id, 'prev', state)
end

if state == 'completed' or state == 'failed' then
  local ids = redis.call('ZRANGEBYSCORE', qk(state), '-inf', before, 'LIMIT', 0, limit > 0 and limit or -1)
  for _, id in ipairs(ids) do
    redis.call('ZREM', qk(state), id)
    drop(id)
  end
  return removed
end

local old = function(id) return tonumber(redis.call('HGET', jobKey(id), 'timestamp') or '0') <= before end
if state == 'delayed' or state == 'prioritized' then
  for _, id in ipairs(redis.call('ZRANGE', qk(state), 0, -1)) do
    if full() then break end
    if old(id) then
      redis.call('ZREM', qk(state), id)
      drop(id)
    end
  end
  return removed
end

-- 'waiting' is the wait list, also while the queue is paused; 'paused' only then.
if state == 'paused' and not isPaused() then return removed end
local list = qk('wait')
if state == 'active' then list = qk('active') end
for _, id in ipairs(redis.call('LRANGE', list, 0, -1)) do
  if full() then break end
  if old(id) and (state ~= 'active' or redis.call('EXISTS', lockKey(id)) == 0) then
    redis.call('LREM', list, 1, id)
    drop(id)
  end
end
return removed
