-- Window buckets names[j] of hash k, each specs[j] = {n, runs, max}: what HINCRBY, HFOLD and HMAX do to
-- its :n, :s and :x fields, the amounts folded being amounts[first..last] for each (first, last) pair of
-- runs, in order; one read and one write of the hash for all its buckets (no read when check() read
-- the same fields before any write could change them: cur).
local function add_to_windows(k, names, specs, amounts, cur)
  local fields = {}
  for j = 1, #names do
    fields[3*j-2], fields[3*j-1], fields[3*j] = names[j] .. ':n', names[j] .. ':s', names[j] .. ':x'
  end
  cur = cur or redis.call('HMGET', k, unpack(fields))
  local out = {}
  for j = 1, #names do
    local n, runs, x = specs[j][1], specs[j][2], specs[j][3]
    local sum = tonumber(cur[3*j-1] or '0')
    for r = 1, #runs, 2 do
      for i = runs[r], runs[r+1] do sum = sum + amounts[i] end
    end
    out[#out+1] = fields[3*j-2]
    out[#out+1] = string.format('%d', tonumber(cur[3*j-2] or '0') + n)
    out[#out+1] = fields[3*j-1]
    out[#out+1] = string.format('%.17g', sum)
    if (not cur[3*j]) or tonumber(x) > tonumber(cur[3*j]) then
      out[#out+1] = fields[3*j]
      out[#out+1] = x
    end
  end
  redis.call('HSET', k, unpack(out))
end

-- What can fail, found before the first write. Types: each distinct key's TYPE is read once, and an op
-- that creates a key claims its type for the ops after it. Numbers: the hash fields that HINCRBY,
-- HINCRBYFLOAT, HFOLD, HMAX and WINDOWS read are classed once each, then as the script's own writes
-- leave them: 'i' an integer HINCRBY takes, 'f' a number HINCRBYFLOAT takes, 'l' one only Lua reads,
-- 'x' no number, 'n' absent. check() returns nil, or why the event cannot be applied; and, per WINDOWS
-- op, the window hashes' fields it read (for add_to_windows).
local MAXI = 9223372036854775807
local function class(v)
  if not v then return 'n', 0 end
  local digits = string.match(v, '^%-?([1-9]%d*)$')
  if v == '0' or (digits and (#digits < 19 or (#digits == 19 and digits <= '9223372036854775807'))) then
    return 'i', tonumber(v)
  end
  local x = tonumber(v)
  if x == nil then return 'x', 0 end
  if x ~= x or string.find(v, '%s') or x == math.huge or x == -math.huge then return 'l', x end
  return 'f', x
end
local function finite(x) return x == x and x ~= math.huge and x ~= -math.huge end
local function int_arg(v) return type(v) == 'string' and class(v) == 'i' end
local function num_arg(v)
  local x = tonumber(v)
  return x ~= nil and x == x
end
local CREATES = {HINCRBY='hash', HINCRBYFLOAT='hash', HSET='hash', HSETEX='hash', HSETNX='hash', HFOLD='hash',
                 HMAX='hash', ZADDM='zset', ZADDCAP='zset', ZADD='zset', GEOADD='zset', SADD='set', RPUSHCAP='list',
                 XADD='stream', XADDKEEP='stream'}
local KEEPS = {HSETXX='hash', ZREM='zset'}  -- need the type, never create the key
local NUMERIC = {HINCRBY=true, HINCRBYFLOAT=true, HFOLD=true, HMAX=true}
local PLAIN = {HSET=true, HSETNX=true, HSETXX=true, SADD=true, ZREM=true}

local function check(ops)
  local types, fieldkeys = {}, {}
  local n = 0
  local function why(msg) return 'op ' .. n .. ' ' .. tostring(ops[5*n-4]) .. ': ' .. msg end
  local function typed(k, want, creates)
    local t = types[k]
    if t == nil then t = redis.call('TYPE', k)['ok']; types[k] = t end
    if t == 'none' then
      if creates then types[k] = want end
    elseif t ~= want then
      return why('key ' .. k .. ' holds a ' .. t .. ', not a ' .. want)
    end
  end
  for i = 1, #ops, 5 do
    local op, k, a, b = ops[i], ops[i+1], ops[i+2], ops[i+3]
    n = n + 1
    local want, err = CREATES[op] or KEEPS[op], nil
    if want then
      err = typed(k, want, CREATES[op] ~= nil)
      if err then return err end
      if NUMERIC[op] then fieldkeys[k] = true end
    end
    if op == 'HSETEX' then
      if type(a) ~= 'table' or #a % 2 ~= 0 then return why('fields and values do not pair up') end
      if not (int_arg(b) and tonumber(b) > 0) then return why('expiry ' .. tostring(b) .. ' is not positive') end
    elseif op == 'EXPIRE' or op == 'RPUSHCAP' or op == 'XADD' or op == 'XADDKEEP' then
      -- (an expiry of 0 would delete the key, which check() does not follow)
      if not (int_arg(a) and tonumber(a) > 0) then return why(tostring(a) .. ' is not a positive integer') end
      if op == 'XADDKEEP' and ops[i+4] ~= '' and not int_arg(ops[i+4]) then
        return why('cap ' .. tostring(ops[i+4]) .. ' is not an integer')
      end
    elseif op == 'WINDOWS' then
      if type(a) ~= 'table' or type(b) ~= 'table' then return why('no amounts or windows') end
      for m = 1, #a do
        if type(a[m]) ~= 'number' then return why('amount ' .. tostring(a[m]) .. ' is not a number') end
      end
      for _, w in ipairs(b) do
        err = typed(w[1], 'hash', true)
        if err then return err end
        fieldkeys[w[1]] = true
        for j = 1, #w[2] do
          local spec = w[3][j]
          if type(spec) ~= 'table' or type(spec[1]) ~= 'number' or not num_arg(spec[3]) then
            return why('bad bucket ' .. tostring(w[2][j]))
          end
          local runs = spec[2]
          for r = 1, #runs, 2 do
            if type(runs[r]) ~= 'number' or type(runs[r+1]) ~= 'number' or runs[r] < 1 or runs[r+1] > #a then
              return why('run outside the amounts in bucket ' .. tostring(w[2][j]))
            end
          end
        end
      end
    elseif op == 'ZADDM' or op == 'ZADDCAP' then
      if type(a) ~= 'table' or #a % 2 ~= 0 then return why('scores and members do not pair up') end
      for j = 1, #a, 2 do
        if not num_arg(a[j]) then return why('score ' .. tostring(a[j]) .. ' is not a number') end
      end
      if op == 'ZADDCAP' then  -- b: the cap; ops[i+4]: what each member owns, {{'h', hash} | {'k', key prefix}}
        if not (int_arg(b) and tonumber(b) > 0) then return why('cap ' .. tostring(b) .. ' is not positive') end
        if type(ops[i+4]) ~= 'table' then return why('no owned keys') end
        for _, owned in ipairs(ops[i+4]) do
          if type(owned) ~= 'table' or type(owned[2]) ~= 'string' or (owned[1] ~= 'h' and owned[1] ~= 'k') then
            return why('bad owned key')
          end
          if owned[1] == 'h' then
            err = typed(owned[2], 'hash', false)
            if err then return err end
          end
        end
      end
    elseif op == 'HINCRBY' then
      if not int_arg(b) then return why('increment ' .. tostring(b) .. ' is not an integer') end
    elseif op == 'HINCRBYFLOAT' then
      if not (num_arg(b) and finite(tonumber(b))) then return why('increment ' .. tostring(b) .. ' is not a number') end
    elseif op == 'ZADD' then
      if not num_arg(a) then return why('score ' .. tostring(a) .. ' is not a number') end
    elseif op == 'HFOLD' then
      if type(b) ~= 'table' then return why('no amounts') end
      for _, amount in ipairs(b) do
        if type(amount) ~= 'number' then return why('amount ' .. tostring(amount) .. ' is not a number') end
      end
    elseif op == 'HMAX' then
      if not num_arg(b) then return why(tostring(b) .. ' is not a number') end
    elseif op == 'GEOADD' then
      local lon, lat = tonumber(a), tonumber(b)
      if not (lon and lat and lon >= -180 and lon <= 180 and lat >= -85.05112878 and lat <= 85.05112878) then
        return why('invalid longitude,latitude ' .. tostring(a) .. ',' .. tostring(b))
      end
    elseif not PLAIN[op] then
      return why('unknown op')
    end
  end
  local fetched = {}
  if next(fieldkeys) == nil then return nil, fetched end
  -- The numbers, in op order: each field read from Redis once, then as this script's writes leave it.
  local cls, num = {}, {}  -- per key, per field
  local function field(k, f)  -- its class and number now, read on first use
    local c = cls[k]
    if c == nil then c = {}; cls[k] = c; num[k] = {} end
    if c[f] == nil then
      local v = false
      if types[k] == 'hash' then v = redis.call('HGET', k, f) end
      c[f], num[k][f] = class(v)
    end
    return c[f], num[k][f]
  end
  local function put(k, f, v)
    if cls[k] == nil then cls[k] = {}; num[k] = {} end
    cls[k][f], num[k][f] = class(v)
  end
  local function not_number(k, f) return why('field ' .. f .. ' of ' .. k .. ' is not a number') end
  n = 0
  for i = 1, #ops, 5 do
    local op, k, a, b = ops[i], ops[i+1], ops[i+2], ops[i+3]
    n = n + 1
    if op == 'WINDOWS' then
      local reads = {}
      for wi, w in ipairs(b) do
        local wk, names = w[1], w[2]
        local fields = {}
        for j = 1, #names do
          fields[3*j-2], fields[3*j-1], fields[3*j] = names[j] .. ':n', names[j] .. ':s', names[j] .. ':x'
        end
        local c = cls[wk]
        local untouched = true
        if c == nil then
          c = {}; cls[wk] = c; num[wk] = {}
        else
          for j = 1, #fields do if c[fields[j]] ~= nil then untouched = false; break end end
        end
        if untouched then  -- what add_to_windows would read: read once, for both
          local cur = redis.call('HMGET', wk, unpack(fields))
          for j = 1, #fields do
            if cur[j] and tonumber(cur[j]) == nil then return not_number(wk, fields[j]) end
          end
          reads[wi] = cur
        else
          for j = 1, #fields do
            if field(wk, fields[j]) == 'x' then return not_number(wk, fields[j]) end
          end
        end
        for j = 1, #fields, 3 do c[fields[j]], c[fields[j+1]], c[fields[j+2]] = 'i', 'l', 'l' end
      end
      fetched[i] = reads
    elseif fieldkeys[k] then
      if op == 'HINCRBY' then
        local c, x = field(k, a)
        if c ~= 'n' and c ~= 'i' then return why('field ' .. a .. ' of ' .. k .. ' is not an integer') end
        x = x + tonumber(b)
        if x >= MAXI or x <= -MAXI then return why('field ' .. a .. ' of ' .. k .. ' would overflow') end
        cls[k][a], num[k][a] = 'i', x
      elseif op == 'HINCRBYFLOAT' then
        local c, x = field(k, a)
        if c ~= 'n' and c ~= 'i' and c ~= 'f' then return not_number(k, a) end
        x = x + tonumber(b)
        if not finite(x) then return why('field ' .. a .. ' of ' .. k .. ' would not be finite') end
        put(k, a, string.format('%.17g', x))
      elseif op == 'HFOLD' or op == 'HMAX' then
        local c = field(k, a)
        if c == 'x' then return not_number(k, a) end
        if op == 'HFOLD' then cls[k][a] = 'l' elseif c == 'n' then put(k, a, b) end
      elseif op == 'HSET' then put(k, a, b)
      elseif op == 'HSETEX' then
        for j = 1, #a, 2 do put(k, a[j], a[j+1]) end
      elseif op == 'HSETNX' then
        if field(k, a) == 'n' then put(k, a, b) end
      elseif op == 'HSETXX' then
        if types[k] == 'hash' then put(k, a, b) end  -- (a hash an earlier op created counts as existing)
      end
    end
  end
  return nil, fetched
end

for j = 1, #KEYS do if redis.call('EXISTS', KEYS[j]) == 1 then return 0 end end
local ops = cjson.decode(ARGV[2])
local refused, fetched = check(ops)
if refused then return refused end
local i = 1
while i <= #ops do
  local op, k, a, b, c = ops[i], ops[i+1], ops[i+2], ops[i+3], ops[i+4]
  if op == 'HINCRBY' then redis.call('HINCRBY', k, a, b)
  elseif op == 'HINCRBYFLOAT' then redis.call('HINCRBYFLOAT', k, a, b)
  elseif op == 'HSET' then redis.call('HSET', k, a, b)
  elseif op == 'HSETEX' then
    if #a > 0 then redis.call('HSET', k, unpack(a)) end
    redis.call('EXPIRE', k, b)
  elseif op == 'ZADDM' then  -- unpack in slices: Lua's stack limit is a few thousand values
    for j = 1, #a, 1000 do redis.call('ZADD', k, unpack(a, j, math.min(j + 999, #a))) end
  elseif op == 'ZADDCAP' then  -- add, keep the `b` highest-scored, and drop what the dropped members owned
    for j = 1, #a, 1000 do redis.call('ZADD', k, unpack(a, j, math.min(j + 999, #a))) end
    local over = redis.call('ZCARD', k) - tonumber(b)
    if over > 0 then
      local dropped = redis.call('ZRANGE', k, 0, over - 1)
      redis.call('ZREMRANGEBYRANK', k, 0, over - 1)
      for _, owned in ipairs(c) do
        for _, m in ipairs(dropped) do
          if owned[1] == 'h' then redis.call('HDEL', owned[2], m) else redis.call('DEL', owned[2] .. m) end
        end
      end
    end
  elseif op == 'HSETNX' then redis.call('HSETNX', k, a, b)
  elseif op == 'HSETXX' then
    if redis.call('EXISTS', k) == 1 then redis.call('HSET', k, a, b) end
  elseif op == 'EXPIRE' then redis.call('EXPIRE', k, a)
  elseif op == 'SADD' then redis.call('SADD', k, a)
  elseif op == 'ZADD' then redis.call('ZADD', k, a, b)
  elseif op == 'ZREM' then redis.call('ZREM', k, a)
  elseif op == 'HFOLD' then
    local sum = tonumber(redis.call('HGET', k, a) or '0')
    for _, amount in ipairs(b) do sum = sum + amount end
    redis.call('HSET', k, a, string.format('%.17g', sum))
  elseif op == 'HMAX' then
    local cur = redis.call('HGET', k, a)
    if (not cur) or tonumber(b) > tonumber(cur) then redis.call('HSET', k, a, b) end
  elseif op == 'WINDOWS' then
    local reads = fetched[i] or {}
    for wi, w in ipairs(b) do add_to_windows(w[1], w[2], w[3], a, reads[wi]) end
  elseif op == 'GEOADD' then redis.call('GEOADD', k, a, b, c)
  elseif op == 'RPUSHCAP' then
    redis.call('RPUSH', k, b)
    redis.call('LTRIM', k, -tonumber(a), -1)
  elseif op == 'XADD' then redis.call('XADD', k, 'MAXLEN', '~', a, '*', 'json', b)
  elseif op == 'XADDKEEP' then
    local now = redis.call('TIME')
    local min_id = tostring((tonumber(now[1]) - tonumber(a)) * 1000)
    redis.call('XADD', k, 'MINID', min_id, '*', 'json', b)
    -- XADD takes one trim strategy: age above, then count (c, '' for none)
    if c ~= '' then redis.call('XTRIM', k, 'MAXLEN', '~', c) end
  end
  i = i + 5
end
for j = 1, #KEYS do redis.call('SET', KEYS[j], '1', 'EX', ARGV[1]) end
return 1
