"""Exactly-once effect, proven on real processes: the read model after a worker is SIGKILLed several
times mid-stream, and after two workers share the partitions, equals that of an undisturbed run.

The input is one simulated day (a past working day, so every SLA deadline has already passed and
the overdue marks do not depend on when the comparison is made) plus sensor envelopes. Each run has
its own topics and its own Redis database.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import uuid
from datetime import datetime, time, timedelta
from pathlib import Path

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from redis import Redis

from cityops import keys
from cityops.bus import Publisher, ensure_topics
from cityops.catalogue import get_catalogue
from cityops.schemas import CaseEvent, encode
from cityops.settings import Settings
from cityops.workcalendar import get_calendar
from fixtures.simulator.cases import CaseDayPlanner
from fixtures.simulator.run import sensor_envelopes
from fixtures.simulator.sensors import SensorModel
from fixtures.xiamen import load_city, load_sensors
from tests.workers import start_worker, stop_process, subprocess_env, wait_until

CASES_PER_DAY = 1500
SENSOR_TICKS = 20
# Wall-clock dependent, so not comparable between runs: heartbeats, arrival times, the alert feed, the
# SLA-overdue alert records (replaying a past day, every deadline has passed on arrival, and whether the
# timer raises a stage's alert before the next step arrives depends on timing; the aggregates, overdue
# sets and case states, which are compared, do not), and the hotspot timer's snapshot of the open cases
# (a copy of ``co:cases:open``, which is compared, as of its last tick).
VOLATILE = (keys.heartbeats(""), keys.alerts(), keys.dlq_recent(), keys.sensors_seen(), keys.alert("sla:"),
            keys.open_cases_snapshot())


def _input(tz) -> list[tuple[str, str, bytes]]:
    """(topic kind, key, payload) of a seeded day on the last working day before yesterday."""
    cal = get_calendar()
    day = datetime.now(tz).date() - timedelta(days=2)
    while not cal.is_working_day(day):
        day -= timedelta(days=1)
    planner = CaseDayPlanner(load_city(), get_catalogue(), cal, tz, seed=11, cases_per_day=CASES_PER_DAY)
    now = datetime.now(tz)
    items: list[tuple[datetime, str, str, bytes]] = []
    for pe in planner.plan_day(day):
        if pe.time < now - timedelta(minutes=5):
            event = CaseEvent.model_validate(dict(pe.event))
            items.append((pe.time, "cases", event.case_id, encode(event)))
    sensors = load_sensors()
    model = SensorModel(sensors, seed=11)
    for minute in range(SENSOR_TICKS):
        tick = datetime.combine(day, time(9, 0), tz) + timedelta(minutes=minute)
        for key, payload in sensor_envelopes(sensors, model.values_at(tick).tolist(), tick):
            items.append((tick, "sensors", key, payload))
    items.sort(key=lambda x: x[0])
    return [(kind, key, payload) for _, kind, key, payload in items]


def _settings_for(base: Settings, db: int) -> dict[str, str]:
    url = base.redis_url.rsplit("/", 1)[0] + f"/{db}"
    return {"KAFKA_BROKER": base.kafka_broker, "REDIS_URL": url, "CITYOPS_TOPIC_PREFIX": f"x{uuid.uuid4().hex[:8]}",
            "CITYOPS_WORKER_ID": f"x{uuid.uuid4().hex[:8]}", "CITYOPS_WORKER_WEB_PORT": "0"}


def _publish(env: dict[str, str], items: list[tuple[str, str, bytes]]) -> int:
    s = Settings(kafka_broker=env["KAFKA_BROKER"], redis_url=env["REDIS_URL"], topic_prefix=env["CITYOPS_TOPIC_PREFIX"])

    async def go() -> None:
        await ensure_topics(s)
        async with Publisher(s) as pub:
            for kind, key, payload in items:
                await pub.send(getattr(s.topics, kind), key, payload)

    asyncio.run(go())
    return len(items)


def _committed_by_partition(env: dict[str, str]) -> dict[tuple[str, int], int]:
    """The group's committed offset of each partition of the cases and sensors topics (tansu's end offsets
    are not reliable, so progress is measured by what the workers committed)."""
    s = Settings(kafka_broker=env["KAFKA_BROKER"], topic_prefix=env["CITYOPS_TOPIC_PREFIX"],
                 partitions=int(env.get("CITYOPS_PARTITIONS", Settings.partitions)))

    async def go() -> dict[tuple[str, int], int]:
        consumer = AIOKafkaConsumer(bootstrap_servers=s.bootstrap_servers, group_id=env["CITYOPS_WORKER_ID"],
                                    enable_auto_commit=False)
        await consumer.start()
        try:
            return {(t, p): (await consumer.committed(TopicPartition(t, p))) or 0
                    for t in (s.topics.cases, s.topics.sensors) for p in range(s.partitions)}
        finally:
            await consumer.stop()

    return asyncio.run(go())


def _committed(env: dict[str, str]) -> int:
    return sum(_committed_by_partition(env).values())


def _start_worker(env: dict[str, str], log: Path) -> subprocess.Popen:
    return start_worker(log, subprocess_env() | env)


def _dump(r: Redis) -> dict[str, object]:
    """Every key of the read model with its value, but the wall-clock ones (``VOLATILE``)."""
    return dump_read_model(r, VOLATILE)


def dump_read_model(r: Redis, skip_prefixes: tuple[str, ...], skip_fields: tuple[str, ...] = (),
                    streams_in_any_order: bool = False) -> dict[str, object]:
    """Every key of the read model with its value; stream entries without their (time-based) ids.

    ``skip_prefixes``/``skip_fields``: keys and hash fields that depend on the wall clock.
    ``streams_in_any_order``: compare streams as multisets, for feeds that merge partitions whose
    interleaving differs from run to run.
    """
    out: dict[str, object] = {}
    for key in r.scan_iter(count=5000):
        if key.startswith(skip_prefixes):
            continue
        kind = r.type(key)
        if kind == "hash":
            out[key] = {k: v for k, v in r.hgetall(key).items() if k not in skip_fields}
        elif kind == "zset":
            out[key] = r.zrange(key, 0, -1, withscores=True)
        elif kind == "stream":
            entries = [fields for _, fields in r.xrange(key)]
            out[key] = sorted(entries, key=lambda f: sorted(f.items())) if streams_in_any_order else entries
        elif kind == "string":
            out[key] = r.get(key)
        elif kind == "list":
            out[key] = r.lrange(key, 0, -1)
        else:
            out[key] = kind
    return out


def _settle(r: Redis, env: dict[str, str], sent: int, procs: list[subprocess.Popen]) -> dict[str, object]:
    """Wait until everything sent, and the cases the agents opened in turn, is consumed and committed."""
    wait_until(lambda: _committed(env) >= sent, 240, "the worker did not consume everything")
    last: list[object] = [None]

    def stable() -> bool:
        now = (_committed(env), r.dbsize())
        if now == last[0]:
            return True
        last[0] = now
        return False

    wait_until(stable, 120, "the read model kept changing", interval=3.0)
    wait_until(lambda: r.xlen(keys.outbox()) == 0, 60, "derived case events were never applied")
    wait_until(lambda: r.xlen(keys.repeat_queue()) == 0, 60, "reports were never checked for repeats")
    wait_until(lambda: r.zcount(keys.sla_clock(), "-inf", datetime.now().timestamp()) == 0, 30,
               "SLA timer did not catch up")
    for p in procs:
        stop_process(p)
    return _dump(r)


@pytest.fixture(scope="module")
def day_input() -> list[tuple[str, str, bytes]]:
    from zoneinfo import ZoneInfo

    return _input(ZoneInfo("Asia/Shanghai"))


@pytest.fixture(scope="module")
def reference(broker_url, redis_url, day_input, tmp_path_factory):
    """The read model of an undisturbed run (Redis database 1)."""
    base = Settings(kafka_broker=f"kafka://{broker_url}", redis_url=redis_url)
    env = _settings_for(base, 1)
    r = Redis.from_url(env["REDIS_URL"], decode_responses=True)
    r.flushdb()
    sent = _publish(env, day_input)
    log = tmp_path_factory.mktemp("ref") / "worker.log"
    model = _settle(r, env, sent, [_start_worker(env, log)])
    r.close()
    families = {keys.family_of(k) for k in model}
    assert {"kpi_daily", "sensor"} <= families
    assert "repeats_daily" in families, "the simulated day should hold repeated problems"
    return model


def _without_keys_of(model: dict[str, object]) -> int:
    return sum(1 for k in model if keys.family_of(k) == "case")


def test_sigkill_mid_stream_changes_nothing(broker_url, redis_url, day_input, reference, tmp_path):
    base = Settings(kafka_broker=f"kafka://{broker_url}", redis_url=redis_url)
    env = _settings_for(base, 2)
    r = Redis.from_url(env["REDIS_URL"], decode_responses=True)
    r.flushdb()
    sent = _publish(env, day_input)
    kills = 0
    for fraction in (0.15, 0.45, 0.75):
        proc = _start_worker(env, tmp_path / f"worker{kills}.log")
        target = int(len(reference) * fraction)
        wait_until(lambda t=target: r.dbsize() >= t, 180, "no progress before the kill", proc, interval=0.05)
        os.killpg(proc.pid, signal.SIGKILL)  # no chance to commit offsets or finish the batch
        proc.wait()
        kills += 1
    final = _start_worker(env, tmp_path / "worker-final.log")
    model = _settle(r, env, sent, [final])
    r.close()
    assert kills == 3
    assert _without_keys_of(model) == _without_keys_of(reference) > CASES_PER_DAY * 0.5
    diff = sorted(k for k in set(model) | set(reference) if model.get(k) != reference.get(k))
    assert diff == [], f"{len(diff)} keys differ, e.g. {diff[:5]}"


def test_two_workers_build_the_same_read_model_as_one(broker_url, redis_url, day_input, reference, tmp_path):
    base = Settings(kafka_broker=f"kafka://{broker_url}", redis_url=redis_url)
    env = _settings_for(base, 3)
    r = Redis.from_url(env["REDIS_URL"], decode_responses=True)
    r.flushdb()
    a = _start_worker(env, tmp_path / "a.log")
    b = _start_worker(env, tmp_path / "b.log")
    for log in ("a.log", "b.log"):
        wait_until(lambda p=log: "[^Worker]: Ready" in (tmp_path / p).read_text(errors="replace"), 90)
    sent = _publish(env, day_input)
    wait_until(lambda: r.dbsize() > len(reference) // 3, 120, "no progress")
    logs = [(tmp_path / p).read_text(errors="replace") for p in ("a.log", "b.log")]
    model = _settle(r, env, sent, [a, b])
    r.close()
    # both members took part: in each one's latest assignment there is a share of the cases topic
    prefix = env["CITYOPS_TOPIC_PREFIX"]
    assignments = [log.rsplit("Setting newly assigned partitions", 1)[-1].split("for group", 1)[0] for log in logs]
    assert all(f"{prefix}.cases" in a for a in assignments), assignments
    diff = sorted(k for k in set(model) | set(reference) if model.get(k) != reference.get(k))
    assert diff == [], f"{len(diff)} keys differ, e.g. {diff[:5]}"


def test_input_is_a_real_day(day_input):
    kinds = {k for k, _, _ in day_input}
    assert kinds == {"cases", "sensors"}
    reports = sum(1 for k, _, p in day_input if k == "cases" and b'"action":"report"' in p)
    assert reports > CASES_PER_DAY * 0.8
    assert isinstance(orjson.loads(day_input[0][2]), dict)


def test_restarting_the_whole_stack_broker_included_loses_nothing(day_input, reference, tmp_path):
    """Half the day, then broker, Redis and worker all stop; the broker comes back empty (memory storage),
    Redis from its append-only file, and the producer re-sends the whole day with the same ids, as the
    simulator does after a restart. The read model must equal the undisturbed run's."""
    from cityops.services.broker import start_broker
    from cityops.services.readiness import wait_for_broker, wait_for_redis
    from cityops.services.redis_server import start_redis
    from tests.conftest import free_port

    broker_port, redis_port = free_port(), free_port()
    base = Settings(kafka_broker=f"kafka://127.0.0.1:{broker_port}", redis_url=f"redis://127.0.0.1:{redis_port}/0")
    env = _settings_for(base, 0)

    def up() -> tuple[subprocess.Popen, subprocess.Popen]:
        broker = start_broker("127.0.0.1", broker_port, tmp_path / "broker.log")
        redis = start_redis("127.0.0.1", redis_port, tmp_path / "redis", tmp_path / "redis.log")
        wait_for_broker(base, 30)
        wait_for_redis(base, 30)
        return broker, redis

    broker, redis = up()
    r = Redis.from_url(env["REDIS_URL"], decode_responses=True)
    half = day_input[: len(day_input) // 2]
    sent = _publish(env, half)
    first = _start_worker(env, tmp_path / "worker1.log")
    wait_until(lambda: _committed(env) >= sent, 180, "first half not consumed")
    stop_process(first)
    before = r.dbsize()  # after the worker stopped: its timers write on after the input is consumed
    for proc in (broker, redis):
        stop_process(proc)
    broker, redis = up()
    try:
        assert r.dbsize() == before, "Redis came back from its append-only file with everything"
        sent = _publish(env, day_input)  # a fresh broker: the whole day again, same ids
        model = _settle(r, env, sent, [_start_worker(env, tmp_path / "worker2.log")])
    finally:
        r.close()
        stop_process(broker)
        stop_process(redis)
    diff = sorted(k for k in set(model) | set(reference) if model.get(k) != reference.get(k))
    assert diff == [], f"{len(diff)} keys differ, e.g. {diff[:5]}"
