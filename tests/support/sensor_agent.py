"""The sensor agent's batch function run in the test's process on a real Redis, its Kafka sends recorded:
shared by the tests of its parts and of bad sensor state."""

from __future__ import annotations

import asyncio

from redis import Redis

from cityops.settings import get_settings
from streams import runtime
from tests.support.fake_events import FetchedEvent


def dump_db(url: str) -> dict:
    """Every key of the Redis database ``url`` with its value (sensor arrival times without their wall-clock
    scores)."""
    r = Redis.from_url(url, decode_responses=True)
    try:
        out: dict = {}
        for key in sorted(r.scan_iter("*")):
            kind = r.type(key)
            if kind == "hash":
                out[key] = r.hgetall(key)
            elif kind == "zset":
                out[key] = r.zrange(key, 0, -1, withscores=key != "co:sensors:seen")  # arrival: wall clock
            elif kind == "stream":
                out[key] = [fields for _, fields in r.xrange(key)]
            elif kind == "string":
                out[key] = r.get(key)
        return out
    finally:
        r.close()


def run_sensor_batch(agent, url: str, monkeypatch, events: list[FetchedEvent], part: int,  # noqa: ANN001
                     fresh: bool = True) -> None:
    """The agent's batch function on ``events`` in parts of ``part`` envelopes, on database ``url``
    (emptied first when ``fresh``)."""
    monkeypatch.setenv("REDIS_URL", url)
    get_settings.cache_clear()
    monkeypatch.setattr(runtime, "_redis", None)  # a client on this test's event loop and database
    monkeypatch.setattr(runtime, "_writer", None)
    monkeypatch.setattr(agent, "PART_ENVELOPES", part)
    if fresh:
        Redis.from_url(url).flushdb()

    async def go() -> None:
        try:
            await agent.process(events)
        finally:
            await runtime.redis().aclose()

    asyncio.run(go())
