"""A worker that stalls while its sensors keep sending: the offline timer judges silence on what the sensors
topic holds, not on what the worker happened to read.

A real broker, Redis and worker; the silence window shortened to 6 s (three 2-second intervals, in a copy of the
city folder). The worker is stopped (SIGSTOP: a process that gets no turn) for longer than the window while three
sensors go on sending and a case backlog is published: resumed, the worker reads the case backlog and its timers
tick before the sensor envelopes are read (the demo's first start), and no sensor whose envelopes wait unread may be
called offline (today's wall-clock judgement calls them all offline). A sensor that stopped during the stall, and one
that stops once the worker has caught up, are still reported offline, the latter within its window, a timer tick
and a margin.
"""

from __future__ import annotations

import asyncio
import csv
import os
import shutil
import signal
import threading
import time
from datetime import datetime, timedelta

import orjson

from cityops import keys
from cityops.bus import Publisher, ensure_topics
from cityops.settings import get_settings
from tests.support.workers import wait_until, worker

INTERVAL_S = 2  # silence window: 3 × 2 s
CASE_BACKLOG = 3_000
STALL_S = 16  # well over the 6 s window


def _short_intervals(folder, ids: set[str]) -> None:  # noqa: ANN001
    path = folder / "sensors.csv"
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    for row in rows:
        if row["id"] in ids:
            row["interval_s"] = str(INTERVAL_S)
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


async def _publish_case_backlog(s, n: int) -> None:  # noqa: ANN001
    """``n`` case reports of ten hours ago (a history the worker reads at full speed)."""
    start = datetime.now(s.tz) - timedelta(hours=10)
    async with Publisher(s) as pub:
        for i in range(n):
            e = {"event_id": f"B{i}-report", "case_id": f"B{i}", "action": "report", "source": "grid_patrol",
                 "event_time": (start + timedelta(seconds=i)).isoformat(), "category_code": "E0102",
                 "lon": 118.0894, "lat": 24.4798}
            await pub.send(s.topics.cases, e["case_id"], orjson.dumps(e), wait=True)


def _offline_alerts(redis_client, sensor_id: str) -> list[dict]:  # noqa: ANN001
    feed = [orjson.loads(f["json"]) for _, f in redis_client.xrange(keys.alerts())]
    return [a for a in feed if a.get("type") == "device_offline" and a.get("sensor_id") == sensor_id]


def test_a_stalled_worker_raises_no_offline_for_sensors_that_kept_sending(stack_env, redis_client, tmp_path,
                                                                         monkeypatch):
    folder = tmp_path / "city"
    shutil.copytree(stack_env.city_dir, folder)
    with (folder / "sensors.csv").open(encoding="utf-8") as f:
        noise = [r for r in csv.DictReader(f) if r["kind"] == "noise"][:3]
    early, steady, late = ({"id": r["id"], "gw": r["gateway_id"]} for r in noise)
    _short_intervals(folder, {r["id"] for r in noise})
    monkeypatch.setenv("CITYOPS_CITY_DIR", str(folder))
    get_settings.cache_clear()
    s = get_settings()
    asyncio.run(ensure_topics(s))
    sending = {early["id"], steady["id"], late["id"]}
    last_sent: dict[str, float] = {}
    stop = threading.Event()

    async def send_loop() -> None:
        n = 0
        async with Publisher(s) as pub:
            while not stop.is_set():
                for sensor in (early, steady, late):
                    if sensor["id"] not in sending:
                        continue
                    t = datetime.now(s.tz).isoformat()
                    env = {"envelope_id": f"{sensor['id']}-{n}", "gateway_id": sensor["gw"], "sent_at": t,
                           "readings": [{"sensor_id": sensor["id"], "kind": "noise", "value": 50.0,
                                         "unit": "dB(A)", "time": t}]}
                    await pub.send(s.topics.sensors, sensor["gw"], orjson.dumps(env))
                    last_sent[sensor["id"]] = time.time()
                n += 1
                await asyncio.sleep(1.0)

    sender = threading.Thread(target=lambda: asyncio.run(send_loop()), daemon=True)
    with worker(tmp_path / "worker.log") as proc:
        sender.start()
        try:
            wait_until(lambda: redis_client.zcard(keys.sensors_seen()) == 3, 30, "readings not applied")
            os.kill(proc.pid, signal.SIGSTOP)
            try:
                began = time.monotonic()
                asyncio.run(_publish_case_backlog(s, CASE_BACKLOG))  # what the worker reads first when resumed
                time.sleep(max(0.0, STALL_S / 2 - (time.monotonic() - began)))
                sending.discard(early["id"])  # silent from the middle of the stall on
                time.sleep(STALL_S / 2)
            finally:
                os.kill(proc.pid, signal.SIGCONT)
            # the resumed worker reads what waited; the sensor that stopped during the stall is reported
            wait_until(lambda: _offline_alerts(redis_client, early["id"]), 30,
                       "the sensor silent since the stall was never reported offline", proc)
            assert not _offline_alerts(redis_client, steady["id"]), "a sensor that kept sending was called offline"
            assert not _offline_alerts(redis_client, late["id"]), "a sensor that kept sending was called offline"
            # silence under live load (the topic read up to now): reported within its window, a tick and a margin
            resumed = time.time()
            wait_until(lambda: (redis_client.zscore(keys.sensors_seen(), steady["id"]) or 0) > resumed, 30,
                       "the sensors topic was not read up to now", proc)
            sending.discard(late["id"])
            time.sleep(1.5)
            stopped_at = last_sent[late["id"]]
            wait_until(lambda: _offline_alerts(redis_client, late["id"]), 3 * INTERVAL_S + 10 + 8,
                       "a sensor silent under live load was not reported offline", proc)
            reported = time.time()
            assert reported - stopped_at <= 3 * INTERVAL_S + 10 + 8
            assert not _offline_alerts(redis_client, steady["id"]), "a sensor that kept sending was called offline"
        finally:
            stop.set()
            sender.join(10)
    alert = _offline_alerts(redis_client, early["id"])[0]
    assert float(alert["silent_since"]) <= last_sent[early["id"]] + 1  # since its last envelope, not its reading
