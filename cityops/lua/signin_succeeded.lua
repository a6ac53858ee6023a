redis.call('DEL', KEYS[1])
if KEYS[2] and redis.call('TYPE', KEYS[2]).ok == 'hash' then
  local n = tonumber(redis.call('HGET', KEYS[2], 'n') or '0') or 0
  if n > 0 then redis.call('HSET', KEYS[2], 'n', tostring(n - 1)) end
end
return 1
