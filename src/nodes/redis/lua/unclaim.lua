-- Drops a repair's claim on the node it was repairing, if the claim is still that repair's: a
-- repair that failed (a source stopped answering, too few sources) lets the next one start at once.
-- KEYS:    [1] the repair key
-- ARGV:    [1] the failed repair's id
-- Returns: 1 dropped, 0 not that repair's claim (or none)
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
