"""The outbox of derived case events, on a real Redis: staged atomically, re-sent until applied, then dropped."""

from __future__ import annotations

import asyncio
from datetime import datetime
from zoneinfo import ZoneInfo

from redis.asyncio import Redis as AsyncRedis

from cityops import keys
from cityops.schemas import CaseAction, CaseEvent, CaseSource
from streams.effects import Effects, EffectWriter
from streams.outbox import relay, stage


def test_outbox_relay(redis_url, redis_client):
    ev = CaseEvent(event_id="IOT-X-1-report", case_id="IOT-X-1", action=CaseAction.REPORT, source=CaseSource.IOT_SENSOR,
                   category_code="E0303", event_time=datetime(2026, 11, 24, 10, tzinfo=ZoneInfo("Asia/Shanghai")))
    sent: list[tuple[str, bytes]] = []

    async def send(key: str, payload: bytes) -> None:
        sent.append((key, payload))

    async def run() -> list[tuple[int, int]]:
        r = AsyncRedis.from_url(redis_url, decode_responses=True)
        try:
            eff = Effects("env-1")
            stage(eff, [ev])
            writer = EffectWriter(r, 3600)
            assert await writer.apply([eff]) == [True]
            assert await writer.apply([eff]) == [False]  # a re-sent source stages nothing twice
            young = await relay(r, send)  # just staged: the agent's own send is still in flight
            old = await relay(r, send, now=10**10)  # long unapplied: re-sent, kept
            waiting = await relay(r, send)  # re-queued: not re-sent again at once
            await r.set(keys.seen(ev.event_id), 1)  # the case agent applied it
            done = await relay(r, send, now=10**10)
            return [young, old, waiting, done]
        finally:
            await r.aclose()

    assert asyncio.run(run()) == [(0, 0), (0, 1), (0, 0), (1, 0)]
    assert sent == [("IOT-X-1", ev.model_dump_json(exclude_none=True).encode())]
    assert redis_client.xlen(keys.outbox()) == 0
