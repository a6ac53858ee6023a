"""Apply an event's effects to Redis exactly once, atomically, in pipelined batches.

Delivery from Kafka is at-least-once: after a crash, events since the last committed offset come
again. Each event's effects therefore run inside one Lua script that first claims the event id
(``SET co:seen:{id} NX EX ttl``) and only then performs the writes. Redis runs a script atomically,
so an event is either fully applied and marked, or not at all — a SIGKILL between two events of a
batch loses nothing and doubles nothing.

The agents build :class:`Effects` in pure Python (testable without Redis) and send many scripts in one
pipeline per batch, which is where the throughput comes from.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import orjson
from redis.asyncio import Redis
from redis.exceptions import NoScriptError

from cityops import keys

# KEYS: the seen keys of the event ids claimed. ARGV: ttl, then one JSON array of repeated
# (op, key, arg1, arg2, arg3), unused args ''. One JSON argument instead of thousands: packing each
# argument is redis-py's per-argument cost in Python, and a batch of sensor envelopes has thousands.
_APPLY_ONCE = """
-- Window buckets names[j] of hash k, each specs[j] = {n, runs, max}: what HINCRBY, HFOLD and HMAX do to
-- its :n, :s and :x fields, the amounts folded being amounts[first..last] for each (first, last) pair of
-- runs, in order; one read and one write of the hash for all its buckets.
local function add_to_windows(k, names, specs, amounts)
  local fields = {}
  for j = 1, #names do
    fields[3*j-2], fields[3*j-1], fields[3*j] = names[j] .. ':n', names[j] .. ':s', names[j] .. ':x'
  end
  local cur = redis.call('HMGET', k, unpack(fields))
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
for j = 1, #KEYS do if redis.call('EXISTS', KEYS[j]) == 1 then return 0 end end
for j = 1, #KEYS do redis.call('SET', KEYS[j], '1', 'EX', ARGV[1]) end
local ops = cjson.decode(ARGV[2])
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
    for _, w in ipairs(b) do add_to_windows(w[1], w[2], w[3], a) end
  elseif op == 'GEOADD' then redis.call('GEOADD', k, a, b, c)
  elseif op == 'RPUSHCAP' then
    redis.call('RPUSH', k, b)
    redis.call('LTRIM', k, -tonumber(a), -1)
  elseif op == 'XADD' then redis.call('XADD', k, 'MAXLEN', '~', a, '*', 'json', b)
  elseif op == 'XADDKEEP' then
    local now = redis.call('TIME')
    local min_id = tostring((tonumber(now[1]) - tonumber(a)) * 1000)
    redis.call('XADD', k, 'MINID', min_id, '*', 'json', b)
  else return redis.error_reply('unknown op ' .. op) end
  i = i + 5
end
return 1
"""


# Many hashes in one reply: HGETALL of each key, as one JSON array of flat [field, value, ...] arrays.
_READ_HASHES = """
local out = {}
for i = 1, #KEYS do out[i] = redis.call('HGETALL', KEYS[i]) end
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

    def xadd_kept_for(self, key: str, seconds: int, payload_json: str) -> Effects:
        """Append to a stream that keeps its entries for ``seconds`` (trimmed by entry time, ``MINID``)."""
        self.ops.append(("XADDKEEP", key, str(int(seconds)), payload_json, ""))
        return self

    def argv(self, ttl: int) -> list[str]:
        """The script's ARGV: the dedupe TTL and the operations as one flat JSON array."""
        return [str(int(ttl)), orjson.dumps([part for op in self.ops for part in op]).decode()]


class EffectWriter:
    """Runs batches of :class:`Effects` through the apply-once script in one pipeline."""

    def __init__(self, redis: Redis, dedupe_ttl_s: int) -> None:
        self.redis = redis
        self.ttl = dedupe_ttl_s
        self._script = redis.register_script(_APPLY_ONCE)
        self._read_hashes = redis.register_script(_READ_HASHES)
        self._loaded = False

    async def apply(self, batch: Sequence[Effects]) -> list[bool]:
        """Apply each event's effects once; returns, per event, whether it was new (False = duplicate).

        Retrying is always safe: an event already applied is refused by its ``seen`` key.
        """
        if not batch:
            return []
        if self._script.sha is None or not self._loaded:
            self._script.sha = await self.redis.script_load(_APPLY_ONCE)
            self._loaded = True
        async with self.redis.pipeline(transaction=False) as pipe:
            for eff in batch:
                ids = eff.event_ids
                ttl = self.ttl if eff.ttl is None else eff.ttl
                pipe.evalsha(self._script.sha, len(ids), *[keys.seen(i) for i in ids], *eff.argv(ttl))
            results = await pipe.execute(raise_on_error=False)
        if any(isinstance(r, NoScriptError) for r in results):  # Redis restarted and lost its script cache
            self._loaded = False
            return await self.apply(batch)
        for r in results:
            if isinstance(r, Exception):
                raise r
        return [bool(r) for r in results]

    async def seen(self, event_ids: Iterable[str]) -> set[str]:
        """Which of these events were already applied (so state-dependent logic can skip them)."""
        ids = list(event_ids)
        if not ids:
            return set()
        marks = await self.redis.mget([keys.seen(i) for i in ids])  # one command, not one per id
        return {i for i, mark in zip(ids, marks, strict=True) if mark is not None}

    async def hashes(self, hash_keys: Sequence[str]) -> list[dict[str, str]]:
        """The hashes at ``hash_keys`` (empty for a missing one), read in one command.

        Why a script: the case agent reads every case of a batch (hundreds) before projecting it. As a
        pipeline of HGETALLs, redis-py's packing, parsing and asyncio hops cost more per hash than the
        projection (measured on the sensor agent, which reads its state the same way: 15 % of the
        worker's time); one script returning one JSON document costs a single decode.
        """
        if not hash_keys:
            return []
        flat_lists = orjson.loads(await self._read_hashes(keys=list(hash_keys)))
        # cjson writes an empty table (a missing hash) as {}: no fields either way.
        return [dict(zip(flat[::2], flat[1::2], strict=True)) if flat else {} for flat in flat_lists]
