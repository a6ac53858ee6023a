local score = redis.call('ZSCORE', KEYS[2], ARGV[1])
if (not score) or tonumber(score) > tonumber(ARGV[2]) then return 0 end
if redis.call('HGET', KEYS[1], 'state') ~= ARGV[8] or redis.call('HGET', KEYS[1], 'expired') == '1' then
  redis.call('ZREM', KEYS[2], ARGV[1])
  return 0
end
local n = tonumber(ARGV[6])
local want = {'hash', 'zset', 'zset', 'zset', 'list', 'zset', 'hash'}
for i = 1, #KEYS do
  local w = want[i] or (i <= 7 + n and 'zset' or 'hash')
  local t = redis.call('TYPE', KEYS[i])['ok']
  if t ~= 'none' and t ~= w then return redis.error_reply('key ' .. KEYS[i] .. ' holds a ' .. t .. ', not a ' .. w) end
end
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('ZREM', KEYS[4], ARGV[1])
for i = 8, 7 + n do redis.call('ZREM', KEYS[i], ARGV[1]) end
for i = 8 + n, #KEYS do
  redis.call('HINCRBY', KEYS[i], ARGV[9], 1)
  redis.call('EXPIRE', KEYS[i], ARGV[5])
end
if ARGV[7] ~= '' then
  redis.call('ZREM', KEYS[6], ARGV[7])
  if redis.call('EXISTS', KEYS[7]) == 1 then redis.call('HSET', KEYS[7], 'state', 'cleared', 'cleared_at', ARGV[3]) end
end
redis.call('HSET', KEYS[1], 'expired', '1', 'expired_at', ARGV[3], 'overdue', '0')
redis.call('EXPIRE', KEYS[1], ARGV[4])
if redis.call('EXISTS', KEYS[5]) == 1 then redis.call('EXPIRE', KEYS[5], ARGV[4]) end
return 1
