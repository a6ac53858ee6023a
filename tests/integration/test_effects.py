"""The apply-once script on a real Redis: applied once, and the audit stream trimmed by age, not by count."""

from __future__ import annotations

import asyncio
import time

from redis.asyncio import Redis as AsyncRedis

from streams.effects import Effects, EffectWriter
from tests.support.effects import apply_effects

YEAR = 365 * 86_400


def test_each_event_applies_once(redis_url, redis_client):
    eff = Effects("e-1").hincrby("co:test:h", "n", 2).zadd("co:test:z", 1.5, "m")
    assert apply_effects(redis_url, [eff, eff]) == [True, False]
    assert redis_client.hget("co:test:h", "n") == "2" and redis_client.zscore("co:test:z", "m") == 1.5


def test_reads_many_hashes_and_applied_ids_in_one_command_each(redis_url, redis_client):
    redis_client.hset("co:test:a", mapping={"phase": "normal", "name": "噪声/1", "n": "3"})
    redis_client.hset("co:test:c", mapping={"x": ""})

    async def go() -> tuple[list[dict[str, str]], list[dict[str, str]], set[str]]:
        r = AsyncRedis.from_url(redis_url, decode_responses=True)
        try:
            writer = EffectWriter(r, 3600)
            await writer.apply([Effects("h-1")])
            return (await writer.hashes(["co:test:a", "co:test:missing", "co:test:c"]), await writer.hashes([]),
                    await writer.seen(["h-1", "h-2"]))
        finally:
            await r.aclose()

    hashes, none, seen = asyncio.run(go())
    assert hashes == [{"phase": "normal", "name": "噪声/1", "n": "3"}, {}, {"x": ""}]
    assert none == [] and seen == {"h-1"}


def test_kept_stream_drops_entries_older_than_its_retention_only(redis_url, redis_client):
    now_ms = int(time.time() * 1000)
    too_old = f"{now_ms - 401 * 86_400 * 1000}-0"
    kept = f"{now_ms - 399 * 86_400 * 1000}-0"
    redis_client.xadd("co:test:audit", {"json": "{}"}, id=too_old)
    redis_client.xadd("co:test:audit", {"json": "{}"}, id=kept)
    assert apply_effects(redis_url, [Effects("e-2").xadd_kept_for("co:test:audit", 400 * 86_400, '{"a": 1}')]) == [True]
    ids = [entry_id for entry_id, _ in redis_client.xrange("co:test:audit")]
    assert too_old not in ids and kept in ids and len(ids) == 2


def test_float_folds_do_not_depend_on_where_batches_split(redis_url, redis_client):
    amounts = [0.1, 0.2, 0.3, 1e12, 3.7, 55.123456789]
    apply_effects(redis_url, [Effects("f-1").hfold("co:test:w", "s", amounts)])
    apply_effects(redis_url, [Effects("f-2").hfold("co:test:v", "s", amounts[:2]),
                       Effects("f-3").hfold("co:test:v", "s", amounts[2:5]),
                       Effects("f-4").hfold("co:test:v", "s", amounts[5:])])
    whole, split = redis_client.hget("co:test:w", "s"), redis_client.hget("co:test:v", "s")
    assert whole == split and float(whole) == sum(amounts)  # Python's left fold: the same double


def test_window_and_multi_field_writes_do_what_the_single_field_ones_do(redis_url, redis_client):
    amounts = [0.1, 0.2, 0.3, 1e12, 3.7, 55.123456789]
    redis_client.hset("co:test:one", mapping={"05:n": 3, "05:s": "1.5", "05:x": "9.0"})
    redis_client.hset("co:test:many", mapping={"05:n": 3, "05:s": "1.5", "05:x": "9.0"})
    one = Effects("w-1").hincrby("co:test:one", "05:n", 4).hfold("co:test:one", "05:s", amounts[:4]) \
        .hmax("co:test:one", "05:x", 7.0).hincrby("co:test:one", "06:n", 2) \
        .hfold("co:test:one", "06:s", amounts[3:5]).hmax("co:test:one", "06:x", 12.5) \
        .hset("co:test:s", {"value": 1.5, "kind": "noise", "gone": None})
    # the same: amounts once, bucket 05 in two runs (1..2 and 3..4), bucket 06 one run (4..5)
    buckets = [("05", 4, [1, 2, 3, 4], 7.0), ("06", 2, [4, 5], 12.5)]
    many = Effects("w-2").windows(amounts, [("co:test:many", buckets)]) \
        .hset_flat("co:test:t", ["value", "1.5", "kind", "noise"], 60).hset_flat("co:test:u", [], 60) \
        .zadd_many("co:test:z", ["1.5", "a", "2.0", "b"])
    assert apply_effects(redis_url, [one, many]) == [True, True]
    assert redis_client.hgetall("co:test:one") == redis_client.hgetall("co:test:many")
    assert redis_client.hgetall("co:test:s") == redis_client.hgetall("co:test:t") == {"value": "1.5", "kind": "noise"}
    assert 0 < redis_client.ttl("co:test:t") <= 60 and not redis_client.exists("co:test:u")
    assert redis_client.zrange("co:test:z", 0, -1, withscores=True) == [("a", 1.5), ("b", 2.0)]


def test_sensor_batches_give_identical_windows_however_they_split(redis_url):
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo

    from redis import Redis

    from cityops.schemas import SensorKind, SensorReading
    from streams import runtime
    from streams.sensor_projection import project_envelopes

    tz = ZoneInfo("Asia/Shanghai")
    ctx = runtime.sensor_context()
    noise = next(s for s in ctx.sensors.values() if s.kind == "noise" and s.metric == "laeq")
    t0 = datetime.now(tz).replace(microsecond=0) - timedelta(minutes=30)
    envelopes = [(f"split-{i}", [SensorReading(sensor_id=noise.id, kind=SensorKind.NOISE, value=50 + (i * 7.3) % 30,
                                               unit="dB(A)", time=t0 + timedelta(seconds=10 * i))])
                 for i in range(12)]
    dumps = []
    for db, sizes in ((5, [12]), (6, [5, 1, 6])):
        url = redis_url.rsplit("/", 1)[0] + f"/{db}"
        r = Redis.from_url(url, decode_responses=True)
        r.flushdb()
        states: dict = {}
        start = 0
        for size in sizes:
            apply_effects(url, [project_envelopes(envelopes[start:start + size], states, ctx).effects])
            start += size
        dumps.append({k: r.hgetall(k) for k in sorted(r.scan_iter("co:win:*"))})
        r.flushdb()
        r.close()
    assert dumps[0] and dumps[0] == dumps[1]
