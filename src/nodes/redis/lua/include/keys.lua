-- keyOf(lk, kind): a resource's other keys ('fc', 'q', 'qe') from its lease key
-- '<prefix>{<resource>}:lk', named as in keys.ts (keep in step). Only lease keys travel in KEYS;
-- the others carry the same hash tag, so they are in the same Cluster slot, where Redis lets a
-- script reach keys it did not declare.
local function keyOf(lk, kind)
  return string.sub(lk, 1, -3) .. kind
end
-- ownedBy(holder, ticket): the lease value belongs to some attempt (or hand-over) of this ticket.
local function ownedBy(holder, ticket)
  return holder and string.sub(holder, 1, #ticket + 1) == ticket .. ':'
end
