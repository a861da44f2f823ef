-- Reads, or sets when absent, the ready marker of a node. The marker's presence says "this node
-- has not lost its fencing counters"; a node that came back empty has none and refuses grants.
-- KEYS:    [1] ready key, [2] (repair only) the repair key written when the repair began
-- ARGV:    [1] '' to only read; otherwise the cluster id to store when the marker is absent,
--          [2] (repair only) the repair's id: the marker is set only if the repair key still
--          holds it, i.e. the node did not restart (and forget the copied counters) meanwhile
-- Returns: the marker's value (the cluster id), or false when absent
if ARGV[1] ~= '' then
  if KEYS[2] == nil then
    redis.call('SET', KEYS[1], ARGV[1], 'NX')
  elseif redis.call('GET', KEYS[2]) == ARGV[2] then
    redis.call('SET', KEYS[1], ARGV[1], 'NX')
    redis.call('DEL', KEYS[2])
  end
end
return redis.call('GET', KEYS[1])
