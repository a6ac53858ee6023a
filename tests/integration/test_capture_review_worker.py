"""AI 抓拍 → 值班员确认 → 派遣 through a real broker, Redis and worker process: a street-vending capture waits in the
review queue, two 确认立案 (a double click) open ONE dispatched case, a second capture's 误报 is counted once per
camera and type, a command on a capture that no longer waits is dead-lettered with why, and a trusted type
(illegal parking, cities/xiamen/capture_review.yml) is dispatched without review. Pure rules:
tests/unit/test_capture_review.py."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import orjson

from cityops import keys, read
from cityops.bus import Publisher, ensure_topics
from cityops.command_signing import load_keys, sign
from cityops.schemas import OperatorCommand, decode, encode
from streams.detection_projection import capture_review_s
from tests.support.workers import wait_until, worker


def capture(event_id: str, ai_type: str, track: str, at: datetime, box: list[float]) -> bytes:
    return orjson.dumps({"event_id": event_id, "camera_id": "CAM-0001", "ai_type": ai_type, "confidence": 0.88,
                         "box": box, "frame_width": 640, "frame_height": 360, "track_id": track,
                         "first_seen": (at - timedelta(seconds=95)).isoformat(), "last_seen": at.isoformat(),
                         "dwell_s": 95.0, "evidence_ref": f"CAM-0001/{event_id}.jpg", "detector": "test"})


def review(settings, command_id: str, action: str, target: str) -> bytes:  # noqa: ANN001
    cmd = decode(OperatorCommand, orjson.dumps({
        "command_id": command_id, "action": action, "target_kind": "capture", "target_id": target,
        "user": "李值班(duty)", "role": "duty", "issued_at": datetime.now(settings.tz).isoformat()}))
    return encode(sign(cmd, load_keys(settings)))


def test_captures_wait_for_review_then_one_is_dispatched_and_one_is_a_false_alarm(stack_env, redis_client, tmp_path):
    s = stack_env
    asyncio.run(ensure_topics(s))
    seen = datetime.now(s.tz).replace(microsecond=0) - timedelta(seconds=60)

    async def send(items: list[tuple[str, str, bytes]]) -> None:
        async with Publisher(s) as pub:
            for topic, key, value in items:
                await pub.send(topic, key, value)

    def queue() -> list[str]:
        return [row["event_id"] for row in read.review_queue(redis_client, datetime.now(s.tz), capture_review_s(),
                                                             s.tz).rows]

    with worker(tmp_path / "worker.log"):
        asyncio.run(send([(s.topics.detections, "CAM-0001", capture("rv-1", "street_vending", "1", seen,
                                                                   [10, 10, 60, 60])),
                          (s.topics.detections, "CAM-0001", capture("rv-2", "street_vending", "2", seen,
                                                                   [300, 100, 380, 200])),
                          (s.topics.detections, "CAM-0001", capture("rv-3", "illegal_parking", "3", seen,
                                                                   [100, 200, 200, 300]))]))
        wait_until(lambda: queue() == ["rv-1", "rv-2"] and read.case(redis_client, "AI-rv-3"), 60,
                   "captures did not reach the queue / the trusted one did not open its case")
        assert not read.case(redis_client, "AI-rv-1"), "no case before it is confirmed"
        asyncio.run(send([(s.topics.commands, "rv-1", review(s, "rv-c1", "confirm", "rv-1")),
                          (s.topics.commands, "rv-1", review(s, "rv-c2", "confirm", "rv-1")),  # a double click
                          (s.topics.commands, "rv-2", review(s, "rv-c3", "false_alarm", "rv-2")),
                          (s.topics.commands, "rv-3", review(s, "rv-c4", "confirm", "rv-3"))]))
        wait_until(lambda: read.case(redis_client, "AI-rv-1").get("state") == "dispatched" and queue() == []
                   and len([d for d in read.recent_dead_letters(redis_client) if "capture rv-" in d["reason"]]) == 2,
                   60, "the reviews were not applied")

    case = read.case(redis_client, "AI-rv-1")
    assert case["source"] == "ai_video" and case["evidence_ref"] == "CAM-0001/rv-1.jpg"
    assert len(read.case_timeline(redis_client, "AI-rv-1")) == 3, "report, register, dispatch: one case"
    reasons = sorted(d["reason"] for d in read.recent_dead_letters(redis_client) if "capture rv-" in d["reason"])
    assert "already confirmed" in reasons[0] and "rv-1" in reasons[0]
    assert "dispatched without review" in reasons[1] and "rv-3" in reasons[1]
    day = datetime.now(s.tz).strftime("%Y%m%d")
    stats = read.review_stats(redis_client, [day])
    assert stats.totals == {"queued": 2, "auto": 1, "reviewed": 2, "confirmed": 1, "false_alarm": 1}
    assert stats.by_camera["CAM-0001"] == {"reviewed": 2, "confirmed": 1, "false_alarm": 1}
    assert stats.by_type["street_vending"]["false_alarm"] == 1
    assert read.capture_review(redis_client, "rv-2")["status"] == "false_alarm"
    lags = read.dispatch_lags(redis_client, [day])
    # rv-3 dispatched by the platform at its own time (0 s), rv-1 when the officer confirmed it
    assert len(lags) == 2 and sorted(lags)[0] == 0.0 and 55 <= sorted(lags)[1] <= 600, lags
    audit = [a for a in read.audit_trail(redis_client, 10) if a.get("target_kind") == "capture"]
    assert {a["action"] for a in audit} == {"confirm", "false_alarm"} and len(audit) == 2
    assert redis_client.type(keys.capture_review("rv-1")) == "hash"
