-- Writes a holder note beside each resource the owner still holds on this node: who holds the
-- lock (a label) and the grant's fencing token, for readers such as an election's leader().
-- A note is only written under the owner's live lease, and read back only while that lease is
-- the same owner's (holder-read.lua), so a former holder can neither write nor be reported.
-- KEYS:    lk[1..n], then the notes h[1..n] (the same resources, in the same order)
-- ARGV:    [1] owner, [2] fencing token (decimal), [3] label, [4] the note's lifetime in ms
-- Returns: how many notes were written (resources whose lease the owner holds)
local n = #KEYS / 2
local written = 0
for i = 1, n do
  if redis.call('GET', KEYS[i]) == ARGV[1] then
    redis.call('HSET', KEYS[n + i], 'o', ARGV[1], 't', ARGV[2], 'l', ARGV[3])
    redis.call('PEXPIRE', KEYS[n + i], ARGV[4])
    written = written + 1
  end
end
return written
