-- Moves a job between states on request: 'retry' (a failed or completed job runs again, its
-- attempts counted from zero) and 'promote' (a delayed job runs now). A retried job's old token
-- stops being current.
-- KEYS:    [1] the queue's meta key
-- ARGV:    [1] 'retry' | 'promote', [2] job id, [3] the state it must be in ('failed' |
--          'completed' | 'delayed')
-- Returns: 1 moved, 0 no such job, -1 not in that state
--@include queue-keys

local op, id, from = ARGV[1], ARGV[2], ARGV[3]
local jk = jobKey(id)
if redis.call('EXISTS', jk) == 0 then return 0 end
if redis.call('ZREM', qk(from), id) == 0 then return -1 end
if op == 'retry' then
  redis.call('HSET', jk, 'atm', 0, 'ftok', '')
  redis.call('HDEL', jk, 'finishedOn', 'processedOn', 'returnvalue', 'failedReason')
end
enqueue(id, false)
emit('waiting', 'jobId', id, 'prev', from)
return 1
