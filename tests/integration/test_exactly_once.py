"""Exactly-once effect, proven on real processes: the read model after a worker is SIGKILLed several
times mid-stream, and after the whole stack restarts, equals that of an undisturbed run (several workers
sharing the partitions: ``test_scale_out.py``, on the same input and reference).

The input is one simulated day (a past working day, so every SLA deadline has already passed and
the overdue marks do not depend on when the comparison is made) plus sensor envelopes. Each run has
its own topics and its own Redis database.
"""

from __future__ import annotations

import os
import signal
import subprocess

import orjson
from redis import Redis

from cityops import keys
from cityops.settings import Settings
from tests.support.stack import (
    CASES_PER_DAY,
    committed,
    publish,
    settings_for,
    settle,
    start_worker_with,
)
from tests.support.workers import free_port, stop_process, wait_until


def _without_keys_of(model: dict[str, object]) -> int:
    return sum(1 for k in model if keys.family_of(k) == "case")


def test_sigkill_mid_stream_changes_nothing(broker_url, redis_url, day_input, reference, tmp_path):
    base = Settings(kafka_broker=f"kafka://{broker_url}", redis_url=redis_url)
    env = settings_for(base, 2)
    r = Redis.from_url(env["REDIS_URL"], decode_responses=True)
    r.flushdb()
    sent = publish(env, day_input)
    kills = 0
    for fraction in (0.15, 0.45, 0.75):
        proc = start_worker_with(env, tmp_path / f"worker{kills}.log")
        target = int(len(reference) * fraction)
        wait_until(lambda t=target: r.dbsize() >= t, 180, "no progress before the kill", proc, interval=0.05)
        os.killpg(proc.pid, signal.SIGKILL)  # no chance to commit offsets or finish the batch
        proc.wait()
        kills += 1
    final = start_worker_with(env, tmp_path / "worker-final.log")
    model = settle(r, env, sent, [final])
    r.close()
    assert kills == 3
    assert _without_keys_of(model) == _without_keys_of(reference) > CASES_PER_DAY * 0.5
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

    broker_port, redis_port = free_port(), free_port()
    base = Settings(kafka_broker=f"kafka://127.0.0.1:{broker_port}", redis_url=f"redis://127.0.0.1:{redis_port}/0")
    env = settings_for(base, 0)

    def up() -> tuple[subprocess.Popen, subprocess.Popen]:
        broker = start_broker("127.0.0.1", broker_port, tmp_path / "broker.log")
        redis = start_redis("127.0.0.1", redis_port, tmp_path / "redis", tmp_path / "redis.log")
        wait_for_broker(base, 30)
        wait_for_redis(base, 30)
        return broker, redis

    broker, redis = up()
    r = Redis.from_url(env["REDIS_URL"], decode_responses=True)
    half = day_input[: len(day_input) // 2]
    sent = publish(env, half)
    first = start_worker_with(env, tmp_path / "worker1.log")
    wait_until(lambda: committed(env) >= sent, 180, "first half not consumed")
    stop_process(first)
    before = r.dbsize()  # after the worker stopped: its timers write on after the input is consumed
    for proc in (broker, redis):
        stop_process(proc)
    broker, redis = up()
    try:
        assert r.dbsize() == before, "Redis came back from its append-only file with everything"
        sent = publish(env, day_input)  # a fresh broker: the whole day again, same ids
        model = settle(r, env, sent, [start_worker_with(env, tmp_path / "worker2.log")])
    finally:
        r.close()
        stop_process(broker)
        stop_process(redis)
    diff = sorted(k for k in set(model) | set(reference) if model.get(k) != reference.get(k))
    assert diff == [], f"{len(diff)} keys differ, e.g. {diff[:5]}"
