local ids = redis.call('ZRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1)
local out = {}
for i, id in ipairs(ids) do
  local v = redis.pcall('HMGET', ARGV[2] .. id, unpack(ARGV, 3))  -- a key of another type: left out
  if v[1] and not v.err then
    local row = {id}
    for j = 1, #v do row[j + 1] = v[j] or '' end
    out[#out + 1] = table.concat(row, string.char(31))
  end
end
return table.concat(out, string.char(30))
