-- Compare-and-delete: gives up the claims among KEYS that this node still has.
-- KEYS: room keys. ARGV[1]: this node's id.
-- Returns how many claims were deleted; a claim another node has is left alone.
local released = 0
for _, key in ipairs(KEYS) do
  if redis.call('GET', key) == ARGV[1] then
    released = released + redis.call('DEL', key)
  end
end
return released
