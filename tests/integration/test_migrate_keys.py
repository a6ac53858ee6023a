"""``python -m cityops migrate-keys`` on a real Redis holding a read model of the old key layout.

Old keys are spelled here by hand, as the platform wrote them before ``cityops/keys.py`` became collision-free;
afterwards today's readers (``cityops.read``, the sensor agent's ``read_states``) must find the same data.
"""

from __future__ import annotations

import asyncio
import time

import orjson
import pytest
from redis import Redis
from redis.asyncio import Redis as AsyncRedis

from cityops import cli, keys, migrate_keys, read
from cityops.settings import get_settings
from streams.sensor_store import read_states

STEP = orjson.dumps({"action": "report", "event_time": "2026-12-01T06:05:00+08:00", "actor": "citizen"}).decode()
BUCKET = {"05:n": "3", "05:s": "1.5", "05:x": "0.7"}


@pytest.fixture
def cityops_cli(redis_url: str, redis_client: Redis, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture):
    """Run ``python -m cityops migrate-keys ARGS`` against the test Redis: (exit code, what it printed)."""
    monkeypatch.setenv("REDIS_URL", redis_url)
    get_settings.cache_clear()

    def run(*args: str) -> tuple[int, str]:
        code = cli.main(["migrate-keys", *args])
        captured = capsys.readouterr()
        return code, captured.out + captured.err

    yield run
    get_settings.cache_clear()


def plant_old_layout(r: Redis) -> None:
    """A small city of the old layout, every family with a TTL, ids with ':' included."""
    r.rpush("co:case:X1:timeline", STEP, STEP)
    r.expire("co:case:X1:timeline", 30 * keys.DAY)
    r.rpush("co:case:A:7:timeline", STEP)
    r.expire("co:case:A:7:timeline", 40 * keys.DAY)
    r.hset("co:case:Y9:timeline", mapping={"status": "open", "category": "road"})  # case "Y9:timeline"
    r.expire("co:case:Y9:timeline", 50 * keys.DAY)
    r.hset("co:case:X1", mapping={"status": "open"})
    windows = (("m", "2026120106", 7200), ("q", "20261201", 3 * keys.DAY), ("h", "20261201", 14 * keys.DAY))
    for res, period, ttl in windows:
        r.hset(f"co:win:{res}:S1:{period}", mapping=BUCKET)
        r.expire(f"co:win:{res}:S1:{period}", ttl)
    r.hset("co:win:h:NOISE:7:20261130", mapping=BUCKET)
    r.expire("co:win:h:NOISE:7:20261130", 13 * keys.DAY)
    r.hset("co:sensor:S1", mapping={"time": "2026-12-01T06:05:10+08:00", "kind": "noise", "metric": "laeq",
                                    "win_m": "co:win:m:S1:2026120106 05", "win_q": "co:win:q:S1:20261201 05",
                                    "win_h": "co:win:h:S1:20261201 05"})
    r.expire("co:sensor:S1", 7 * keys.DAY)
    r.zadd("co:sensors", {"S1": 1.0, "NOISE:7": 1.0})
    r.hset("co:camera:CAM:1:recent", mapping={"ev1": '{"ai_type": "parking"}'})
    r.expire("co:camera:CAM:1:recent", keys.DAY)


def everything(r: Redis) -> dict[str, tuple]:
    """Every key with its type, content and TTL (to the second), to compare before and after."""
    out = {}
    for key in r.scan_iter(count=1000):
        kind = r.type(key)
        content = {"hash": r.hgetall, "list": lambda k: r.lrange(k, 0, -1),
                   "zset": lambda k: r.zrange(k, 0, -1, withscores=True), "string": r.get}[kind](key)
        out[key] = (kind, content, round(r.pttl(key) / 1000))
    return out


def counts(output: str, family: str) -> str:
    return next(line for line in output.splitlines() if line.startswith(f"{family}:"))


def test_migrates_every_family_with_ttls_and_leaves_the_case_hash(redis_client: Redis, cityops_cli) -> None:
    r = redis_client
    plant_old_layout(r)
    ttls = {k: r.pttl(k) for k in r.scan_iter()}
    case_hash = (r.hgetall("co:case:Y9:timeline"), r.pttl("co:case:Y9:timeline"))

    code, out = cityops_cli()

    assert code == 0, out
    assert counts(out, "case timelines") == "case timelines: 2 migrated, 1 skipped, 0 conflicting"
    assert "co:case:Y9:timeline: a hash, not a list (a case whose id ends in ':timeline')" in out
    assert counts(out, "sensor windows") == "sensor windows: 4 migrated, 0 skipped, 0 conflicting"
    assert counts(out, "sensor window pointers") == "sensor window pointers: 3 migrated, 0 skipped, 0 conflicting"
    assert counts(out, "camera recent captures") == "camera recent captures: 1 migrated, 0 skipped, 0 conflicting"

    moved = {"co:case:X1:timeline": keys.case_timeline("X1"), "co:case:A:7:timeline": keys.case_timeline("A:7"),
             "co:win:m:S1:2026120106": keys.sensor_window("m", "S1", "2026120106"),
             "co:win:q:S1:20261201": keys.sensor_window("q", "S1", "20261201"),
             "co:win:h:S1:20261201": keys.sensor_window("h", "S1", "20261201"),
             "co:win:h:NOISE:7:20261130": keys.sensor_window("h", "NOISE:7", "20261130"),
             "co:camera:CAM:1:recent": keys.camera_recent("CAM:1")}
    for old, new in moved.items():
        assert not r.exists(old), old
        assert r.type(new) == ("list" if "timeline" in new else "hash"), new
        assert 0 < ttls[old] - r.pttl(new) < 5_000, (old, new)  # the TTL moved with the key
    assert r.hgetall(keys.sensor_window("h", "NOISE:7", "20261130")) == BUCKET
    assert r.hgetall(keys.camera_recent("CAM:1")) == {"ev1": '{"ai_type": "parking"}'}
    # today's readers find the migrated data
    assert [step["action"] for step in read.case_timeline(r, "X1")] == ["report", "report"]
    assert len(read.case_timeline(r, "A:7")) == 1
    # the case whose id ends in ':timeline' is untouched, and so is a plain case
    assert (r.hgetall("co:case:Y9:timeline"), r.type("co:case:Y9:timeline")) == (case_hash[0], "hash")
    assert 0 <= case_hash[1] - r.pttl("co:case:Y9:timeline") < 5_000
    assert r.hgetall("co:case:X1") == {"status": "open"}
    # the sensor's window pointers name today's keys, keeping the hash's TTL, and the agent reads its buckets
    sensor = r.hgetall("co:sensor:S1")
    assert sensor["win_m"] == f"{keys.sensor_window('m', 'S1', '2026120106')} 05"
    assert sensor["win_h"] == f"{keys.sensor_window('h', 'S1', '20261201')} 05"
    assert 0 < ttls["co:sensor:S1"] - r.pttl("co:sensor:S1") < 5_000
    state = asyncio.run(_read_state(r, "S1"))
    assert {kind: (run.n, run.s, run.x) for kind, run in state.running.items()} == {
        kind: (3, 1.5, 0.7) for kind in ("m", "q", "h")}


async def _read_state(r: Redis, sensor_id: str):
    conn = r.connection_pool.connection_kwargs
    client = AsyncRedis(host=conn["host"], port=conn["port"], db=conn.get("db", 0), decode_responses=True)
    try:
        return (await read_states(client, [sensor_id]))[sensor_id]
    finally:
        await client.aclose()


def test_dry_run_changes_nothing(redis_client: Redis, cityops_cli) -> None:
    plant_old_layout(redis_client)
    before = everything(redis_client)

    code, out = cityops_cli("--dry-run")

    assert code == 0, out
    assert out.splitlines()[0] == "dry run: nothing changed"
    assert counts(out, "case timelines") == "case timelines: 2 to migrate, 1 skipped, 0 conflicting"
    assert counts(out, "sensor windows") == "sensor windows: 4 to migrate, 0 skipped, 0 conflicting"
    assert counts(out, "sensor window pointers") == "sensor window pointers: 3 to migrate, 0 skipped, 0 conflicting"
    assert everything(redis_client) == before


def test_second_run_migrates_nothing(redis_client: Redis, cityops_cli) -> None:
    plant_old_layout(redis_client)
    assert cityops_cli()[0] == 0
    after_first = everything(redis_client)

    code, out = cityops_cli()

    assert code == 0, out
    for family in migrate_keys.FAMILIES:
        assert counts(out, family).startswith(f"{family}: 0 migrated, "), out
    assert counts(out, "case timelines") == "case timelines: 0 migrated, 1 skipped, 0 conflicting"  # the case hash
    assert everything(redis_client) == after_first


def test_conflict_is_reported_and_nothing_lost(redis_client: Redis, cityops_cli) -> None:
    r = redis_client
    r.rpush("co:case:X1:timeline", "old step")
    r.rpush(keys.case_timeline("X1"), "new step")
    r.hset("co:win:m:S1:2026120106", mapping=BUCKET)
    r.hset(keys.sensor_window("m", "S1", "2026120106"), mapping={"07:n": "1"})

    code, out = cityops_cli()

    assert code == 1, out
    assert counts(out, "case timelines") == "case timelines: 0 migrated, 0 skipped, 1 conflicting"
    assert f"conflict: co:case:X1:timeline and {keys.case_timeline('X1')} both exist" in out
    assert counts(out, "sensor windows") == "sensor windows: 0 migrated, 0 skipped, 1 conflicting"
    assert r.lrange("co:case:X1:timeline", 0, -1) == ["old step"]
    assert r.lrange(keys.case_timeline("X1"), 0, -1) == ["new step"]
    assert r.hgetall("co:win:m:S1:2026120106") == BUCKET
    assert r.hgetall(keys.sensor_window("m", "S1", "2026120106")) == {"07:n": "1"}


def test_window_read_by_both_layouts_is_settled_by_the_known_sensor(redis_client: Redis, cityops_cli) -> None:
    """Sensor ``2026120100`` (a bucket-shaped id): its old key ``co:win:m:2026120100:2026120106`` is also
    today's key of sensor ``2026120106``; only the first is known, so it moves, once. An unknown pair is left."""
    r = redis_client
    r.hset("co:win:m:2026120100:2026120106", mapping=BUCKET)
    r.zadd(keys.sensors_index(), {"2026120100": 1.0})
    r.hset("co:win:h:20261130:20261201", mapping=BUCKET)  # neither sensor 20261130 nor 20261201 is known

    code, out = cityops_cli()

    assert code == 0, out
    assert counts(out, "sensor windows") == "sensor windows: 1 migrated, 1 skipped, 0 conflicting"
    assert "co:win:h:20261130:20261201: old layout (sensor '20261130') or today's (sensor '20261201')" in out
    assert r.hgetall(keys.sensor_window("m", "2026120100", "2026120106")) == BUCKET
    assert r.hgetall("co:win:h:20261130:20261201") == BUCKET
    code, out = cityops_cli()
    assert counts(out, "sensor windows") == "sensor windows: 0 migrated, 1 skipped, 0 conflicting"
    assert r.hgetall(keys.sensor_window("m", "2026120100", "2026120106")) == BUCKET


def test_refuses_while_a_worker_beats(redis_client: Redis, cityops_cli) -> None:
    plant_old_layout(redis_client)
    redis_client.hset(keys.heartbeats("cityops-test"), "host:1", repr(time.time()))
    before = everything(redis_client)

    code, out = cityops_cli()

    assert code == 2
    assert "stop every worker first" in out
    assert everything(redis_client) == before
    code, out = cityops_cli("--force")
    assert code == 0, out
    assert redis_client.exists(keys.case_timeline("X1"))


@pytest.mark.parametrize(("key", "expected"), [
    ("co:win:m:S1:2026120106", ("m", "S1", "2026120106")),
    ("co:win:q:A:B:20261201", ("q", "A:B", "20261201")),
    ("co:win:m:S1:20261201", None),  # a minute window's bucket is an hour
    ("co:win:x:S1:20261201", None),
    ("co:win:h:20261201:S1", None),  # today's layout
])
def test_old_window_names(key: str, expected: tuple[str, str, str] | None) -> None:
    assert migrate_keys.old_window(key) == expected
