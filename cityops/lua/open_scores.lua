local z = redis.call('ZRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1, 'WITHSCORES')
local out = {}
for i = 2, #z, 2 do out[#out + 1] = z[i] end
return table.concat(out, ',')
