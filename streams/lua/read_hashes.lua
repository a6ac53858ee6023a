local out = {}
for i = 1, #KEYS do
  local t = redis.call('TYPE', KEYS[i])['ok']
  if t == 'hash' or t == 'none' then out[i] = redis.call('HGETALL', KEYS[i]) else out[i] = t end
end
return cjson.encode(out)
