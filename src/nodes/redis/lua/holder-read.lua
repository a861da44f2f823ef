-- Reads the holder note of one resource, if the owner that wrote it still holds the lease.
-- KEYS:    [1] lk (the lease), [2] h (the note)
-- ARGV:    none
-- Returns: {fencing token, label, lease ms left}, or false: no note (or not one of ours: not a
--          hash), or its owner no longer holds
if redis.call('TYPE', KEYS[2]).ok ~= 'hash' then return false end
local note = redis.call('HMGET', KEYS[2], 'o', 't', 'l')
if not note[1] or redis.call('GET', KEYS[1]) ~= note[1] then return false end
return {note[2], note[3], redis.call('PTTL', KEYS[1])}
