local z = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
local total = 0
for i = 2, #z, 2 do total = total + tonumber(z[i]) end
return {#z / 2, tostring(total)}
