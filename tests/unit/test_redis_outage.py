"""Agents wait for Redis and apply the same batch again instead of crashing (which would skip it)."""

from __future__ import annotations

import asyncio
import logging

import pytest
from redis.exceptions import BusyLoadingError, ReadOnlyError, ResponseError
from redis.exceptions import ConnectionError as RedisConnectionError

from streams.agents.redis_outage import skip_tick_if_unavailable, until_applied


def test_the_same_batch_is_applied_again_until_redis_answers(caplog):
    seen: list[list[int]] = []
    failures = [RedisConnectionError("Connection closed by server."), BusyLoadingError("loading the AOF"),
                ReadOnlyError("a replica now")]

    async def process(batch: list[int]) -> None:
        seen.append(batch)
        if failures:
            raise failures.pop(0)

    caplog.set_level(logging.WARNING)
    asyncio.run(until_applied(process, [1, 2, 3], first_delay=0.01))
    assert seen == [[1, 2, 3]] * 4
    assert "batch applied after 4 attempts" in caplog.text


def test_other_errors_still_surface():
    async def process(batch: list[int]) -> None:
        raise ResponseError("WRONGTYPE")

    with pytest.raises(ResponseError):
        asyncio.run(until_applied(process, [1], first_delay=0.01))


def test_a_timer_tick_is_skipped_not_crashed(caplog):
    calls = 0

    async def tick() -> None:
        nonlocal calls
        calls += 1
        raise RedisConnectionError("gone")

    caplog.set_level(logging.WARNING)
    asyncio.run(skip_tick_if_unavailable(tick, "SLA timer"))
    assert calls == 1 and "SLA timer: Redis unavailable" in caplog.text
