-- The stalled sweep, two-phase as BullMQ's moveStalledJobsToWait.
-- 'sweep': at most once per interval across all workers (the guard key, SET NX PX). Returns the
-- jobs the previous sweep marked that are still active with no lock (stalled), then marks the
-- active jobs that have no lock now. A job is marked only while its lock key is gone: a live
-- delivery renews it (or its keep-alive lease) long before.
-- 'move': puts the given stalled jobs back to run next, if still active and unlocked; each stall
-- is counted on the job (`stc`), and one past maxStalledCount is left active for the caller to
-- fail through its attempts. The stalled delivery's token stops being current.
-- KEYS:    [1] the queue's meta key
-- ARGV:    'sweep', [2] guard ms
--          'move', [2] maxStalledCount, [3..] job ids
-- Returns: sweep: {1, id…} | {0} another worker swept within the interval
--          move: {{moved id…}, {over id…}}
--@include queue-keys

local marked = qk('stalled')
if ARGV[1] == 'sweep' then
  if not redis.call('SET', qk('stalled-check'), '1', 'NX', 'PX', ARGV[2]) then return {0} end
  local out = {1}
  local unlocked = {}
  for _, id in ipairs(redis.call('LRANGE', qk('active'), 0, -1)) do
    if redis.call('EXISTS', lockKey(id)) == 0 then
      unlocked[#unlocked + 1] = id
      if redis.call('SISMEMBER', marked, id) == 1 then out[#out + 1] = id end
    end
  end
  redis.call('DEL', marked)
  for _, id in ipairs(unlocked) do redis.call('SADD', marked, id) end
  return out
end

local max = tonumber(ARGV[2])
local moved, over = {}, {}
for i = 3, #ARGV do
  local id = ARGV[i]
  if redis.call('EXISTS', lockKey(id)) == 0 and redis.call('LPOS', qk('active'), id) then
    local jk = jobKey(id)
    redis.call('SREM', marked, id)
    local stc = redis.call('HINCRBY', jk, 'stc', 1)
    if stc > max then
      redis.call('HSET', jk, 'stc', 0)
      over[#over + 1] = id
    else
      redis.call('LREM', qk('active'), 1, id)
      redis.call('HSET', jk, 'ftok', '')
      enqueue(id, true)
      emit('stalled', 'jobId', id, 'prev', 'active')
      emit('waiting', 'jobId', id, 'prev', 'active')
      moved[#moved + 1] = id
    end
  end
end
return {moved, over}
