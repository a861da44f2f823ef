-- Pauses the queue for every worker (fetches return nothing; adds still queue), or resumes it.
-- KEYS:    [1] the queue's meta key
-- ARGV:    [1] '1' pause | '0' resume
-- Returns: 1
--@include queue-keys

if ARGV[1] == '1' then
  redis.call('HSET', qk('meta'), 'paused', '1')
  emit('paused')
else
  redis.call('HDEL', qk('meta'), 'paused')
  emit('resumed')
  wake()
end
return 1
