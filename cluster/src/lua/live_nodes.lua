-- The live nodes' records, read in one step, and the index pruned of nodes whose record expired.
-- KEYS[1]: the node index (a set of node ids).
-- ARGV[1]: the node key prefix ("veil:node:"); ARGV[2..]: the record fields to read.
-- Returns {id, field values...} for each node whose record exists.
local live = {}
for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local key = ARGV[1] .. id
  if redis.call('EXISTS', key) == 1 then
    local record = redis.call('HMGET', key, unpack(ARGV, 2))
    table.insert(record, 1, id)
    table.insert(live, record)
  else
    redis.call('SREM', KEYS[1], id)
  end
end
return live
