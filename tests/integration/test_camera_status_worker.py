"""Camera health through a real broker and worker into Redis, read back as the 摄像头 page reads it.

Checked: a camera's newest status is kept and an older one arriving later is ignored; a status of a camera the
city data does not list, and a message that is no JSON, are dead-lettered with their reasons; the page's reads
show the state, go offline once the status is three send intervals old, and count only today's captures.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import orjson

from cityops import keys, read
from cityops.bus import Publisher, ensure_topics
from cityops.schemas import CameraStatus, Detection, decode
from streams.detection_projection import DetectionContext, project_detection
from tests.support.console_seed import Applier
from tests.support.workers import wait_until, worker

CAM = "CAM-0001"


def _status(event_id: str, at: datetime, camera: str = CAM, **extra: object) -> bytes:
    return orjson.dumps({"event_id": event_id, "camera_id": camera, "at": at.isoformat(), "state": "ok",
                         "detector": "coco/opencv", "fps": 4.5, "frames_read": 10, "frames_processed": 9,
                         "captures": 0, "reconnects": 0, "latest_frame_ref": f"{camera}/latest.jpg", **extra})


def _stored(r) -> CameraStatus | None:  # noqa: ANN001
    raw = r.hget(keys.camera_status(CAM), "json")
    return decode(CameraStatus, raw) if raw else None


def _letters(r) -> dict[str, str]:  # noqa: ANN001
    return {str(d.get("event_id")): d["reason"] for d in read.recent_dead_letters(r, 50)}


def test_worker_keeps_each_cameras_newest_status_and_dead_letters_bad_ones(stack_env, redis_client, tmp_path):
    s, r = stack_env, redis_client
    asyncio.run(ensure_topics(s))
    now = datetime.now(s.tz).replace(microsecond=0)
    t1, t2 = now - timedelta(seconds=4), now - timedelta(seconds=2)

    async def send(*items: tuple[str, bytes]) -> None:
        async with Publisher(s) as pub:
            for key, payload in items:
                await pub.send(s.topics.camera_status, key, payload)

    with worker(tmp_path / "worker.log"):
        asyncio.run(send((CAM, _status("st-1", t1)), (CAM, _status("st-2", t2, reconnects=3, error="超时"))))
        wait_until(lambda: (st := _stored(r)) is not None and st.event_id == "st-2", 60, "newest status not stored")
        # older than the stored one, then (same partition, so after it) an unknown camera and a broken message
        asyncio.run(send((CAM, _status("st-old", t1 + timedelta(seconds=1), reconnects=1)),
                         (CAM, _status("st-unknown", t2, camera="CAM-NOPE")), (CAM, b"{not json")))
        wait_until(lambda: len(read.recent_dead_letters(r, 50)) >= 2, 60, "bad statuses not dead-lettered")
    stored = _stored(r)
    assert stored is not None and stored.event_id == "st-2" and stored.reconnects == 3 and stored.error == "超时"
    assert 0 < r.ttl(keys.camera_status(CAM)) <= keys.CAMERA_STATUS_RETENTION_S
    letters = _letters(r)
    assert letters["st-unknown"].startswith("camera_id: unknown camera 'CAM-NOPE'"), letters
    assert any("not valid JSON" in reason for reason in letters.values()), letters

    health = read.camera_health(r, [CAM, "CAM-0002"], now, interval_s=5.0)
    assert health[CAM].state == "ok" and health[CAM].status.fps == 4.5
    assert health["CAM-0002"].state == "unknown"
    assert read.camera_health(r, [CAM], t2 + timedelta(seconds=16), interval_s=5.0)[CAM].state == "offline"


def test_todays_captures_per_camera(redis_client, stack_env):
    """Captures written by the detection agent's projection: one seen yesterday (added today) is not today's."""
    from cityops.catalogue import get_catalogue
    from cityops.city_data import get_city_data
    from streams import runtime

    r, tz = redis_client, stack_env.tz
    cameras = {c.id: c for c in get_city_data().cameras}
    ctx = DetectionContext(cameras, runtime.city(), get_catalogue(), tz)
    now = datetime.now(tz)
    applier = Applier(r)
    for i, (cam, seen) in enumerate([(CAM, now - timedelta(seconds=3)), (CAM, now - timedelta(seconds=1)),
                                     ("CAM-0002", now - timedelta(seconds=2)), (CAM, now - timedelta(days=1))]):
        zone = next(z for z in cameras[cam].zones if not z.allowed)  # watched at any hour
        det = Detection(event_id=f"cap-{i}", camera_id=cam, ai_type=zone.ai_types[0], confidence=0.9,
                        box=[10.0, 200.0, 60.0, 300.0], frame_width=640, frame_height=360, track_id=f"t{i}",
                        first_seen=seen - timedelta(seconds=90), last_seen=seen, dwell_s=90.0,
                        evidence_ref=f"{cam}/cap-{i}.jpg", zone_id=zone.id, detector="test")
        outcome = project_detection(det, [], ctx)
        assert outcome.effects is not None, outcome.reason
        applier.add(outcome.effects)
    applier.flush()
    mine = read.captures_today(r, now, CAM)
    assert [c["event_id"] for c in mine] == ["cap-1", "cap-0"]  # newest first; cap-3 was seen yesterday
    counts = read.capture_counts(read.captures_today(r, now))
    assert sum(counts[CAM].values()) == 2 and sum(counts["CAM-0002"].values()) == 1
