-- SLA timer: mark one case overdue and raise its overdue alert, unless a step moved the case on meanwhile.
-- KEYS: case, SLA clock, alert hash, then the case's overdue sets.
-- ARGV: case id, clock score read, deadline read, alert feed, feed max length, alert JSON, active alerts,
--       alert id, then the alert hash's fields and values.
-- Checks first (a script is not rolled back): every key of the type it needs, the weight a number; then writes.
local function bad(k, want) local t = redis.call('TYPE', k)['ok']; return t ~= 'none' and t ~= want end
if bad(KEYS[1], 'hash') or bad(KEYS[2], 'zset') or bad(KEYS[3], 'hash') or bad(ARGV[7], 'zset')
   or bad(ARGV[4], 'stream') then
  return redis.error_reply('WRONGTYPE a key of the case, its clock or its alert has the wrong type')
end
for i = 4, #KEYS do
  if bad(KEYS[i], 'zset') then return redis.error_reply('WRONGTYPE overdue set ' .. KEYS[i] .. ' is no sorted set') end
end
local current = redis.call('ZSCORE', KEYS[2], ARGV[1])
if (not current) or tonumber(current) ~= tonumber(ARGV[2]) then return 0 end
local weight = redis.call('HGET', KEYS[1], 'weight') or '1'
if tonumber(weight) == nil then return redis.error_reply('case weight ' .. weight .. ' is not a number') end
redis.call('ZREM', KEYS[2], ARGV[1])
if redis.call('HGET', KEYS[1], 'overdue') == '1' or redis.call('HGET', KEYS[1], 'deadline') ~= ARGV[3] then
  return 0
end
redis.call('HSET', KEYS[1], 'overdue', '1')
for i = 4, #KEYS do redis.call('ZADD', KEYS[i], weight, ARGV[1]) end
redis.call('HSET', KEYS[3], unpack(ARGV, 9))
redis.call('EXPIRE', KEYS[3], 34560000)
redis.call('ZADD', ARGV[7], ARGV[2], ARGV[8])
redis.call('XADD', ARGV[4], 'MAXLEN', '~', ARGV[5], '*', 'json', ARGV[6])
return 1
