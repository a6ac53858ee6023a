"""Apply an event's effects to Redis exactly once, atomically in effect, in pipelined batches.

Delivery from Kafka is at-least-once: after a crash, events since the last committed offset come
again. Each event's effects therefore run inside one Lua script that refuses an event id already
marked (``co:seen:{id}``), checks everything that could make a write fail (key types, the numbers
in hash fields it reads or adds to, its own arguments), then writes, and marks the ids last. Redis
runs a script without interruption but never rolls one back, so nothing may fail after the first
write: an event is either fully applied and marked, or not touched at all — a SIGKILL between two
events of a batch loses nothing and doubles nothing, and an event Redis cannot take (a key of the
wrong type, a counter holding text) is reported failed with its reason, for the agent to dead-letter,
while the rest of its batch applies.

The agents build :class:`Effects` in pure Python (testable without Redis) and send many scripts in one
pipeline per batch, which is where the throughput comes from.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import orjson
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, OutOfMemoryError, ReadOnlyError

from cityops import keys

log = logging.getLogger(__name__)

#: Replies that say Redis cannot take writes now (a replica promoted, loading, out of memory), not that the
#: event is bad: raised, so the agent waits and applies the batch again (streams/agents/redis_outage.py).
SERVER_CONDITIONS = (RedisConnectionError, ReadOnlyError, OutOfMemoryError)

# KEYS: the seen keys of the event ids claimed. ARGV: ttl, then one JSON array of repeated
# (op, key, arg1, arg2, arg3), unused args ''. One JSON argument instead of thousands: packing each
# argument is redis-py's per-argument cost in Python, and a batch of sensor envelopes has thousands.
# Returns 1 (applied), 0 (an id was applied already: nothing done) or the reason it refused, as text,
# having written nothing: Redis does not roll a script back, so everything that can fail is checked
# first (see check()), the writes come next and the seen marks last.
_APPLY_ONCE = """
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
                 HMAX='hash', ZADDM='zset', ZADD='zset', GEOADD='zset', SADD='set', RPUSHCAP='list',
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
    elseif op == 'ZADDM' then
      if type(a) ~= 'table' or #a % 2 ~= 0 then return why('scores and members do not pair up') end
      for j = 1, #a, 2 do
        if not num_arg(a[j]) then return why('score ' .. tostring(a[j]) .. ' is not a number') end
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
"""


# Many hashes in one reply: HGETALL of each key, as one JSON array of flat [field, value, ...] arrays, and
# the type of a key that is no hash in its place (one such key must not fail the read of all the others).
_READ_HASHES = """
local out = {}
for i = 1, #KEYS do
  local t = redis.call('TYPE', KEYS[i])['ok']
  if t == 'hash' or t == 'none' then out[i] = redis.call('HGETALL', KEYS[i]) else out[i] = t end
end
return cjson.encode(out)
"""


Window = tuple[str, int, list[int], float]  # (bucket, reading count, runs of amounts, maximum): see Effects.windows


@dataclass
class Effects:
    """The writes one event causes, recorded in order."""

    event_id: str
    claims: list[str] = field(default_factory=list)  # more event ids applied together (a batch of envelopes)
    ttl: int | None = None  # how long its ids are remembered; None: the writer's default
    ops: list[tuple[str, str, str | list[str], str | list, str]] = field(default_factory=list)

    @property
    def event_ids(self) -> list[str]:
        return [self.event_id, *self.claims]

    def hincrby(self, key: str, fieldname: str, amount: int = 1) -> Effects:
        self.ops.append(("HINCRBY", key, fieldname, str(amount), ""))
        return self

    def hincrbyfloat(self, key: str, fieldname: str, amount: float) -> Effects:
        self.ops.append(("HINCRBYFLOAT", key, fieldname, repr(float(amount)), ""))
        return self

    def hset(self, key: str, mapping: dict[str, object]) -> Effects:
        for k, v in mapping.items():
            if v is not None:
                self.ops.append(("HSET", key, k, str(v), ""))
        return self

    def hset_flat(self, key: str, flat: list[str], ttl: int) -> Effects:
        """Set fields given as [field, value, field, value, ...] (already text) in one write, and keep the
        hash ``ttl`` seconds from now (the expiry is set even when no field changed)."""
        self.ops.append(("HSETEX", key, flat, str(int(ttl)), ""))
        return self

    def zadd_many(self, key: str, flat: list[str]) -> Effects:
        """Add members given as [score, member, score, member, ...] in one write."""
        if flat:
            self.ops.append(("ZADDM", key, flat, "", ""))
        return self

    def hset_if_exists(self, key: str, mapping: dict[str, object]) -> Effects:
        """Set fields only on a hash that exists (never create a stub of something another writer owns)."""
        for k, v in mapping.items():
            self.ops.append(("HSETXX", key, k, str(v), ""))
        return self

    def hsetnx(self, key: str, fieldname: str, value: object) -> Effects:
        self.ops.append(("HSETNX", key, fieldname, str(value), ""))
        return self

    def expire(self, key: str, seconds: int) -> Effects:
        self.ops.append(("EXPIRE", key, str(int(seconds)), "", ""))
        return self

    def sadd(self, key: str, member: str) -> Effects:
        self.ops.append(("SADD", key, member, "", ""))
        return self

    def zadd(self, key: str, score: float, member: str) -> Effects:
        self.ops.append(("ZADD", key, repr(float(score)), member, ""))
        return self

    def hfold(self, key: str, fieldname: str, amounts: list[float]) -> Effects:
        """Add amounts to a float field one by one, in order, in double precision (see sensor windows)."""
        # A JSON array of numbers: orjson writes each double's shortest exact form, which Lua reads back exactly.
        self.ops.append(("HFOLD", key, fieldname, amounts, ""))
        return self

    def hmax(self, key: str, fieldname: str, value: float) -> Effects:
        """Keep the larger of the stored and the given value (LAmax of a window)."""
        self.ops.append(("HMAX", key, fieldname, repr(float(value)), ""))
        return self

    def windows(self, amounts: list[float], windows: list[tuple[str, list[Window]]]) -> Effects:
        """Add to window buckets of one sensor: per window hash, per (bucket, count, runs, maximum), what
        ``hincrby(bucket:n, count)``, ``hfold(bucket:s, the amounts of its runs)`` and ``hmax(bucket:x,
        maximum)`` do. Runs are (first, last) positions in ``amounts``, from 1, both included.

        Why this shape: a sensor's reading counts in three windows (minute, quarter-hour, hour), so its
        amounts go once instead of three times (decoding them is most of the script's cost), and each
        hash is read and written once for all its buckets instead of two to five calls per bucket.
        """
        self.ops.append(("WINDOWS", "", amounts, [[key, [b for b, _, _, _ in buckets],
                                                  [[n, runs, repr(float(x))] for _, n, runs, x in buckets]]
                                                 for key, buckets in windows], ""))
        return self

    def zrem(self, key: str, member: str) -> Effects:
        self.ops.append(("ZREM", key, member, "", ""))
        return self

    def geoadd(self, key: str, lon: float, lat: float, member: str) -> Effects:
        self.ops.append(("GEOADD", key, repr(float(lon)), repr(float(lat)), member))
        return self

    def rpush_capped(self, key: str, cap: int, payload_json: str) -> Effects:
        """Append to a list that keeps its newest ``cap`` entries (a small list is far smaller than a stream)."""
        self.ops.append(("RPUSHCAP", key, str(int(cap)), payload_json, ""))
        return self

    def xadd(self, key: str, maxlen: int, payload_json: str) -> Effects:
        self.ops.append(("XADD", key, str(int(maxlen)), payload_json, ""))
        return self

    def xadd_kept_for(self, key: str, seconds: int, payload_json: str, maxlen: int | None = None) -> Effects:
        """Append to a stream that keeps its entries for ``seconds`` (trimmed by entry time, ``MINID``) and,
        with ``maxlen``, at most about that many of them (``XTRIM MAXLEN ~``: whole nodes, cheap)."""
        self.ops.append(("XADDKEEP", key, str(int(seconds)), payload_json, "" if maxlen is None else str(int(maxlen))))
        return self

    def argv(self, ttl: int) -> list[str]:
        """The script's ARGV: the dedupe TTL and the operations as one flat JSON array."""
        return [str(int(ttl)), orjson.dumps([part for op in self.ops for part in op]).decode()]


class Status(enum.Enum):
    APPLIED = "applied"
    DUPLICATE = "duplicate"  # an id of the event had been applied already: nothing was done
    FAILED = "failed"  # Redis could not take it (see ApplyResult.reason): nothing was done


@dataclass(frozen=True, eq=False)
class ApplyResult:
    """What became of one event's effects. True only when applied now (the bool callers had before)."""

    status: Status
    reason: str = ""

    @property
    def failed(self) -> bool:
        return self.status is Status.FAILED

    def __bool__(self) -> bool:
        return self.status is Status.APPLIED

    def __eq__(self, other: object) -> bool:
        if isinstance(other, bool):
            return bool(self) is other
        if isinstance(other, ApplyResult):
            return (self.status, self.reason) == (other.status, other.reason)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(bool(self))  # equal to True or False as it is truthy: the same hash as that bool


APPLIED, DUPLICATE = ApplyResult(Status.APPLIED), ApplyResult(Status.DUPLICATE)


class EffectWriter:
    """Runs batches of :class:`Effects` through the apply-once script in one pipeline."""

    def __init__(self, redis: Redis, dedupe_ttl_s: int) -> None:
        self.redis = redis
        self.ttl = dedupe_ttl_s
        self._script = redis.register_script(_APPLY_ONCE)
        self._read_hashes = redis.register_script(_READ_HASHES)
        self._loaded = False

    async def apply(self, batch: Sequence[Effects]) -> list[ApplyResult]:
        """Apply each event's effects once; per event, applied, duplicate, or failed with the reason.

        Retrying is always safe: an event already applied is refused by its ``seen`` key, a failed one left
        nothing behind. One event's failure is its own (never raised); Redis unreachable or unable to
        write at all (:data:`SERVER_CONDITIONS`) raises, for the caller to wait and retry the batch.
        """
        results: list[ApplyResult | None] = [None] * len(batch)
        todo = list(range(len(batch)))
        while todo:
            if self._script.sha is None or not self._loaded:
                self._script.sha = await self.redis.script_load(_APPLY_ONCE)
                self._loaded = True
            async with self.redis.pipeline(transaction=False) as pipe:
                for i in todo:
                    eff = batch[i]
                    ids = eff.event_ids
                    ttl = self.ttl if eff.ttl is None else eff.ttl
                    pipe.evalsha(self._script.sha, len(ids), *[keys.seen(e) for e in ids], *eff.argv(ttl))
                replies = await pipe.execute(raise_on_error=False)
            again = []
            for i, reply in zip(todo, replies, strict=True):
                if isinstance(reply, NoScriptError):  # Redis restarted and lost its script cache: only these again
                    again.append(i)
                elif isinstance(reply, SERVER_CONDITIONS):
                    raise reply
                else:
                    results[i] = _result(batch[i], reply)
            if again:
                self._loaded = False
            todo = again
        return results  # type: ignore[return-value]

    async def seen(self, event_ids: Iterable[str]) -> set[str]:
        """Which of these events were already applied (so state-dependent logic can skip them)."""
        ids = list(event_ids)
        if not ids:
            return set()
        marks = await self.redis.mget([keys.seen(i) for i in ids])  # one command, not one per id
        return {i for i, mark in zip(ids, marks, strict=True) if mark is not None}

    async def hashes(self, hash_keys: Sequence[str]) -> list[dict[str, str]]:
        """The hashes at ``hash_keys`` (empty for a missing one, or for a key that is no hash), read in one command.

        Why a script: the case agent reads every case of a batch (hundreds) before projecting it. As a
        pipeline of HGETALLs, redis-py's packing, parsing and asyncio hops cost more per hash than the
        projection (measured on the sensor agent, which reads its state the same way: 15 % of the
        worker's time); one script returning one JSON document costs a single decode.
        """
        if not hash_keys:
            return []
        flat_lists = orjson.loads(await self._read_hashes(keys=list(hash_keys)))
        out: list[dict[str, str]] = []
        for key, flat in zip(hash_keys, flat_lists, strict=True):
            if isinstance(flat, str):  # no hash: read as none, and the apply of what writes it will refuse it
                log.warning("%s holds a %s, not a hash: read as empty", key, flat)
                flat = []
            # cjson writes an empty table (a missing hash) as {}: no fields either way.
            out.append(dict(zip(flat[::2], flat[1::2], strict=True)) if flat else {})
        return out


def _result(eff: Effects, reply: object) -> ApplyResult:
    """The script's reply as an :class:`ApplyResult`: 1 applied, 0 duplicate, a text or an error refused."""
    if isinstance(reply, Exception):
        # Not one of the script's own checks: an error Redis raised part-way (a gap in check()), so some
        # writes may have been made. Logged loudly: the event is not marked and goes to the dead letters.
        log.error("apply-once script failed for %s after its checks passed: %s", eff.event_id, reply)
        return ApplyResult(Status.FAILED, f"Redis error: {reply}")
    if isinstance(reply, bytes | str):
        return ApplyResult(Status.FAILED, reply.decode() if isinstance(reply, bytes) else reply)
    return APPLIED if reply == 1 else DUPLICATE
