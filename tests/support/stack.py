"""One seeded day through real processes, and the read model it leaves: the input, publishing it, waiting for
workers to consume and commit it, and dumping Redis for a key-by-key comparison. Used by the exactly-once and
scale-out tests and by ``tools/chaos.py`` and ``tools/compare_versions.py``."""

from __future__ import annotations

import asyncio
import subprocess
import uuid
from datetime import date, datetime, time, timedelta
from pathlib import Path

from aiokafka import AIOKafkaConsumer, TopicPartition
from redis import Redis

from cityops import keys
from cityops.bus import Publisher, ensure_topics
from cityops.catalogue import get_catalogue
from cityops.schemas import CaseAction, CaseEvent, encode
from cityops.settings import Settings
from cityops.workcalendar import get_calendar
from fixtures.simulator.cases import CaseDayPlanner
from fixtures.simulator.run import sensor_envelopes
from fixtures.simulator.sensors import SensorModel
from fixtures.xiamen import load_city, load_sensors
from tests.support.workers import start_worker, stop_process, subprocess_env, wait_until

CASES_PER_DAY = 800
SENSOR_TICKS = 20
# Wall-clock dependent, so not comparable between runs: heartbeats, arrival times, the alert feed, the
# SLA-overdue alert records (replaying a past day, every deadline has passed on arrival, and whether the
# timer raises a stage's alert before the next step arrives depends on timing; the aggregates, overdue
# sets and case states, which are compared, do not), and the hotspot timer's snapshot of the open cases
# (a copy of ``co:cases:open``, which is compared, as of its last tick), and the case stream's clock marks
# (the wall time each partition was read).
VOLATILE = (keys.heartbeats(""), keys.alerts(), keys.dlq_recent(), keys.sensors_seen(), keys.alert("sla:"),
            keys.open_cases_snapshot(), keys.stream_clock())


def seeded_day(tz) -> list[tuple[str, str, bytes]]:
    """(topic kind, key, payload) of a seeded day on the last working day before yesterday."""
    cal = get_calendar()
    day = datetime.now(tz).date() - timedelta(days=2)
    while not cal.is_working_day(day):
        day -= timedelta(days=1)
    planner = CaseDayPlanner(load_city(), get_catalogue(), cal, tz, seed=11, cases_per_day=CASES_PER_DAY)
    now = datetime.now(tz)
    items: list[tuple[datetime, str, str, bytes]] = []
    twin: CaseEvent | None = None
    for pe in planner.plan_day(day):
        if pe.time < now - timedelta(minutes=5):
            event = CaseEvent.model_validate(dict(pe.event))
            items.append((pe.time, "cases", event.case_id, encode(event)))
            if twin is None and event.action is CaseAction.REPORT and event.lon is not None:
                twin = event
    if twin is not None:  # the same problem reported again at the same place: the day always holds a repeat
        again = twin.model_copy(update={"case_id": f"{twin.case_id}R", "event_id": f"{twin.event_id}R",
                                        "event_time": twin.event_time + timedelta(minutes=30)})
        items.append((again.event_time, "cases", again.case_id, encode(again)))
    sensors = load_sensors()
    model = SensorModel(sensors, seed=11)
    for minute in range(SENSOR_TICKS):
        tick = datetime.combine(day, time(9, 0), tz) + timedelta(minutes=minute)
        for key, payload in sensor_envelopes(sensors, model.values_at(tick).tolist(), tick):
            items.append((tick, "sensors", key, payload))
    items.sort(key=lambda x: x[0])
    return [(kind, key, payload) for _, kind, key, payload in items]


def settings_for(base: Settings, db: int) -> dict[str, str]:
    url = base.redis_url.rsplit("/", 1)[0] + f"/{db}"
    return {"KAFKA_BROKER": base.kafka_broker, "REDIS_URL": url, "CITYOPS_TOPIC_PREFIX": f"x{uuid.uuid4().hex[:8]}",
            "CITYOPS_WORKER_ID": f"x{uuid.uuid4().hex[:8]}", "CITYOPS_WORKER_WEB_PORT": "0"}


def publish(env: dict[str, str], items: list[tuple[str, str, bytes]]) -> int:
    s = Settings(kafka_broker=env["KAFKA_BROKER"], redis_url=env["REDIS_URL"], topic_prefix=env["CITYOPS_TOPIC_PREFIX"])

    async def go() -> None:
        await ensure_topics(s)
        async with Publisher(s) as pub:
            for kind, key, payload in items:
                await pub.send(getattr(s.topics, kind), key, payload)

    asyncio.run(go())
    return len(items)


def committed_by_partition(env: dict[str, str]) -> dict[tuple[str, int], int]:
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


def committed(env: dict[str, str]) -> int:
    return sum(committed_by_partition(env).values())


def start_worker_with(env: dict[str, str], log: Path) -> subprocess.Popen:
    return start_worker(log, subprocess_env() | env)


def dump_day_model(r: Redis) -> dict[str, object]:
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


def settle(r: Redis, env: dict[str, str], sent: int, procs: list[subprocess.Popen]) -> dict[str, object]:
    """Wait until everything sent, and the cases the agents opened in turn, is consumed and committed."""
    wait_until(lambda: committed(env) >= sent, 240, "the worker did not consume everything")
    last: list[object] = [None]

    def stable() -> bool:
        now = (committed(env), r.dbsize())
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
    return dump_day_model(r)


def previous_working_day(today: date) -> date:
    """The last working day before ``today``: a case reported there at 09:00 is past its register clock."""
    from cityops.workcalendar import get_calendar

    cal, day = get_calendar(), today - timedelta(days=1)
    while not cal.is_working_day(day):
        day -= timedelta(days=1)
    return day
