-- Reads, or sets when absent, the ready marker of a node. The marker's presence says "this node
-- has not lost its fencing counters"; a node that came back empty has none and refuses grants.
-- KEYS:    [1] ready key
-- ARGV:    [1] '' to only read; otherwise the cluster id to store when the marker is absent
-- Returns: the marker's value (the cluster id), or false when absent
if ARGV[1] ~= '' then
  redis.call('SET', KEYS[1], ARGV[1], 'NX')
end
return redis.call('GET', KEYS[1])
