-- A job's lock, by its holder's token: 'extend' (PX ms; a lock that expired while the token is
-- still the job's current one is set again), 'release' (deletes it; the token stays current), and
-- 'take' (a job in active whose lock is free or already this token's: a new token, strictly
-- larger, from the queue's counter or given by a quorum lock, becomes the job's current one).
-- KEYS:    [1] the queue's meta key
-- ARGV:    [1] 'extend' | 'release' | 'take', [2] job id, [3] token ('' = none), [4] ms,
--          [5] the new token for 'take' ('' = the queue's next)
-- Returns: extend, release: 1 done, 0 not this token's lock
--          take: {1, new token} | {0}
--@include decimal
--@include queue-keys

local op, id, token, ms = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local jk, lk = jobKey(id), lockKey(id)
local holder = redis.call('GET', lk)
local current = redis.call('HGET', jk, 'ftok')
if op == 'release' then
  if holder ~= false and holder == token then
    redis.call('DEL', lk)
    return 1
  end
  return 0
end
local active = redis.call('LPOS', qk('active'), id)
if op == 'extend' then
  if token == '' then return 0 end
  if holder == token then
    redis.call('PEXPIRE', lk, ms)
    return 1
  end
  if not holder and current == token and active then
    redis.call('SET', lk, token, 'PX', ms)
    return 1
  end
  return 0
end
-- take
if not active then return {0} end
if holder and holder ~= token then return {0} end
local new = ARGV[5]
if new == '' then
  new = decimal(redis.call('INCR', qk('fence')))
elseif current and current ~= '' and not greater(new, current) then
  return {0}
end
redis.call('HSET', jk, 'ftok', new)
redis.call('SET', lk, new, 'PX', ms)
return {1, new}
