-- The open cases' geohash scores as one comma-separated string, kept under KEYS[2] for ARGV[2] seconds
-- (the big screen's hotspot layer reads it with one GET; cityops.read.hotspots decodes it).
-- KEYS[1] the open-cases geo set, ARGV[1] at most this many members. Returns how many it holds.
local z = redis.call('ZRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1, 'WITHSCORES')
local out = {}
for i = 2, #z, 2 do out[#out + 1] = z[i] end
redis.call('SET', KEYS[2], table.concat(out, ','), 'EX', ARGV[2])
return #out
