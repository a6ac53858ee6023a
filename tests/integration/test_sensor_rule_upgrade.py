"""A running city upgrades to rolling-window rules on a real Redis: sensor hashes written by the old
quarter-hour rule load, carry their episodes on and are rewritten in the new form; a corrupt rolling window
is that sensor's problem only (read as unreadable, with the key in the reason)."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from redis.asyncio import Redis as AsyncRedis

from cityops import keys
from cityops.catalogue import get_catalogue
from cityops.schemas import SensorKind, SensorReading
from fixtures.xiamen import load_city, load_sensors
from streams.effects import EffectWriter
from streams.sensor_projection import SensorContext, project_envelopes
from streams.sensor_store import read_states_checked

TZ = ZoneInfo("Asia/Shanghai")


def test_old_rule_state_loads_and_is_rewritten(redis_url, redis_client):
    sensors = [s for s in load_sensors() if s.kind == "noise" and s.site_kind == "construction"][:2]
    ctx = SensorContext({s.id: s for s in sensors}, load_city(), get_catalogue(), TZ)
    site, other = sensors
    t0 = datetime(2026, 11, 24, 23, 0, tzinfo=TZ)
    redis_client.hset(keys.sensor(site.id), mapping={  # as the quarter-hour rule wrote it
        "time": (t0 - timedelta(minutes=1)).isoformat(), "phase": "active", "since": "1.0", "episode": "3",
        "peak": "71.5", "quarter": "202611242245", "quarter_n": "14", "quarter_s": "980.0", "kind": "noise",
        "metric": "laeq", "unit": "dB(A)", "offline": "0"})
    redis_client.hset(keys.sensor(other.id), mapping={"time": t0.isoformat(), "roll": "29400000:x:1.0"})

    async def go() -> tuple:
        r = AsyncRedis.from_url(redis_url, decode_responses=True)
        try:
            states, unreadable = await read_states_checked(r, [site.id, other.id])
            loaded = (states[site.id].rule.phase, states[site.id].rule.episode, dict(states[site.id].roll.buckets))
            readings = [SensorReading(sensor_id=site.id, kind=SensorKind.NOISE, metric="laeq", value=75.0,
                                      unit="dB(A)", time=t0)]
            out = project_envelopes([("upgrade-1", readings)], {site.id: states[site.id]}, ctx)
            assert await EffectWriter(r, 3600).apply([out.effects]) == [True]
            again, _ = await read_states_checked(r, [site.id])
            return loaded, unreadable, out.cases, again[site.id]
        finally:
            await r.aclose()

    loaded, unreadable, cases, again = asyncio.run(go())
    assert loaded == ("active", 3, {})
    assert list(unreadable) == [other.id] and keys.sensor(other.id) in unreadable[other.id]
    assert "roll bucket '29400000:x:1.0'" in unreadable[other.id]
    assert [c.case_id for c in cases if c.action.value == "report"] == [f"IOT-{site.id}-4"]  # the night maximum
    stored = redis_client.hgetall(keys.sensor(site.id))
    assert stored["mx_phase"] == "active" and stored["mx_episode"] == "4" and stored["roll"]
    assert (again.night.episode, again.rule.episode, again.rule.phase) == (4, 3, "active")
    assert list(again.roll.buckets) == [int(t0.timestamp()) // 60]
