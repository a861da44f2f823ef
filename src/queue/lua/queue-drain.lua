-- Removes every job waiting to run (wait list and prioritized), and the delayed ones if asked.
-- Active, completed and failed jobs stay.
-- KEYS:    [1] the queue's meta key
-- ARGV:    [1] '1' also delayed | '0'
-- Returns: how many jobs were removed
--@include queue-keys

local n = 0
local function dropAll(ids)
  for _, id in ipairs(ids) do
    deleteJob(id)
    n = n + 1
  end
end
dropAll(redis.call('LRANGE', qk('wait'), 0, -1))
dropAll(redis.call('ZRANGE', qk('prioritized'), 0, -1))
redis.call('DEL', qk('wait'), qk('prioritized'))
if ARGV[1] == '1' then
  dropAll(redis.call('ZRANGE', qk('delayed'), 0, -1))
  redis.call('DEL', qk('delayed'))
end
return n
