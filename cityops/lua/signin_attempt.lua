local now = tonumber(ARGV[1])
local free, addr_limit = tonumber(ARGV[2]), tonumber(ARGV[3])
local window, cap = tonumber(ARGV[4]), tonumber(ARGV[5])
local state = {}
local wait = 0
for i, key in ipairs(KEYS) do
  local n, last, untilv = 0, 0, 0
  local kind = redis.call('TYPE', key).ok
  if kind == 'hash' then
    local v = redis.call('HMGET', key, 'n', 'last', 'until')
    untilv = tonumber(v[3]) or 0
    if untilv > now then n, last = tonumber(v[1]) or 0, tonumber(v[2]) or 0 else untilv = 0 end
  elseif kind ~= 'none' then
    redis.call('DEL', key)
  end
  state[i] = {n, untilv}
  local w = 0
  if ARGV[5 + i] == 'ip' then
    if n >= addr_limit then w = untilv - now end
  elseif n >= free then
    w = last + math.min(cap, 2 ^ math.min(n - free, 62)) - now
  end
  if w > wait then wait = w end
end
if wait > 0 then return tostring(wait) end
for i, key in ipairs(KEYS) do
  local n, untilv = state[i][1], state[i][2]
  if ARGV[5 + i] ~= 'ip' or n == 0 then untilv = now + window end
  redis.call('HSET', key, 'n', tostring(n + 1), 'last', ARGV[1], 'until', tostring(untilv))
  redis.call('PEXPIRE', key, math.max(1, math.ceil((untilv - now) * 1000)))
end
return '0'
