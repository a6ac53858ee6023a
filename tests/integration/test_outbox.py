"""The outbox of derived case events, on a real Redis: staged atomically, re-sent until applied, then dropped;
an entry that is no case event is dead-lettered and dropped without holding up the others."""

from __future__ import annotations

import asyncio
from datetime import datetime
from zoneinfo import ZoneInfo

import orjson
import pytest
from redis.asyncio import Redis as AsyncRedis

from cityops import keys
from cityops.schemas import CaseAction, CaseEvent, CaseSource, encode
from cityops.settings import get_settings
from streams import deadletter
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


@pytest.fixture
def dead_letters(monkeypatch: pytest.MonkeyPatch) -> list[tuple[bytes | None, bytes]]:
    """What the relay sends to the dead-letter topic."""
    sent: list[tuple[bytes | None, bytes]] = []

    class _Topic:
        async def send(self, key: bytes | None = None, value: bytes = b"") -> None:
            sent.append((key, value))

    monkeypatch.setattr(deadletter, "deadletter_topic", _Topic())
    return sent


def _event(n: int) -> CaseEvent:
    return CaseEvent(event_id=f"IOT-X-{n}-report", case_id=f"IOT-X-{n}", action=CaseAction.REPORT,
                     source=CaseSource.IOT_SENSOR, category_code="E0303",
                     event_time=datetime(2026, 11, 24, 10, tzinfo=ZoneInfo("Asia/Shanghai")))


def _record(ev: CaseEvent) -> dict:
    return {"event_id": ev.event_id, "case_id": ev.case_id, "payload": encode(ev).decode()}


def test_a_bad_entry_is_dead_lettered_and_dropped_and_the_entries_after_it_go_out(redis_url, redis_client,
                                                                                  dead_letters):
    first, last = _event(1), _event(2)
    broken = _record(_event(3)) | {"payload": _record(_event(3))["payload"].replace('"report"', '"explode"')}
    bad = {"not json": "{not json",
           "not an object": "[1, 2]",
           "lacks a field": orjson.dumps({"event_id": "E-9", "case_id": "C-9"}).decode(),
           "breaks the contract": orjson.dumps(broken).decode(),
           "names another event": orjson.dumps(_record(_event(4)) | {"event_id": "IOT-X-5-report"}).decode()}
    redis_client.xadd(keys.outbox(), {"json": orjson.dumps(_record(first)).decode()})
    for raw in bad.values():
        redis_client.xadd(keys.outbox(), {"json": raw})
    redis_client.xadd(keys.outbox(), {"other": "no json field"})
    redis_client.xadd(keys.outbox(), {"json": orjson.dumps(_record(last)).decode()})
    sent: list[tuple[str, bytes]] = []

    async def send(key: str, payload: bytes) -> None:
        sent.append((key, payload))

    async def run() -> list[tuple[int, int]]:
        r = AsyncRedis.from_url(redis_url, decode_responses=True)
        try:
            return [await relay(r, send, now=10**10), await relay(r, send, now=10**10)]
        finally:
            await r.aclose()

    assert asyncio.run(run()) == [(0, 2), (0, 2)]  # both passes re-send the good ones: nothing sticks
    assert [key for key, _ in sent] == ["IOT-X-1", "IOT-X-2"] * 2
    assert [orjson.loads(fields["json"])["event_id"] for _, fields in redis_client.xrange(keys.outbox())] == \
        [first.event_id, last.event_id]  # the bad entries are gone, the good ones wait for the case agent
    letters = [orjson.loads(value) for _, value in dead_letters]
    assert len(letters) == len(bad) + 1, "each bad entry dead-lettered once, on the first pass"
    assert {letter["stage"] for letter in letters} == {"validate"}
    reasons = [letter["reason"] for letter in letters]
    for reason, needle in zip(reasons, ["not valid JSON", "JSON list", "lacks text field(s) payload",
                                        "CaseEvent", "its payload 'IOT-X-4-report'", "no json field"], strict=True):
        assert reason.startswith("outbox entry ") and needle in reason, (needle, reason)
    assert [letter["payload"] for letter in letters[:len(bad)]] == list(bad.values())
    counts = {k: v for key in redis_client.scan_iter(keys.dlq_daily("*")) for k, v in redis_client.hgetall(key).items()}
    assert counts == {f"{get_settings().topics.cases}:validate": str(len(bad) + 1)}
    assert redis_client.xlen(keys.dlq_recent()) == len(bad) + 1


def test_an_outbox_of_the_wrong_type_skips_the_pass(redis_url, redis_client, dead_letters):
    redis_client.set(keys.outbox(), "not a stream")

    async def send(key: str, payload: bytes) -> None:
        raise AssertionError("nothing to send")

    async def run() -> tuple[int, int]:
        r = AsyncRedis.from_url(redis_url, decode_responses=True)
        try:
            return await relay(r, send, now=10**10)
        finally:
            await r.aclose()

    assert asyncio.run(run()) == (0, 0)
    assert redis_client.get(keys.outbox()) == "not a stream" and not dead_letters
