-- Deletes the queue: up to `count` jobs per call (call again while it returns 1), then the
-- queue's own keys. The id and fencing counters stay, so a queue made again under the same name
-- never hands out a token or an id again (a zombie of the old queue stays stale).
-- KEYS:    [1] the queue's meta key
-- ARGV:    [1] force ('1': also when jobs are active), [2] count
-- Returns: 0 done, 1 more to delete, -1 jobs are active and force was not given
--@include queue-keys

local force, count = ARGV[1] == '1', tonumber(ARGV[2])
if not force and redis.call('LLEN', qk('active')) > 0 then return -1 end
local left = count
for _, name in ipairs({'active', 'wait'}) do
  while left > 0 do
    local id = redis.call('RPOP', qk(name))
    if not id then break end
    deleteJob(id)
    left = left - 1
  end
end
for _, name in ipairs({'prioritized', 'delayed', 'completed', 'failed'}) do
  while left > 0 do
    local popped = redis.call('ZPOPMIN', qk(name), math.min(left, 1000))
    if #popped == 0 then break end
    for i = 1, #popped, 2 do
      deleteJob(popped[i])
      left = left - 1
    end
  end
end
if left == 0 then return 1 end
redis.call('DEL', qk('meta'), qk('events'), qk('marker'), qk('limiter'), qk('pc'), qk('stalled'), qk('stalled-check'))
return 0
