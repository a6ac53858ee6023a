"""The sensor agent's batch in parts, on a real Redis: the parts' projections overlap the previous part's
script, and a part refused because another worker applied one of its envelopes meanwhile is redone
envelope by envelope. Either way the read model equals that of the batch applied as one part."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import orjson
import pytest
from redis import Redis

from cityops.settings import get_settings
from fixtures.xiamen import load_sensors
from streams import deadletter, runtime
from tests.fake_events import FetchedEvent


class _Topic:
    """Stands in for a Kafka topic the agent sends to (derived case events, dead letters)."""

    def __init__(self) -> None:
        self.sent: list[tuple[bytes | None, bytes]] = []

    async def send(self, key: bytes | None = None, value: bytes = b"") -> None:
        self.sent.append((key, value))


def _events() -> list[FetchedEvent]:
    """12 envelopes of 8 sensors, 20 s apart, loud enough for noise rules to fire (sustain set to 60 s)."""
    sensors = [s for s in load_sensors() if s.kind in ("noise", "dust")][:8]
    start = datetime.now(get_settings().tz).replace(microsecond=0) - timedelta(minutes=20)
    out = []
    for i in range(12):
        t = (start + timedelta(seconds=20 * i)).isoformat()
        readings = [{"sensor_id": s.id, "kind": s.kind, "metric": s.metric, "unit": s.unit, "time": t,
                     "value": 85.0 + i % 3 if s.kind == "noise" else 60.0 + 7 * i % 50} for s in sensors]
        out.append(FetchedEvent(orjson.dumps({"v": 1, "envelope_id": f"parts-{i}", "gateway_id": "GW-T", "sent_at": t,
                                        "readings": readings}), i))
    return out


def _dump(url: str) -> dict:
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


@pytest.fixture
def agent(redis_url, monkeypatch):
    monkeypatch.setenv("CITYOPS_RULE_SUSTAIN_S", "60")
    get_settings.cache_clear()
    from streams.agents import sensors

    monkeypatch.setattr(sensors, "cases_topic", _Topic())
    monkeypatch.setattr(deadletter, "deadletter_topic", _Topic())
    yield sensors
    get_settings.cache_clear()


def _run(agent, url: str, monkeypatch, events: list[FetchedEvent], part: int,  # noqa: ANN001
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


def test_parts_give_the_read_model_of_one_part(agent, redis_url, monkeypatch):
    base = redis_url.rsplit("/", 1)[0]
    events = _events()
    _run(agent, f"{base}/8", monkeypatch, events, part=100)
    whole = _dump(f"{base}/8")
    _run(agent, f"{base}/9", monkeypatch, events, part=5)  # parts of 5, 5 and 2 envelopes
    assert whole == _dump(f"{base}/9")
    assert any(key.startswith("co:alert:sensor:") for key in whole), "a rule should have fired"
    assert agent.cases_topic.sent, "its case events published after the part's script"


def test_a_part_applied_meanwhile_by_another_worker_is_redone_envelope_by_envelope(agent, redis_url, monkeypatch):
    base = redis_url.rsplit("/", 1)[0]
    events = _events()
    _run(agent, f"{base}/8", monkeypatch, events, part=100)
    whole = _dump(f"{base}/8")

    # Another worker applied the first 7 envelopes after this one checked which were applied: the first
    # part's script finds them claimed, and the agent goes on envelope by envelope, skipping those 7.
    async def not_yet_applied(items, event_id):  # noqa: ANN001, ANN202 - the check saw no marks yet
        return items

    _run(agent, f"{base}/9", monkeypatch, events[:7], part=100)
    monkeypatch.setattr(agent, "drop_repeats", not_yet_applied)
    _run(agent, f"{base}/9", monkeypatch, events, part=4, fresh=False)
    assert _dump(f"{base}/9") == whole
