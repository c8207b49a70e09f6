-- A room's home, if it has one that is alive.
-- KEYS[1]: the room key. ARGV[1]: the node key prefix.
-- Returns the home's node id, or nil when the room has no claim or its home's record is gone.
local home = redis.call('GET', KEYS[1])
if home and redis.call('EXISTS', ARGV[1] .. home) == 1 then
  return home
end
return false
