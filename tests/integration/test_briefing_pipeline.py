"""The briefing end to end: events published through the broker, applied by a real Faust worker into
Redis, then the briefing command builds the day's files from that read model. Its figures must equal
what was sent; the event's HTML must come out as text."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from datetime import datetime, timedelta

import orjson
import pypdfium2

from cityops import read
from cityops.bus import Publisher, ensure_topics
from cityops.workcalendar import get_calendar
from dashboard.briefing.files import files_for, list_briefings
from fixtures.xiamen import load_city
from tests.support.workers import REPO_ROOT, subprocess_env, wait_until, worker

XSS = "<script>alert('briefing')</script>"


def test_briefing_from_a_real_pipeline(stack_env, redis_client, tmp_path, monkeypatch):
    s = stack_env
    monkeypatch.setenv("CITYOPS_RULE_SUSTAIN_S", "0")
    asyncio.run(ensure_topics(s))
    cal = get_calendar()
    day = datetime.now(s.tz).date() - timedelta(days=1)
    while not cal.is_working_day(day):  # a working day, so the 30-minute register limit runs out that day
        day -= timedelta(days=1)

    def at(hour: int, minute: int = 0) -> str:
        return datetime(day.year, day.month, day.day, hour, minute, tzinfo=s.tz).isoformat()

    siming, huli = (118.0894, 24.4798), (118.1200, 24.5100)
    events = [
        # B1, Siming: reported, registered, dispatched, handled, verified, closed within the day
        {"event_id": "B1-report", "case_id": "B1", "action": "report", "event_time": at(9), "source": "grid_patrol",
         "category_code": "E0102", "lon": siming[0], "lat": siming[1]},
        {"event_id": "B1-register", "case_id": "B1", "action": "register", "event_time": at(9, 5)},
        {"event_id": "B1-dispatch", "case_id": "B1", "action": "dispatch", "event_time": at(9, 10),
         "department_id": "DSAN-350203"},
        {"event_id": "B1-handle", "case_id": "B1", "action": "handle", "event_time": at(9, 40)},
        {"event_id": "B1-verify", "case_id": "B1", "action": "verify", "event_time": at(9, 50)},
        {"event_id": "B1-close", "case_id": "B1", "action": "close", "event_time": at(9, 55)},
        # B2, Huli: reported and never registered: overdue once its 30 working minutes ran out
        {"event_id": "B2-report", "case_id": "B2", "action": "report", "event_time": at(10), "source": "hotline_12345",
         "category_code": "E0102", "lon": huli[0], "lat": huli[1], "address": XSS, "description": "[x](javascript:1)"},
        # B3, Siming, reported only
        {"event_id": "B3-report", "case_id": "B3", "action": "report", "event_time": at(15), "source": "citizen_app",
         "category_code": "E0102", "lon": siming[0], "lat": siming[1]},
    ]
    envelope = {"envelope_id": "benv-1", "gateway_id": "GW-350212-02", "sent_at": at(11), "readings": [
        {"sensor_id": "SM-0001", "kind": "smoke", "value": 1, "unit": "state", "time": at(11)}]}
    capture = {"event_id": "bcap-1", "camera_id": "CAM-0001", "ai_type": "illegal_parking", "confidence": 0.9,
               "box": [1, 2, 30, 40], "frame_width": 640, "frame_height": 360, "track_id": "7", "first_seen": at(12),
               "last_seen": at(12, 2), "dwell_s": 130.0, "evidence_ref": "CAM-0001/b.jpg", "detector": "test"}

    async def publish() -> None:
        async with Publisher(s) as pub:
            for e in events:
                await pub.send(s.topics.cases, e["case_id"], orjson.dumps(e))
            await pub.send(s.topics.sensors, envelope["gateway_id"], orjson.dumps(envelope))
            await pub.send(s.topics.detections, "CAM-0001", orjson.dumps(capture))

    when = datetime(day.year, day.month, day.day, 12, tzinfo=s.tz)
    with worker(tmp_path / "worker.log"):
        asyncio.run(publish())

        def applied() -> bool:
            c = read.day_counters(redis_client, when, "city", load_city().code)
            overdue = {row["case_id"] for row in read.overdue_cases(redis_client, "city", load_city().code)}
            # B1..B3, the smoke episode's case and the capture's case
            return c.get("received") == 5 and c.get("closed") == 1 and c.get("captures") == 1 and "B2" in overdue
        wait_until(applied, 60, "events did not reach the read model")

    out = tmp_path / "briefings"
    proc = subprocess.run([sys.executable, "-m", "cityops", "briefing", "--date", day.isoformat(), "--out", str(out)],
                          cwd=REPO_ROOT, env=subprocess_env(), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    files = files_for(day, "zh", out)
    assert files.complete() and list_briefings(out)[0] == files

    data = json.loads(files.json.read_text())
    totals = {key: value for key, _label, value in data["totals"]}
    assert totals["received"] == 5 and totals["closed"] == 1 and totals["captures"] == 1
    assert totals["iot_cases"] == 1 and totals["registered"] >= 3  # B1 + the IoT and AI cases, registered at once
    overdue_ids = [o["case_id"] for o in data["overdue"]]
    assert "B2" in overdue_ids and "B1" not in overdue_ids
    b2 = next(o for o in data["overdue"] if o["case_id"] == "B2")
    assert b2["district"] == "湖里区" and XSS in b2["text"]
    assert {d["name"] for d in data["districts"]} >= {"思明区", "湖里区"}
    siming_row = next(d for d in data["districts"] if d["name"] == "思明区")
    assert siming_row["received"] == 2 and siming_row["closed"] == 1
    # every case is located: B1 and B3 share a Siming grid, the top hotspot
    assert sum(h["received"] for h in data["hotspots"]) == 5
    assert data["hotspots"][0]["received"] == 2 and data["hotspots"][0]["area"].startswith("思明区")
    assert data["exceedances_by_kind"] == [["烟感", 1]]
    assert data["captures_total"] == 1 and data["captures_by_type"] == [["机动车乱停放", 1]]
    assert sum(r for r, _ in data["hourly"]) == 5

    md = files.md.read_text()
    assert "<script" not in md and "&lt;script&gt;" in md and "](javascript" not in md
    doc = pypdfium2.PdfDocument(str(files.pdf))
    text = "".join(doc[i].get_textpage().get_text_range() for i in range(len(doc)))
    assert "湖里区" in text and "每日简报" in text and XSS in text.replace("\r", "").replace("\n", "")
