-- Offline timer: raise one silent sensor's offline alert, unless data arrived meanwhile or it has one already.
-- KEYS: sensor hash, arrival times, alert hash, active alerts, alert feed.
-- ARGV: sensor id, arrival score read, alert id, feed max length, alert JSON, then the alert hash's fields and
--       values.
-- Checks first (a script is not rolled back): every key of the type it needs; then writes.
local function bad(k, want) local t = redis.call('TYPE', k)['ok']; return t ~= 'none' and t ~= want end
if bad(KEYS[1], 'hash') or bad(KEYS[2], 'zset') or bad(KEYS[3], 'hash') or bad(KEYS[4], 'zset')
   or bad(KEYS[5], 'stream') then
  return redis.error_reply('WRONGTYPE a key of the sensor or its alert has the wrong type')
end
local seen = redis.call('ZSCORE', KEYS[2], ARGV[1])
if (not seen) or tonumber(seen) ~= tonumber(ARGV[2]) then return 0 end
local current = redis.call('HGET', KEYS[1], 'offline_alert')
if current and current ~= '' then return 0 end
redis.call('HSET', KEYS[1], 'offline_alert', ARGV[3], 'offline', '1')
redis.call('HSET', KEYS[3], unpack(ARGV, 6))
redis.call('EXPIRE', KEYS[3], 34560000)
redis.call('ZADD', KEYS[4], ARGV[2], ARGV[3])
redis.call('XADD', KEYS[5], 'MAXLEN', '~', ARGV[4], '*', 'json', ARGV[5])
return 1
