-- Key names of one queue, derived from KEYS[1], its meta key `{<prefix>:<name>}:meta`: every key
-- of the queue carries the same hash tag, so on a Cluster they all live in one slot (queue-keys.ts
-- names the same keys for the client side).
local base = string.sub(KEYS[1], 1, #KEYS[1] - 4)
local function qk(name) return base .. name end
local function jobKey(id) return base .. 'j:' .. id end
local function lockKey(id) return base .. 'l:' .. id end
local function logKey(id) return base .. 'log:' .. id end

-- The server's clock in ms: every timestamp of a queue comes from Redis, never from a client.
local function nowMs()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- One entry on the queue's event stream (QueueEvents reads it), capped at about 10,000 entries.
local function emit(...)
  redis.call('XADD', qk('events'), 'MAXLEN', '~', 10000, '*', 'event', ...)
end

local function isPaused()
  return redis.call('HGET', qk('meta'), 'paused') == '1'
end

-- Wakes one worker blocked on the marker (BZPOPMIN), unless the queue is paused.
local function wake()
  if not isPaused() then redis.call('ZADD', qk('marker'), 0, '0') end
end

-- Queues a job to run: prioritized (1 = highest; FIFO within a priority) or the wait list, at
-- its back or, with `front` (lifo, or a job put back unfinished), where the next fetch looks.
local function enqueue(id, front)
  local jk = jobKey(id)
  local priority = tonumber(redis.call('HGET', jk, 'priority') or '0') or 0
  if priority > 0 then
    local pc = redis.call('INCR', qk('pc'))
    redis.call('ZADD', qk('prioritized'), priority * 4294967296 + (pc % 4294967296), id)
  elseif front or redis.call('HGET', jk, 'lifo') == '1' then
    redis.call('RPUSH', qk('wait'), id)
  else
    redis.call('LPUSH', qk('wait'), id)
  end
  wake()
end

-- Deletes a job's own keys (hash, lock, logs).
local function deleteJob(id)
  redis.call('DEL', jobKey(id), lockKey(id), logKey(id))
end

-- A decimal token as a string (Lua numbers print large integers in exponent notation).
local function decimal(n)
  return string.format('%d', n)
end
