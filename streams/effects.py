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
from streams.lua import source

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
_APPLY_ONCE = source("apply_once")


# Many hashes in one reply: HGETALL of each key, as one JSON array of flat [field, value, ...] arrays, and
# the type of a key that is no hash in its place (one such key must not fail the read of all the others).
_READ_HASHES = source("read_hashes")


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

    def zadd_capped(self, key: str, flat: list[str], cap: int, owned_fields: Sequence[str] = (),
                    owned_key_prefixes: Sequence[str] = ()) -> Effects:
        """Add members ([score, member, ...]) and keep the ``cap`` highest-scored; a member dropped takes with it
        its field in each hash of ``owned_fields`` and the key ``prefix + member`` of each ``owned_key_prefixes``.

        Why in the same script: a bounded index whose members own other keys must never leave those behind
        (an attacker spraying ids would otherwise grow Redis through the owned keys)."""
        if flat:
            owned = [["h", k] for k in owned_fields] + [["k", p] for p in owned_key_prefixes]
            self.ops.append(("ZADDCAP", key, flat, str(int(cap)), owned))
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
        projection (the sensor agent reads its state the same way); one script returning one JSON document
        costs a single decode.
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
