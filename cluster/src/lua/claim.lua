-- Gives a room a home unless it has a live one: nodes racing for one room all get one answer.
-- KEYS[1]: the room key. KEYS[2]: the chosen node's record.
-- ARGV[1]: the chosen node's id. ARGV[2]: the claim's TTL in ms. ARGV[3]: the node key prefix.
-- ARGV[4]: the room's expected egress pps. ARGV[5]: the egress field. ARGV[6]: the rooms field.
-- Returns {'home', id} when the room already had a live home, {'claimed', id} when this call
-- made the chosen node its home, and {'gone'} when the chosen node's record has expired.
local home = redis.call('GET', KEYS[1])
if home and redis.call('EXISTS', ARGV[3] .. home) == 1 then
  return {'home', home}
end
if redis.call('EXISTS', KEYS[2]) == 0 then
  return {'gone'}
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
-- Reserve the room's load at once, so that placements before the node's next heartbeat (which
-- replaces these figures with measured ones) see it as busier.
redis.call('HINCRBYFLOAT', KEYS[2], ARGV[5], ARGV[4])
redis.call('HINCRBY', KEYS[2], ARGV[6], 1)
return {'claimed', ARGV[1]}
