local alarm, offline = {}, {}
for i = 4, #ARGV do
  local h = redis.pcall('HMGET', ARGV[2] .. ARGV[i], 'type', 'sensor_id')
  local sid = (not h.err) and h[2]
  if sid and sid ~= '' then
    if h[1] == ARGV[3] then
      offline[#offline + 1] = sid
    else
      local v = redis.pcall('HMGET', ARGV[1] .. sid, 'value', 'metric', 'unit')
      if v.err then v = {} end  -- a key of another type: no value shown
      alarm[#alarm + 1] = table.concat({sid, v[1] or '', v[2] or '', v[3] or ''}, string.char(31))
    end
  end
end
local rs = string.char(30)
return {table.concat(alarm, rs), table.concat(offline, rs)}
