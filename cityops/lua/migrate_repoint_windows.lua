local n = 0
for i = 2, #ARGV, 3 do
  if redis.call('HGET', KEYS[1], ARGV[i]) == ARGV[i + 1] then
    if ARGV[1] == '1' then redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 2]) end
    n = n + 1
  end
end
return n
