-- Supervision timer: one step of one 督办单 (remind, escalate, overdue), unless the order changed meanwhile.
-- KEYS: order hash, next-check set, open set, alert hash, supervision daily hash (escalations; the order again
--       for a reminder), active alerts, alert feed.
-- ARGV: case id, order id read, level read, reminded read, reply_due read, next check ('' = none), reply due
--       score, feed max length, alert JSON, alert id, raised score, retention, count the escalation (0/1),
--       number of order fields N, then N order field/value pairs, then the alert hash's fields and values.
-- Checks first (a script is not rolled back): every key of the type it needs; then writes.
local function bad(k, want) local t = redis.call('TYPE', k)['ok']; return t ~= 'none' and t ~= want end
if bad(KEYS[1], 'hash') or bad(KEYS[2], 'zset') or bad(KEYS[3], 'zset') or bad(KEYS[4], 'hash')
   or bad(KEYS[5], 'hash') or bad(KEYS[6], 'zset') or bad(KEYS[7], 'stream') then
  return redis.error_reply('WRONGTYPE a key of the 督办单, its sets or its alert has the wrong type')
end
local now = redis.call('HMGET', KEYS[1], 'order_id', 'level', 'reminded', 'reply_due', 'state')
if now[1] ~= ARGV[2] or now[2] ~= ARGV[3] or now[3] ~= ARGV[4] or now[4] ~= ARGV[5] or now[5] ~= 'open' then
  return 0
end
local n = tonumber(ARGV[14])
local fields = {}
for i = 15, 14 + 2 * n do fields[#fields + 1] = ARGV[i] end
redis.call('HSET', KEYS[1], unpack(fields))
if ARGV[6] == '' then redis.call('ZREM', KEYS[2], ARGV[1]) else redis.call('ZADD', KEYS[2], ARGV[6], ARGV[1]) end
redis.call('ZADD', KEYS[3], ARGV[7], ARGV[1])
local alert = {}
for i = 15 + 2 * n, #ARGV do alert[#alert + 1] = ARGV[i] end
redis.call('HSET', KEYS[4], unpack(alert))
redis.call('EXPIRE', KEYS[4], ARGV[12])
redis.call('ZADD', KEYS[6], ARGV[11], ARGV[10])
redis.call('XADD', KEYS[7], 'MAXLEN', '~', ARGV[8], '*', 'json', ARGV[9])
if ARGV[13] == '1' then
  redis.call('HINCRBY', KEYS[5], 'escalated', 1)
  redis.call('EXPIRE', KEYS[5], ARGV[12])
end
return 1
