"""Load run: 10× Xiamen's case volume plus 5,000 sensor readings a second, for ``--minutes`` (default 10),
printing the worker's and Redis's memory every ``--every`` seconds (default 10) to show whether they stay flat.

One machine, a private broker (tansu) and Redis (the stack's own launchers, so Redis runs with the compact
encodings of ``cityops/services/redis_server.py``), ``--workers`` real ``python -m cityops worker``
processes in one consumer group, and one producer process (this one) feeding them in real time:

- **cases**: the simulator's planner (``fixtures/simulator/cases.py``) plans yesterday at
  ``--cases-per-day`` (default 35,000 = 10 × Xiamen's ~3,500) with every lifecycle step, and the steps are
  sent in the plan's order at a steady pace: the day's events spread evenly over 24 h of wall clock
  (× ``--case-speed``), about 2.8 events/s at the default;
- **sensors**: the worker accepts only the fixture's 600 sensors (``streams/runtime.py`` loads
  ``fixtures.xiamen.load_sensors()``; readings of any other id are dead-lettered as unknown), so 5,000
  readings/s (``--readings-per-s``) means each of the 600 sensors reporting about 8.3 times a second:
  one tick of all 600 every 0.12 s, as gateway envelopes of ≤ 100 readings (8 envelopes a tick, 67 a
  second), time-stamped with the wall clock.

Every ``--every`` seconds it samples: worker RSS (``/proc/PID/status`` VmRSS, summed over the workers),
Redis ``used_memory`` and ``used_memory_rss``, the number of keys, messages and readings sent, and the
consumer lag (log-end offsets minus the group's committed offsets over the cases and sensors topics).
It prints the curve as a table (stderr) while it runs and, at the end, one JSON object (stdout) with the
samples, the slope in MB/min of each memory figure over the last half of the run (least squares), and
Redis's keys by family, to tell what grows.

    .venv/bin/python bench/bench_load.py [--minutes 10] [--workers 1] [--partitions 4]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from redis import Redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cityops import keys  # noqa: E402
from cityops.bus import Publisher, ensure_topics  # noqa: E402
from cityops.catalogue import get_catalogue  # noqa: E402
from cityops.devices import Sensor  # noqa: E402
from cityops.schemas import CaseEvent, encode  # noqa: E402
from cityops.services.broker import start_broker  # noqa: E402
from cityops.services.readiness import wait_for_broker, wait_for_redis  # noqa: E402
from cityops.services.redis_server import start_redis  # noqa: E402
from cityops.settings import Settings  # noqa: E402
from cityops.workcalendar import get_calendar  # noqa: E402
from fixtures.simulator.cases import CaseDayPlanner  # noqa: E402
from fixtures.simulator.sensors import SensorModel  # noqa: E402
from fixtures.xiamen import load_city, load_sensors  # noqa: E402
from tests.support.workers import free_port  # noqa: E402

ENVELOPE = 100
TZ = Settings().tz
MB = 1024 * 1024


def rss_bytes(pid: int) -> int:
    """Resident set size of one process from ``/proc`` (0 once it has gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def slope_mb_per_min(points: list[tuple[float, float]]) -> float | None:
    """Least-squares slope of (seconds, bytes) points, in MB per minute."""
    if len(points) < 2:
        return None
    n = len(points)
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    sxx = sum((x - mx) ** 2 for x, _ in points)
    if sxx == 0:
        return None
    sxy = sum((x - mx) * (y - my) for x, y in points)
    return round(sxy / sxx * 60 / MB, 3)


def key_family(key: str) -> str:
    """``co:win:m:2026112509:S1`` → ``co:win:m``; ``co:kpi:d:…:grid:…`` → ``co:kpi:d:grid`` (``keys.parse``)."""
    parsed = keys.parse(key)
    if parsed is None:
        return "other"
    name, args = parsed
    label = keys.families()[name][0].rstrip(":")
    if name in ("kpi_daily", "kpi_hourly"):
        return f"{label}:{args['scope']}"
    return f"{label}:{args['resolution']}" if name == "sensor_window" else label


class Feed:
    """The producer: planned case steps at a steady pace and sensor ticks at the readings rate."""

    def __init__(self, settings: Settings, sensors: list[Sensor], readings_per_s: float, case_events: list[bytes],
                 case_keys: list[str], case_rate: float) -> None:
        self.s = settings
        self.sensors = sensors
        self.model = SensorModel(sensors, seed=5)
        self.tick_s = len(sensors) / readings_per_s
        self.case_events, self.case_keys, self.case_rate = case_events, case_keys, case_rate
        self.run = uuid.uuid4().hex[:6]
        self.messages = self.readings = self.cases_sent = 0

    def envelopes(self, t: datetime, tick: int) -> list[tuple[str, bytes]]:
        stamp = t.isoformat(timespec="microseconds")
        values = self.model.values_at(t).tolist()
        by_gateway: dict[str, list[dict]] = {}
        for s, v in zip(self.sensors, values, strict=True):
            by_gateway.setdefault(s.gateway_id, []).append({"sensor_id": s.id, "kind": s.kind, "metric": s.metric,
                                                            "value": round(float(v), 1), "unit": s.unit,
                                                            "time": stamp})
        out = []
        for gw, readings in sorted(by_gateway.items()):
            for part in range(0, len(readings), ENVELOPE):
                env = {"v": 1, "envelope_id": f"{gw}-L{self.run}-{tick}-{part // ENVELOPE}", "gateway_id": gw,
                       "sent_at": stamp, "readings": readings[part:part + ENVELOPE]}
                out.append((gw, orjson.dumps(env)))
        return out

    async def produce(self, seconds: float) -> None:
        topics = self.s.topics
        async with Publisher(self.s) as pub:
            start = time.monotonic()
            tick = 0
            while True:
                elapsed = time.monotonic() - start
                if elapsed >= seconds:
                    break
                # sensors: every tick due by now (a late producer catches up rather than sending less)
                while tick * self.tick_s <= elapsed:
                    for key, payload in self.envelopes(datetime.now(TZ), tick):
                        await pub.send(topics.sensors, key, payload)
                        self.messages += 1
                    self.readings += len(self.sensors)
                    tick += 1
                # cases: the plan's steps in order, as many as the steady pace allows by now
                due = min(len(self.case_events), int(elapsed * self.case_rate))
                while self.cases_sent < due:
                    await pub.send(topics.cases, self.case_keys[self.cases_sent], self.case_events[self.cases_sent])
                    self.cases_sent += 1
                    self.messages += 1
                await pub.flush()
                nxt = start + tick * self.tick_s
                await asyncio.sleep(max(0.0, nxt - time.monotonic()))


async def lag(settings: Settings, group: str) -> int:
    """Log-end offsets minus the group's committed offsets, over the cases and sensors topics."""
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.bootstrap_servers, group_id=group,
                                enable_auto_commit=False)
    await consumer.start()
    try:
        tps = [TopicPartition(t, p) for t in (settings.topics.cases, settings.topics.sensors)
               for p in range(settings.partitions)]
        ends = await consumer.end_offsets(tps)
        total = 0
        for tp in tps:
            total += ends[tp] - ((await consumer.committed(tp)) or 0)
        return total
    finally:
        await consumer.stop()


def plan_cases(cases_per_day: int, seed: int) -> tuple[list[str], list[bytes]]:
    """Yesterday's planned case steps up to now, in time order, as (keys, encoded events)."""
    day = datetime.now(TZ).date() - timedelta(days=1)
    planner = CaseDayPlanner(load_city(), get_catalogue(), get_calendar(), TZ, seed=seed, cases_per_day=cases_per_day)
    now = datetime.now(TZ) - timedelta(minutes=5)
    keys_, payloads = [], []
    for pe in sorted(planner.plan_day(day), key=lambda pe: (pe.time, pe.seq)):
        if pe.time >= now:  # later steps of yesterday's cases (closing, rework) have not happened yet
            continue
        event = CaseEvent.model_validate(dict(pe.event))
        keys_.append(event.case_id)
        payloads.append(encode(event))
    return keys_, payloads


def _wait_ready(logs: list[Path], procs: list[subprocess.Popen], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for p in procs:
            if p.poll() is not None:
                raise RuntimeError(f"a worker exited with {p.returncode}; see {logs}")
        if all(log.exists() and "Worker]: Ready" in log.read_text(errors="replace") for log in logs):
            return
        time.sleep(0.2)
    raise TimeoutError(f"workers not ready, see {logs}")


def _print_row(row: dict) -> None:
    print(f"{row['t_s']:>6.0f} {row['worker_rss_mb']:>10.1f} {row['redis_used_mb']:>10.1f} "
          f"{row['redis_rss_mb']:>10.1f} {row['keys']:>9} {row['messages_sent']:>9} {row['readings_sent']:>11} "
          f"{row['case_events_sent']:>7} {row['lag']:>7}", file=sys.stderr, flush=True)


def main() -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--minutes", type=float, default=10.0)
    p.add_argument("--every", type=float, default=10.0, help="seconds between samples")
    p.add_argument("--readings-per-s", type=float, default=5000.0)
    p.add_argument("--cases-per-day", type=int, default=35_000)
    p.add_argument("--case-speed", type=float, default=1.0, help="× the steady daily pace of case steps")
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--partitions", type=int, default=4)
    p.add_argument("--seed", type=int, default=7)
    args = p.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="bench_load"))
    started_plan = time.monotonic()
    case_keys, case_events = plan_cases(args.cases_per_day, args.seed)
    case_rate = len(case_events) / 86_400 * args.case_speed
    print(f"planned {len(case_events):,} case steps of {args.cases_per_day:,} cases in "
          f"{time.monotonic() - started_plan:.0f} s; sending {case_rate:.2f}/s", file=sys.stderr, flush=True)
    bport, rport = free_port(), free_port()
    broker = start_broker("127.0.0.1", bport, tmp / "broker.log")
    redis_proc = start_redis("127.0.0.1", rport, tmp / "redis", tmp / "redis.log")
    workers: list[subprocess.Popen] = []
    try:
        address, redis_url = f"127.0.0.1:{bport}", f"redis://127.0.0.1:{rport}/0"
        s = Settings(kafka_broker=f"kafka://{address}", redis_url=redis_url, topic_prefix=f"L{uuid.uuid4().hex[:8]}",
                     partitions=args.partitions)
        group = f"L{uuid.uuid4().hex[:8]}"
        wait_for_broker(s, 30)
        wait_for_redis(s, 30)
        asyncio.run(ensure_topics(s))
        env = dict(os.environ, KAFKA_BROKER=s.kafka_broker, REDIS_URL=redis_url, PYTHONPATH=str(ROOT),
                   CITYOPS_TOPIC_PREFIX=s.topic_prefix, CITYOPS_WORKER_ID=group, CITYOPS_WORKER_WEB_PORT="0",
                   CITYOPS_PARTITIONS=str(args.partitions), CITYOPS_VAR=str(tmp / "var"), PYTHONUNBUFFERED="1")
        logs = [tmp / f"worker{i}.log" for i in range(args.workers)]
        for log in logs:
            with log.open("wb") as fh:
                workers.append(subprocess.Popen([sys.executable, "-m", "cityops", "worker", "--loglevel", "info"],
                                                cwd=tmp, env=env, stdout=fh, stderr=subprocess.STDOUT))
        _wait_ready(logs, workers)
        r = Redis.from_url(redis_url, decode_responses=True)
        sensors = list(load_sensors())
        feed = Feed(s, sensors, args.readings_per_s, case_events, case_keys, case_rate)
        samples: list[dict] = []
        print(f"{'t_s':>6} {'worker_MB':>10} {'redis_MB':>10} {'redisRSS':>10} {'keys':>9} {'messages':>9} "
              f"{'readings':>11} {'cases':>7} {'lag':>7}", file=sys.stderr, flush=True)

        def sample(t0: float) -> dict:
            mem = r.info("memory")
            row = {"t_s": round(time.monotonic() - t0, 1),
                   "worker_rss_mb": round(sum(rss_bytes(w.pid) for w in workers) / MB, 1),
                   "redis_used_mb": round(int(mem["used_memory"]) / MB, 2),
                   "redis_rss_mb": round(int(mem["used_memory_rss"]) / MB, 1),
                   "keys": r.dbsize(), "messages_sent": feed.messages, "readings_sent": feed.readings,
                   "case_events_sent": feed.cases_sent}
            return row

        async def run() -> None:
            seconds = args.minutes * 60
            t0 = time.monotonic()
            producer = asyncio.create_task(feed.produce(seconds))
            next_at = t0
            try:
                while True:
                    for w in workers:
                        if w.poll() is not None:
                            raise RuntimeError(f"a worker exited with {w.returncode}; see {logs}")
                    row = await asyncio.to_thread(sample, t0)
                    row["lag"] = await lag(s, group)
                    samples.append(row)
                    _print_row(row)
                    if producer.done():
                        await producer
                        break
                    next_at += args.every
                    await asyncio.sleep(max(0.0, next_at - time.monotonic()))
            finally:
                if not producer.done():
                    producer.cancel()

        asyncio.run(run())
        families: Counter[str] = Counter(key_family(k) for k in r.scan_iter(count=10_000))
    finally:
        for w in workers:
            w.terminate()
        for w in workers:
            try:
                w.wait(timeout=20)
            except subprocess.TimeoutExpired:
                w.kill()
                w.wait()
        for proc in (broker, redis_proc):
            proc.terminate()
            proc.wait()
    half = [row for row in samples if row["t_s"] >= samples[-1]["t_s"] / 2]
    slopes = {f: slope_mb_per_min([(row["t_s"], row[f] * MB) for row in half])
              for f in ("worker_rss_mb", "redis_used_mb", "redis_rss_mb")}
    duration = samples[-1]["t_s"] if samples else 0
    return {"benchmark": "load_run", "machine": f"{platform.machine()} {os.cpu_count()} cores",
            "python": platform.python_version(), "minutes": args.minutes, "workers": args.workers,
            "partitions": args.partitions, "cases_per_day": args.cases_per_day,
            "case_steps_per_s": round(case_rate, 2), "readings_per_s_target": args.readings_per_s,
            "readings_per_s_sent": round(feed.readings / max(duration, 1e-9)),
            "envelopes_per_tick": len(feed.envelopes(datetime.now(TZ), 0)),
            "messages_sent": feed.messages, "case_events_sent": feed.cases_sent, "readings_sent": feed.readings,
            "final_lag": samples[-1]["lag"] if samples else None,
            "max_lag": max((row["lag"] for row in samples), default=None),
            "slope_last_half_mb_per_min": slopes,
            "first": samples[0] if samples else None, "last": samples[-1] if samples else None,
            "redis_keys_by_family": dict(families.most_common(20)), "samples": samples}


if __name__ == "__main__":
    print(json.dumps(main(), ensure_ascii=False))
