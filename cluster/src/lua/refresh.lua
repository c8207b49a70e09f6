-- The home's refresh of the claims it holds, on each heartbeat.
-- KEYS: the room keys this node holds. ARGV[1]: this node's id. ARGV[2]: the TTL in ms.
-- Extends each claim this node still has, claims again each key that has vanished (expired
-- while Redis was unreachable, or lost in a Redis restart), and returns the keys that another
-- node has claimed meanwhile: this node no longer owns those rooms.
local lost = {}
for _, key in ipairs(KEYS) do
  local home = redis.call('GET', key)
  if home == ARGV[1] then
    redis.call('PEXPIRE', key, ARGV[2])
  elseif not home then
    redis.call('SET', key, ARGV[1], 'PX', ARGV[2])
  else
    table.insert(lost, key)
  end
end
return lost
