"""A property of the apply-once writer against a real Redis: re-sent ids, in one batch or across batches, count once."""

from __future__ import annotations

import asyncio

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

SLOW = settings(max_examples=40, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow])


@SLOW
@given(events=st.lists(st.tuples(st.sampled_from([f"e{i}" for i in range(6)]), st.integers(1, 5)), max_size=25),
       chunk=st.integers(1, 7))
def test_apply_once_counts_each_event_id_once_however_it_is_batched(redis_url: str, events: list, chunk: int) -> None:
    """The Lua apply-once writer against a real Redis: re-sent ids (in one batch or across batches) count once."""
    from redis.asyncio import Redis as AsyncRedis

    from streams.effects import Effects, EffectWriter

    async def go() -> dict[str, str]:
        r = AsyncRedis.from_url(redis_url.rsplit("/", 1)[0] + "/9", decode_responses=True)
        await r.flushdb()
        writer = EffectWriter(r, 60)
        effects = [Effects(eid).hincrby("co:test", "n", amount).hincrby("co:test", eid, amount)
                   for eid, amount in events]
        for i in range(0, len(effects), chunk):
            await writer.apply(effects[i:i + chunk])
        out = await r.hgetall("co:test")
        await r.flushdb()
        await r.aclose()
        return out

    got = asyncio.run(go())
    first: dict[str, int] = {}
    for eid, amount in events:
        first.setdefault(eid, amount)
    assert got == ({"n": str(sum(first.values()))} | {k: str(v) for k, v in first.items()} if first else {})
