"""Sensor windows on a real Redis: the same readings leave the same bits however they were batched.

A batch starts from the state read back from Redis (:func:`streams.sensor_store.read_states`), its
parts from the state the part before left, as the sensor agent does. A window bucket is then either
summed by the projection (the newest reading's bucket and newer ones) or folded by the script (late
readings, or no bucket known yet); both must give what one fold of every amount in order gives.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from redis import Redis
from redis.asyncio import Redis as AsyncRedis

from cityops import keys
from cityops.catalogue import get_catalogue
from cityops.schemas import SensorKind, SensorReading
from fixtures.xiamen import load_city, load_sensors
from streams.effects import EffectWriter
from streams.sensor_projection import POINTER_FIELDS, SensorContext, project_envelopes
from streams.sensor_store import read_states

TZ = ZoneInfo("Asia/Shanghai")


@pytest.fixture(scope="module")
def ctx() -> SensorContext:
    return SensorContext({s.id: s for s in load_sensors()}, load_city(), get_catalogue(), TZ)


def _envelopes(ctx: SensorContext) -> list[tuple[str, list[SensorReading]]]:
    """A noise and a dust sensor from 23:40 to 00:25 (a new day), every 10 s, with late readings (5 min
    behind), readings out of order inside an envelope and two readings with the same time."""
    noise = next(s for s in ctx.sensors.values() if s.kind == "noise" and s.metric == "laeq")
    dust = next(s for s in ctx.sensors.values() if s.metric == "pm10")
    start = datetime(2026, 11, 24, 23, 40, 3, tzinfo=TZ)

    def reading(sensor, t: datetime, i: int) -> SensorReading:  # noqa: ANN001
        value = (48 + (i * 7.31) % 35) if sensor is noise else (40 + (i * 13.7) % 90)
        return SensorReading(sensor_id=sensor.id, kind=SensorKind(sensor.kind), metric=sensor.metric, value=value,
                             unit=sensor.unit, time=t)

    out = []
    for i in range(270):
        t = start + timedelta(seconds=10 * i)
        readings = [reading(noise, t, i), reading(dust, t, i)]
        if i % 17 == 5:
            readings.append(reading(noise, t - timedelta(minutes=5), i + 1000))  # late: an older bucket
        if i % 23 == 7:
            readings.insert(0, reading(dust, t + timedelta(seconds=4), i + 2000))  # out of order in the envelope
        if i == 100:
            readings.append(reading(noise, t, i + 3000))  # the same time again
        out.append((f"win-{i}", readings))
    return out


def _replay(url: str, envelopes: list, ctx: SensorContext, batch: int, part: int,
            ) -> tuple[dict, tuple[int, int]]:
    """Apply the envelopes in batches of parts; returns every window hash and each sensor's state
    fields, and how many window buckets the projection summed itself and how many the script folded."""

    async def go() -> tuple[int, int]:
        r = AsyncRedis.from_url(url, decode_responses=True)
        writer, summed, folded = EffectWriter(r, 3600), 0, 0
        try:
            for b in range(0, len(envelopes), batch):
                chunk = envelopes[b:b + batch]
                sensor_ids = sorted({x.sensor_id for _, readings in chunk for x in readings})
                states = await read_states(r, sensor_ids)  # each batch starts from what Redis holds
                for p in range(0, len(chunk), part):
                    effects = project_envelopes(chunk[p:p + part], states, ctx).effects
                    summed += sum(len(op[2]) // 6 for op in effects.ops
                                  if op[0] == "HSETEX" and op[1].startswith("co:win:"))
                    folded += sum(len(names) for op in effects.ops if op[0] == "WINDOWS" for _, names, _ in op[3])
                    assert await writer.apply([effects]) == [True]
        finally:
            await r.aclose()
        return summed, folded

    counts = asyncio.run(go())
    r = Redis.from_url(url, decode_responses=True)
    try:
        dump = {k: r.hgetall(k) for k in sorted(r.scan_iter("co:win:*"))}
        dump |= {k: r.hgetall(k) for k in sorted(r.scan_iter(keys.sensor("*")))}
    finally:
        r.close()
    return dump, counts


@pytest.mark.parametrize(("batch", "part"), [(7, 3), (1, 1), (40, 20), (25, 25)])
def test_windows_have_the_same_bits_however_batches_and_parts_split(redis_url, redis_client, ctx, batch, part):
    envelopes = _envelopes(ctx)
    whole, _ = _replay(redis_url, envelopes, ctx, len(envelopes), len(envelopes))  # every amount folded by the script
    redis_client.flushdb()
    split, (summed, folded) = _replay(redis_url, envelopes, ctx, batch, part)
    assert summed > 3 * folded > 0, "the projection sums most buckets itself; late readings' go to the script"
    assert split == whole
    day_keys = [k for k in whole if k.startswith("co:win:h:")]
    assert {keys.window_period(k) for k in day_keys} == {"20261124", "20261125"}


def test_state_points_at_the_newest_readings_buckets(redis_url, redis_client, ctx):
    envelopes = _envelopes(ctx)[:30]
    _replay(redis_url, envelopes, ctx, 10, 5)
    noise = envelopes[0][1][0].sensor_id
    stored = redis_client.hgetall(keys.sensor(noise))
    newest = datetime.fromisoformat(stored["time"])
    assert stored[POINTER_FIELDS["m"]] == f"{keys.sensor_window('m', noise, newest.strftime('%Y%m%d%H'))} " \
                                          f"{newest.strftime('%M')}"
    assert stored[POINTER_FIELDS["h"]] == f"{keys.sensor_window('h', noise, newest.strftime('%Y%m%d'))} " \
                                          f"{newest.strftime('%H')}"
    state = asyncio.run(_read(redis_url, noise))
    m = state.running["m"]
    bucket = redis_client.hgetall(m.key)
    assert (str(m.n), f"{m.s:.17g}", repr(m.x)) == (bucket[f"{m.bucket}:n"], bucket[f"{m.bucket}:s"],
                                                     bucket[f"{m.bucket}:x"])


async def _read(url: str, sensor_id: str):  # noqa: ANN202
    r = AsyncRedis.from_url(url, decode_responses=True)
    try:
        return (await read_states(r, [sensor_id]))[sensor_id]
    finally:
        await r.aclose()
