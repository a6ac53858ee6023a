local t = redis.call('TYPE', KEYS[1])['ok']
if t ~= ARGV[1] then return t end
if redis.call('EXISTS', KEYS[2]) == 1 then return 'conflict' end
if ARGV[2] == '1' then redis.call('RENAME', KEYS[1], KEYS[2]) end
return 'ok'
