"""Broker → Faust → Redis for real: cases, sensors, captures and commands through a worker process,
with duplicates ignored and bad input dead-lettered with its reason."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime, timedelta

import orjson
import pandas as pd
import pytest

from cityops import keys, read
from cityops.bus import Publisher, ensure_topics
from cityops.command_signing import load_keys, sign
from cityops.schemas import DeadLetter, OperatorCommand, decode, encode
from fixtures.replay import la311
from tests.support.stack import previous_working_day
from tests.support.topics import consume
from tests.support.workers import REPO_ROOT, SHARED, subprocess_env, wait_until, worker

LA2020 = SHARED / "la-311" / "la311_2020_requests_seed.csv"


def signed(settings, body: dict) -> bytes:  # noqa: ANN001
    """A command as the console sends it, signed with the key the worker reads (``<var>/command-keys``)."""
    return encode(sign(decode(OperatorCommand, orjson.dumps(body)), load_keys(settings)))


def now_iso(settings, minutes: int = 0) -> str:
    return (datetime.now(settings.tz) - timedelta(minutes=minutes)).replace(microsecond=0).isoformat()


@pytest.mark.skipif(not LA2020.is_file(), reason="shared datasets not present")
def test_events_flow_through_faust_into_redis(stack_env, redis_client, tmp_path):
    s = stack_env
    asyncio.run(ensure_topics(s))
    t = now_iso(s)
    good_case = [
        {"event_id": "P1-report", "case_id": "P1", "action": "report", "event_time": t, "source": "citizen_app",
         "category_code": "E0102", "lon": 118.0894, "lat": 24.4798, "address": "<script>alert(1)</script>"},
        {"event_id": "P1-register", "case_id": "P1", "action": "register", "event_time": t},
        {"event_id": "P1-dispatch", "case_id": "P1", "action": "dispatch", "event_time": t,
         "department_id": "DSAN-350203"},
    ]
    bad = [b"\xff\xfe not json", orjson.dumps({"event_id": "P2-close", "case_id": "P2", "action": "close",
                                               "event_time": t}),
           orjson.dumps(good_case[0] | {"event_id": "P3", "case_id": "P3", "lon": "118.1"})]
    envelope = {"envelope_id": "env-1", "gateway_id": "GW-T", "sent_at": t, "readings": [
        # 68.5: under the night-maximum rule's 70 (55 + 15), so no case opens whatever the time of day
        {"sensor_id": "NS-0001-LAEQ", "kind": "noise", "value": 68.5, "unit": "dB(A)", "time": t},
        {"sensor_id": "NS-0002-LAEQ", "kind": "noise", "value": float("nan") if False else 500.0, "unit": "dB(A)",
         "time": t}]}
    capture = {"event_id": "cap-1", "camera_id": "CAM-0001", "ai_type": "illegal_parking", "confidence": 0.9,
               "box": [1, 2, 30, 40], "frame_width": 640, "frame_height": 360, "track_id": "7", "first_seen": t,
               "last_seen": t, "dwell_s": 130.0, "evidence_ref": "CAM-0001/x.jpg", "detector": "test"}
    stray_capture = capture | {"event_id": "cap-2", "camera_id": "CAM-NOPE", "track_id": "8"}  # not this city's
    command = {"command_id": "cmd-1", "action": "acknowledge", "target_kind": "case", "target_id": "P1",
               "user": "值班员", "role": "duty", "issued_at": t}

    async def publish() -> None:
        async with Publisher(s) as pub:
            for e in good_case + good_case:  # every event twice: the second copy must change nothing
                await pub.send(s.topics.cases, e["case_id"], orjson.dumps(e))
            for b in bad:
                await pub.send(s.topics.cases, "bad", b)
            await pub.send(s.topics.sensors, "GW-T", orjson.dumps(envelope))
            await pub.send(s.topics.detections, "CAM-0001", orjson.dumps(capture))
            await pub.send(s.topics.detections, "CAM-NOPE", orjson.dumps(stray_capture))

    async def publish_command() -> None:
        async with Publisher(s) as pub:
            await pub.send(s.topics.commands, "P1", signed(s, command))

    with worker(tmp_path / "worker.log"):
        asyncio.run(publish())
        city_key = keys.kpi_daily(keys.day_bucket(datetime.now(s.tz)), "city", "350200")
        wait_until(lambda: redis_client.hget(city_key, "dispatched") == "2"
                   and redis_client.exists(keys.sensor("NS-0001-LAEQ")) and redis_client.exists(keys.captures()),
                   60, "events did not reach Redis")
        asyncio.run(publish_command())  # the case exists now: a command for it applies
        wait_until(lambda: redis_client.hget(keys.case("P1"), "acknowledged_by") == "值班员", 30, "command not applied")
        wait_until(lambda: len(read.recent_dead_letters(redis_client)) >= 5, 30, "dead letters not counted")
        wait_until(lambda: read.workers_alive(redis_client).alive == 1, 15, "the worker does not beat")

    counters = read.day_counters(redis_client, datetime.now(s.tz), "city", "350200")
    # P1, plus the case the accepted capture opened
    assert counters["received"] == 2 and counters["registered"] == 2 and counters["dispatched"] == 2
    assert counters["captures"] == 1
    ai_case = read.case(redis_client, "AI-cap-1")
    assert ai_case["source"] == "ai_video" and ai_case["evidence_ref"] == "CAM-0001/x.jpg"
    assert ai_case["category"] == "E0505" and ai_case["department"] == "CITY-TRAFFIC"
    case = read.case(redis_client, "P1")
    assert case["state"] == "dispatched" and case["district"] == "350203" and case["department"] == "DSAN-350203"
    assert case["address"] == "<script>alert(1)</script>"  # stored as text
    assert read.latest_sensors(redis_client, 0)[0].value == 68.5
    reasons = [d["reason"] for d in read.recent_dead_letters(redis_client)]
    assert any("not valid JSON" in r for r in reasons)
    assert any("close for a case that was never reported" in r for r in reasons)
    assert any("lon: Input should be a valid number" in r for r in reasons)
    assert any("reading 1: noise value 500.0 is outside 0..160" in r for r in reasons)
    assert any("unknown camera 'CAM-NOPE'" in r for r in reasons), "a capture from a camera the city lacks"
    # the dead-letter topic carries the raw payload and the reason
    letters = [decode(DeadLetter, v) for _, v in asyncio.run(consume(s, s.topics.deadletter, 5))]
    assert {dl.stage for dl in letters} == {"validate", "transition", "reading"}
    assert any(dl.raw_payload() == bad[0] for dl in letters)
    # the snapshot command reads the same figures through the read API
    out = subprocess.run([sys.executable, "-m", "cityops", "snapshot", "--json"], cwd=REPO_ROOT,
                         env=subprocess_env(), capture_output=True, text=True, timeout=120, check=True)
    snap = json.loads(out.stdout)
    assert snap["kpis"]["counters"]["received"] == 2 and snap["kpis"]["counters"]["dispatched"] == 2
    assert "350203" in [d["id"] for d in snap["districts"]]
    assert {d["id"] for d in snap["departments"]} == {"DSAN-350203", "CITY-TRAFFIC"}
    assert "市容环境/暴露垃圾" in [c["name"] for c in snap["categories"]]
    district = json.loads(subprocess.run([sys.executable, "-m", "cityops", "snapshot", "--json", "--district",
                                          "350203"], cwd=REPO_ROOT, env=subprocess_env(), capture_output=True,
                                         text=True, timeout=120, check=True).stdout)
    assert district["kpis"]["counters"]["received"] >= 1 and district["streets"]


@pytest.mark.skipif(not LA2020.is_file(), reason="shared datasets not present")
def test_la311_replay_through_faust_matches_the_csv_and_is_idempotent(stack_env, redis_client, tmp_path):
    """Registered and closed per department equal an independent pandas count; a second replay changes nothing."""
    s = stack_env
    asyncio.run(ensure_topics(s))
    limit = 600
    df = pd.read_csv(LA2020, nrows=limit)
    owners = dict(pd.read_csv("fixtures/data/la311_owner_map.csv")[["owner", "department_id"]].values)
    df["department"] = df["owner"].map(owners)
    expected_registered = df.groupby("department").size().to_dict()
    expected_closed = df[df["status"] == "Closed"].groupby("department").size().to_dict()

    def totals() -> tuple[Counter, Counter]:
        reg, closed = Counter(), Counter()
        for key in redis_client.scan_iter(match=keys.kpi_daily("*", "department", "*"), count=1000):
            dept = key.rsplit(":", 1)[1]
            h = redis_client.hgetall(key)
            reg[dept] += int(h.get("registered", 0))
            closed[dept] += int(h.get("closed", 0))
        return reg, closed

    with worker(tmp_path / "worker.log"):
        report = asyncio.run(la311.replay(LA2020, s, speed=None, limit=limit))
        assert report.rows_rejected == 0
        sent = report.messages
        wait_until(lambda: totals() == (Counter(expected_registered), Counter(expected_closed)), 120,
                   "read model does not match the CSV")
        snapshot = {k: redis_client.hgetall(k) for k in redis_client.scan_iter(match="co:kpi:*")}
        seen_before = len(list(redis_client.scan_iter(match="co:seen:*")))
        sent += asyncio.run(la311.replay(LA2020, s, speed=None, limit=limit)).messages
        wait_until(lambda: _committed(s) == sent, 120, "second replay not consumed")
    assert {k: redis_client.hgetall(k) for k in redis_client.scan_iter(match="co:kpi:*")} == snapshot
    assert len(list(redis_client.scan_iter(match="co:seen:*"))) == seen_before


def _committed(settings) -> int:
    """Messages of the cases topic the worker's consumer group has committed, over all partitions.

    (tansu's ListOffsets does not report end offsets usefully, so tests count what they sent.)
    """
    from aiokafka import AIOKafkaConsumer, TopicPartition

    async def total() -> int:
        consumer = AIOKafkaConsumer(bootstrap_servers=settings.bootstrap_servers, group_id=settings.worker_id,
                                    enable_auto_commit=False)
        await consumer.start()
        try:
            parts = [TopicPartition(settings.topics.cases, p) for p in range(settings.partitions)]
            return sum([(await consumer.committed(tp)) or 0 for tp in parts])
        finally:
            await consumer.stop()

    return asyncio.run(total())


def test_sla_timer_marks_overdue_without_any_new_event(stack_env, redis_client, tmp_path):
    s = stack_env
    asyncio.run(ensure_topics(s))
    day = previous_working_day(datetime.now(s.tz).date())
    reported = datetime(day.year, day.month, day.day, 9, 0, tzinfo=s.tz)  # register limit 30 min → 09:30 that day
    report = {"event_id": "O1-report", "case_id": "O1", "action": "report", "event_time": reported.isoformat(),
              "source": "hotline_12345", "category_code": "E0102", "lon": 118.0894, "lat": 24.4798}
    register = {"event_id": "O1-register", "case_id": "O1", "action": "register",
                "event_time": datetime.now(s.tz).isoformat()}

    async def send(*events: dict) -> None:
        async with Publisher(s) as pub:
            for e in events:
                await pub.send(s.topics.cases, e["case_id"], orjson.dumps(e))

    city_overdue = keys.overdue("city", "350200")
    with worker(tmp_path / "worker.log"):
        asyncio.run(send(report))
        # an old case alone: judged on the wall clock once nothing more came for QUIET_S (cityops/stream_clock.py)
        wait_until(lambda: redis_client.hget(keys.case("O1"), "overdue") == "1", 45, "case never marked overdue")
        assert redis_client.zscore(city_overdue, "O1") == 1.0
        # late in 立案: the command centre's delay, not the district's (docs/metrics.md, "Whose delay")
        assert redis_client.zscore(keys.overdue("centre", "350200"), "O1") == 1.0
        assert redis_client.zscore(keys.overdue("district", "350203"), "O1") is None
        alerts = [orjson.loads(f["json"]) for _, f in redis_client.xrange(keys.alerts())]
        assert [(a["type"], a["case_id"], a["stage"]) for a in alerts] == [("sla_overdue", "O1", "register")]
        assert redis_client.zscore(keys.sla_clock(), "O1") is None
        asyncio.run(send(register))  # registered now: the dispatch clock starts fresh
        wait_until(lambda: redis_client.hget(keys.case("O1"), "state") == "registered", 30)
        assert redis_client.zscore(city_overdue, "O1") is None
        assert redis_client.hget(keys.case("O1"), "overdue") == "0"
        assert redis_client.zscore(keys.sla_clock(), "O1") is not None
        assert redis_client.geopos(keys.open_cases(), "O1")[0] is not None
        # the hotspot timer puts the open case into the big screen's snapshot within a tick or two
        wait_until(lambda: read.open_case_lonlat(redis_client).shape == (1, 2)
                   and redis_client.exists(keys.open_cases_snapshot()), 15, "no hotspot snapshot")


def test_sensor_exceedance_opens_a_case_and_silence_raises_offline(stack_env, redis_client, tmp_path):
    from fixtures.xiamen import load_sensors
    from streams.agents.sensor_timer import SILENT_INTERVALS

    s = stack_env
    asyncio.run(ensure_topics(s))
    sensor = next(x for x in load_sensors() if x.site_kind == "construction" and x.kind == "noise")
    start = datetime.now(s.tz).replace(second=0, microsecond=0) - timedelta(minutes=20)
    level = 80.0  # above the limit by day (70) and at night (55)

    async def send() -> None:
        async with Publisher(s) as pub:
            for minute in range(10):
                t = (start + timedelta(minutes=minute)).isoformat()
                env = {"envelope_id": f"e{minute}", "gateway_id": sensor.gateway_id, "sent_at": t,
                       "readings": [{"sensor_id": sensor.id, "kind": "noise", "value": level, "unit": "dB(A)",
                                     "time": t}]}
                await pub.send(s.topics.sensors, sensor.gateway_id, orjson.dumps(env))

    case_id = f"IOT-{sensor.id}-1"
    with worker(tmp_path / "worker.log"):
        asyncio.run(send())
        wait_until(lambda: redis_client.hget(keys.case(case_id), "state") == "dispatched", 60, "no IoT case")
        case = read.case(redis_client, case_id)
        assert case["source"] == "iot_sensor" and case["category"] == "E0303"
        alert = redis_client.hgetall(keys.alert(f"sensor:{sensor.id}:1"))
        assert alert["state"] == "active" and alert["case_id"] == case_id
        # a duty officer acknowledges the alert through Kafka; the change shows in Redis and the audit trail
        ack = {"command_id": "ack-1", "action": "acknowledge", "target_kind": "alert",
               "target_id": f"sensor:{sensor.id}:1", "user": "值班员李四", "role": "duty",
               "issued_at": datetime.now(s.tz).isoformat()}

        async def acknowledge() -> None:
            async with Publisher(s) as pub:
                await pub.send(s.topics.commands, ack["target_id"], signed(s, ack))

        asyncio.run(acknowledge())
        wait_until(lambda: redis_client.hget(keys.alert(f"sensor:{sensor.id}:1"), "state") == "acknowledged", 30)
        audit = [orjson.loads(f["json"]) for _, f in redis_client.xrange(keys.audit())]
        assert audit[-1]["user"] == "值班员李四" and audit[-1]["before"]["state"] == "active"
        assert audit[-1]["role"] == "duty"
        assert datetime.fromisoformat(audit[-1]["received_at"]) >= datetime.fromisoformat(audit[-1]["at"])
        # make the sensor look silent for 3 intervals: the offline timer raises an alert
        redis_client.zadd(keys.sensors_seen(), {sensor.id: time.time() - SILENT_INTERVALS * sensor.interval_s - 5})
        wait_until(lambda: redis_client.hget(keys.sensor(sensor.id), "offline") == "1", 30, "no offline alert")
    feed = [a.type for a in read.alert_feed(redis_client)]
    assert "noise_exceedance" in feed and "device_offline" in feed
    q = redis_client.hgetall(keys.sensor_window("h", sensor.id, keys.day_bucket(start)))
    assert sum(int(v) for k, v in q.items() if k.endswith(":n")) == 10
