-- greater(a, b): a > b for decimal strings without leading zeros, exact at any size (compared by
-- length, then lexically; Lua numbers are doubles and lose digits past 2^53).
local function greater(a, b)
  if #a ~= #b then return #a > #b end
  return a > b
end
