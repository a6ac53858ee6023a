local nf = #ARGV
local out = {}
local function wrong(key)
  return key .. ' holds a ' .. redis.call('TYPE', key)['ok'] .. ', not a hash'
end
for i = 1, #KEYS do
  local row = redis.pcall('HMGET', KEYS[i], unpack(ARGV))
  if row.err then
    out[i] = wrong(KEYS[i])
  else
    local n = #row
    for j = nf - 2, nf do
      local pointer = row[j]
      local v = {false, false, false}
      if pointer then
        local key, bucket = string.match(pointer, '^(%S+) (%S+)$')
        if not key then
          out[i] = KEYS[i] .. ' has a window pointer that does not parse: ' .. pointer
          break
        end
        v = redis.pcall('HMGET', key, bucket .. ':n', bucket .. ':s', bucket .. ':x')
        if v.err then
          out[i] = wrong(key)
          break
        end
      end
      row[n + 1] = v[1]
      row[n + 2] = v[2]
      row[n + 3] = v[3]
      n = n + 3
    end
    if out[i] == nil then out[i] = row end
  end
end
return cjson.encode(out)
