"""Scale-out: three workers in one consumer group, on topics of six partitions, build the same read model
as one worker alone, key by key.

The input and the one-worker reference are those of ``tests/integration/test_exactly_once.py`` (a seeded working day,
about 800 cases and 12,000 sensor readings; the reference consumed by one worker on the default four
partitions). Here the topics have ``PARTITIONS`` partitions (``CITYOPS_PARTITIONS`` in the workers'
settings), the three workers join the group before anything is published, and the test checks, from the
workers' own logs (aiokafka's "Setting newly assigned partitions"), that the group settled on an
assignment that gives every partition of every consumed topic to exactly one worker, that the assignment
did not change while the day was consumed, and that each worker's partitions were consumed (their
committed offsets are past 0), so each worker did a share of the work.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from redis import Redis

from cityops import keys, read
from cityops.bus import ensure_topics
from cityops.settings import Settings
from tests.support.stack import (
    CASES_PER_DAY,
    committed_by_partition,
    publish,
    settings_for,
    settle,
    start_worker_with,
)
from tests.support.workers import stop_process, wait_until

WORKERS = 3
PARTITIONS = 6
DB = 4
ASSIGNED = "Setting newly assigned partitions"


def _settings(env: dict[str, str]) -> Settings:
    return Settings(kafka_broker=env["KAFKA_BROKER"], redis_url=env["REDIS_URL"],
                    topic_prefix=env["CITYOPS_TOPIC_PREFIX"], partitions=PARTITIONS)


def _consumed_topics(s: Settings) -> list[str]:
    """The topics the worker's agents consume (the dead-letter topic is only written)."""
    return [s.topics.cases, s.topics.sensors, s.topics.detections, s.topics.commands]


def parse_partitions(text: str) -> set[int]:
    """Faust's partition column: ``{0-3}``, ``{1, 4}``, ``{0-1, 5}`` → the partition numbers."""
    out: set[int] = set()
    for part in text.strip().strip("{}").split(","):
        part = part.strip()
        if not part:
            continue
        if "-" in part:
            lo, hi = part.split("-", 1)
            out.update(range(int(lo), int(hi) + 1))
        else:
            out.add(int(part))
    return out


def assignments(log: str, topics: list[str]) -> list[dict[str, set[int]]]:
    """Every assignment a worker logged, oldest first: topic → partitions (only ``topics``)."""
    out = []
    for block in log.split(ASSIGNED)[1:]:
        table = block.split("for group", 1)[0]
        current = {t: set() for t in topics}
        for row in re.finditer(r"^\|\s*(\S+)\s*\|\s*(\{[^}]*\})\s*\|", table, re.MULTILINE):
            if row.group(1) in current:
                current[row.group(1)] = parse_partitions(row.group(2))
        out.append(current)
    return out


def test_parse_partitions():
    assert parse_partitions("{0-3}") == {0, 1, 2, 3}
    assert parse_partitions("{1, 4}") == {1, 4}
    assert parse_partitions("{0-1, 5}") == {0, 1, 5}
    assert parse_partitions("{}") == set()
    log = ("x Setting newly assigned partitions \n+---+\n| p.cases | {0-1} |\n| p.sensors | {4} |\n"
           "| q-__assignor-__leader | {0} |\n+---+ for group g \n")
    assert assignments(log, ["p.cases", "p.sensors"]) == [{"p.cases": {0, 1}, "p.sensors": {4}}]


def _settled(latest: list[dict[str, set[int]]], topics: list[str]) -> bool:
    """Each worker holds something, no partition twice, every partition of every topic once."""
    if len(latest) != WORKERS or not all(any(a.values()) for a in latest):
        return False
    for t in topics:
        held = [p for a in latest for p in a[t]]
        if len(held) != len(set(held)) or set(held) != set(range(PARTITIONS)):
            return False
    return True


def test_three_workers_build_the_same_read_model_as_one(broker_url, redis_url, day_input, reference,
                                                        tmp_path: Path):
    base = Settings(kafka_broker=f"kafka://{broker_url}", redis_url=redis_url)
    env = settings_for(base, DB) | {"CITYOPS_PARTITIONS": str(PARTITIONS)}
    s = _settings(env)
    topics = _consumed_topics(s)
    asyncio.run(ensure_topics(s))  # PARTITIONS each, before any worker or producer could create them
    r = Redis.from_url(env["REDIS_URL"], decode_responses=True)
    r.flushdb()
    logs = [tmp_path / f"worker{i}.log" for i in range(WORKERS)]
    procs = [start_worker_with(env, log) for log in logs]
    try:
        for log, proc in zip(logs, procs, strict=True):
            wait_until(lambda p=log: "[^Worker]: Ready" in p.read_text(errors="replace"), 90, f"{log} not ready", proc)

        def latest() -> list[dict[str, set[int]]]:
            return [a[-1] for log in logs if (a := assignments(log.read_text(errors="replace"), topics))]

        wait_until(lambda: _settled(latest(), topics), 90, "the group never settled on a complete assignment")
        before = latest()
        counts = [len(assignments(log.read_text(errors="replace"), topics)) for log in logs]
        sent = publish(env, day_input)  # topics exist with PARTITIONS partitions: _publish creates none
        model = settle(r, env, sent, procs)
        alive = read.workers_alive(r, group=env["CITYOPS_WORKER_ID"])
        assert alive.alive == WORKERS, f"the console would see {alive.alive} of {WORKERS} worker processes"
    finally:
        for proc in procs:
            stop_process(proc)
        r.close()

    # every partition of every consumed topic was assigned, to one worker each
    assert _settled(before, topics), before
    # the assignment held while the day was consumed, so each worker's partitions were consumed by it alone
    after = [assignments(log.read_text(errors="replace"), topics) for log in logs]
    assert [len(a) for a in after] == counts, "a rebalance happened while the day was consumed"
    committed = committed_by_partition(env)
    assert all(v > 0 for (t, _), v in committed.items() if t == s.topics.cases), committed
    for i, held in enumerate(before):
        mine = sum(committed[(t, p)] for t in (s.topics.cases, s.topics.sensors) for p in held[t])
        assert mine > 0, f"worker {i} (partitions {held}) consumed nothing"

    # and the read model is the one-worker reference's, key by key
    assert sum(1 for k in model if keys.family_of(k) == "case") > CASES_PER_DAY * 0.5
    diff = sorted(k for k in set(model) | set(reference) if model.get(k) != reference.get(k))
    assert diff == [], f"{len(diff)} keys differ, e.g. {diff[:5]}"
