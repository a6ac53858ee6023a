"""The apply-once script on a real Redis: applied once, and the audit stream trimmed by age, not by count."""

from __future__ import annotations

import asyncio
import time

from redis.asyncio import Redis as AsyncRedis

from streams.effects import Effects, EffectWriter

YEAR = 365 * 86_400


def _apply(redis_url: str, effects: list[Effects]) -> list[bool]:
    async def go() -> list[bool]:
        r = AsyncRedis.from_url(redis_url, decode_responses=True)
        try:
            return await EffectWriter(r, 3600).apply(effects)
        finally:
            await r.aclose()

    return asyncio.run(go())


def test_each_event_applies_once(redis_url, redis_client):
    eff = Effects("e-1").hincrby("co:test:h", "n", 2).zadd("co:test:z", 1.5, "m")
    assert _apply(redis_url, [eff, eff]) == [True, False]
    assert redis_client.hget("co:test:h", "n") == "2" and redis_client.zscore("co:test:z", "m") == 1.5


def test_kept_stream_drops_entries_older_than_its_retention_only(redis_url, redis_client):
    now_ms = int(time.time() * 1000)
    too_old = f"{now_ms - 401 * 86_400 * 1000}-0"
    kept = f"{now_ms - 399 * 86_400 * 1000}-0"
    redis_client.xadd("co:test:audit", {"json": "{}"}, id=too_old)
    redis_client.xadd("co:test:audit", {"json": "{}"}, id=kept)
    assert _apply(redis_url, [Effects("e-2").xadd_kept_for("co:test:audit", 400 * 86_400, '{"a": 1}')]) == [True]
    ids = [entry_id for entry_id, _ in redis_client.xrange("co:test:audit")]
    assert too_old not in ids and kept in ids and len(ids) == 2
