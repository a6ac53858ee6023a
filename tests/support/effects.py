"""Apply effects through the real apply-once script from synchronous tests."""

from __future__ import annotations

import asyncio

from redis.asyncio import Redis as AsyncRedis

from streams.effects import ApplyResult, Effects, EffectWriter


def apply_effects(redis_url: str, effects: list[Effects], dedupe_ttl_s: int = 3600) -> list[ApplyResult]:
    """One batch through :class:`EffectWriter` on a client of its own, closed afterwards."""
    async def go() -> list[ApplyResult]:
        r = AsyncRedis.from_url(redis_url, decode_responses=True)
        try:
            return await EffectWriter(r, dedupe_ttl_s).apply(effects)
        finally:
            await r.aclose()

    return asyncio.run(go())
