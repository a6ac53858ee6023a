"""Unit tests of the detectors' pure logic: boxes, zones, tracker, rules, evidence paths, sources."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from cityops.devices import Camera, TimeWindow, Zone
from cityops.schemas import Detection, decode, encode
from detectors.base import Box, iou
from detectors.evidence import EvidencePathError, EvidenceStore, evidence_refs, resolve_ref, safe_component
from detectors.rules import RuleEngine, to_detection
from detectors.sources import Sampler, SourceError, StreamSource
from detectors.tracking import Tracker, TrackerConfig
from detectors.zones import PixelZone, point_in_polygon
from tests.support.videos import vtest_frame

TZ = ZoneInfo("Asia/Shanghai")
T0 = datetime(2024, 5, 1, 2, 0, tzinfo=UTC)  # 10:00 in Xiamen


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def car(x: float, y: float = 100.0, label: str = "stationary_object", conf: float = 0.8) -> Box:
    return Box(x, y, x + 40, y + 20, label, conf)


# ------------------------------------------------------------------------------------------ boxes/zones


def test_iou_identical_disjoint_and_half():
    a = Box(0, 0, 10, 10, "x", 1)
    assert iou(a, a) == pytest.approx(1.0)
    assert iou(a, Box(20, 20, 30, 30, "x", 1)) == 0.0
    assert iou(a, Box(5, 0, 15, 10, "x", 1)) == pytest.approx(50 / 150)


def test_point_in_polygon_inside_outside_and_edges():
    square = [(0.0, 0.0), (10.0, 0.0), (10.0, 10.0), (0.0, 10.0)]
    assert point_in_polygon((5, 5), square)
    assert not point_in_polygon((15, 5), square)
    assert point_in_polygon((10, 5), square)  # on an edge
    assert point_in_polygon((0, 0), square)  # on a vertex
    assert not point_in_polygon((10.001, 5), square)
    concave = [(0, 0), (10, 0), (10, 10), (5, 5), (0, 10)]  # a notch from the top
    assert not point_in_polygon((5, 8), concave)
    assert point_in_polygon((5, 3), concave)


def test_zone_judges_the_bottom_centre_in_pixels():
    zone = Zone("road", "路", ((0.0, 0.5), (1.0, 0.5), (1.0, 1.0), (0.0, 1.0)), ("illegal_parking",))
    pz = PixelZone.from_zone(zone, 640, 360)
    assert pz.polygon[0] == (0.0, 180.0)
    tall = Box(100, 20, 140, 200, "person", 0.9)  # centre above the zone, feet inside
    assert pz.contains_box(tall)
    assert not pz.contains_box(Box(100, 20, 140, 170, "person", 0.9))
    assert pz.contains_box(Box(100, 20, 140, 180, "person", 0.9))  # feet exactly on the edge


# ------------------------------------------------------------------------------------------- tracker


def test_tracker_matches_by_iou_and_confirms_after_min_hits():
    tr = Tracker(TrackerConfig(min_hits=3, max_misses=2))
    assert tr.update([car(100)], at(0)) == []
    assert tr.update([car(103)], at(1)) == []
    confirmed = tr.update([car(106)], at(2))
    assert len(confirmed) == 1 and confirmed[0].id == 1 and confirmed[0].hits == 3
    assert tr.update([car(400)], at(3)) == []  # far away: a new, unconfirmed track
    assert {t.id for t in tr.tracks} == {1, 2}


def test_tracker_keeps_a_parked_car_through_occlusion_then_forgets_it():
    tr = Tracker(TrackerConfig(min_hits=2, max_misses=3))
    for i in range(3):
        tr.update([car(100)], at(i))
    for i in range(3, 6):  # hidden by a bus for 3 frames
        tr.update([], at(i))
    tr.update([car(101)], at(6))
    assert [t.id for t in tr.tracks] == [1] and tr.total_confirmed == 1
    for i in range(7, 11):
        tr.update([], at(i))
    assert tr.tracks == []


def test_tracker_low_confidence_keeps_tracks_but_never_starts_them():
    tr = Tracker(TrackerConfig(min_hits=1, high_confidence=0.5, min_confidence=0.1))
    tr.update([car(100, conf=0.9)], at(0))
    tr.update([car(102, conf=0.2)], at(1))  # weak, but it continues track 1
    assert tr.tracks[0].hits == 2
    tr.update([car(102, conf=0.2), car(500, conf=0.3)], at(2))
    assert len(tr.tracks) == 1  # the weak lone box started nothing
    tr.update([car(102, conf=0.05)], at(3))  # below min_confidence: a miss
    assert tr.tracks[0].misses == 1


def test_tracker_does_not_let_a_moving_box_take_over_a_stationary_track():
    tr = Tracker(TrackerConfig(min_hits=1))
    tr.update([car(100)], at(0))
    tr.update([car(100, label="vehicle")], at(1))
    assert len(tr.tracks) == 2
    assert tr.tracks[0].misses == 1


def test_tracker_label_is_the_majority_of_a_motion_group():
    tr = Tracker(TrackerConfig(min_hits=1))
    for i, label in enumerate(["person", "person", "vehicle", "person"]):
        tr.update([car(100 + i, label=label)], at(i))
    assert len(tr.tracks) == 1 and tr.tracks[0].label == "person"


# --------------------------------------------------------------------------------------------- rules


def _camera(allowed: tuple[TimeWindow, ...] = (), dwell: float = 5.0) -> Camera:
    zone = Zone(
        "road", "路侧", ((0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)), ("illegal_parking",), allowed, dwell
    )
    return Camera("CAM-T", "测试", 118.0894, 24.4798, "g", (zone,))


def _run(engine: RuleEngine, boxes: list[Box], seconds: list[float], tracker: Tracker | None = None):
    tracker = tracker or Tracker(TrackerConfig(min_hits=2, max_misses=5))
    caps = []
    for box, s in zip(boxes, seconds, strict=True):
        caps += engine.update(tracker.update([box], at(s)), at(s), 640, 360)
    return caps


def test_rule_captures_once_after_min_dwell():
    engine = RuleEngine(_camera(dwell=5.0), TZ)
    secs = [float(s) for s in range(0, 20)]
    caps = _run(engine, [car(100)] * len(secs), secs)
    assert len(caps) == 1
    cap = caps[0]
    assert cap.ai_type == "illegal_parking" and cap.dwell_s == pytest.approx(5.0)
    assert cap.last_seen == at(6.0)  # confirmed at t=1, dwell counted from there


def test_rule_ignores_short_dwell_and_unmapped_labels():
    engine = RuleEngine(_camera(dwell=5.0), TZ)
    assert _run(engine, [car(100)] * 4, [0.0, 1.0, 2.0, 3.0]) == []
    engine = RuleEngine(_camera(dwell=1.0), TZ)
    assert _run(engine, [car(100, label="person")] * 6, [float(s) for s in range(6)]) == []


def test_rule_moving_vehicle_does_not_dwell():
    engine = RuleEngine(_camera(dwell=3.0), TZ)
    boxes = [car(100 + 10 * i, label="vehicle") for i in range(10)]  # 10 px/s ≈ 0.25 sizes/s
    assert _run(engine, boxes, [float(s) for s in range(10)]) == []


def test_rule_respects_allowed_window_across_midnight():
    window = TimeWindow.parse("22:00-06:00")
    # 02:00 UTC is 10:00 local: not allowed → captured
    assert len(_run(RuleEngine(_camera((window,), 2.0), TZ), [car(100)] * 5, [0, 1, 2, 3, 4])) == 1
    # 17:00 UTC is 01:00 local, inside the window that wraps midnight → allowed, no capture
    engine = RuleEngine(_camera((window,), 2.0), TZ)
    tracker = Tracker(TrackerConfig(min_hits=1))
    night = datetime(2024, 5, 1, 17, 0, tzinfo=UTC)
    caps = []
    for s in range(5):
        t = night + timedelta(seconds=s)
        caps += engine.update(tracker.update([car(100)], t), t, 640, 360)
    assert caps == []
    assert window.contains(time(23, 30)) and window.contains(time(5, 59)) and not window.contains(time(6, 0))


def test_rule_min_confidence_blocks_weak_tracks():
    engine = RuleEngine(_camera(dwell=1.0), TZ, min_confidence=0.6)
    tracker = Tracker(TrackerConfig(min_hits=1, high_confidence=0.3))
    assert _run(engine, [car(100, conf=0.4)] * 5, [0, 1, 2, 3, 4], tracker) == []


def test_capture_becomes_a_valid_detection_message():
    cam = _camera(dwell=2.0)
    caps = _run(RuleEngine(cam, TZ), [car(100)] * 5, [0, 1, 2, 3, 4])
    frame_ref, crop_ref = evidence_refs(cam.id, caps[0].event_id, caps[0].last_seen, TZ)
    det = to_detection(
        caps[0],
        cam,
        width=640,
        height=360,
        evidence_ref=frame_ref,
        crop_ref=crop_ref,
        detector="classical/stationary_object",
    )
    again = decode(Detection, encode(det))
    assert again == det and again.zone_id == "road" and again.lon == cam.lon
    assert again.evidence_ref == f"CAM-T/20240501/{caps[0].event_id}.jpg"


# ------------------------------------------------------------------------------------------ evidence


def test_evidence_refs_cannot_escape_the_store(tmp_path: Path):
    frame_ref, _ = evidence_refs("../../etc", "det-1", T0, TZ)
    assert ".." not in frame_ref.split("/") and resolve_ref(tmp_path, frame_ref).is_relative_to(tmp_path)
    assert evidence_refs("CAM/../x", "a/b", T0, TZ)[0] == "CAM_.._x/20240501/a_b.jpg"
    for bad in ("..", ".", ""):
        with pytest.raises(EvidencePathError):
            safe_component(bad)
    for ref in ("../x.jpg", "/etc/passwd", "a/../../x.jpg", "a\\..\\x.jpg", "a//b.jpg"):
        with pytest.raises(EvidencePathError):
            resolve_ref(tmp_path, ref)


def test_evidence_store_writes_frame_and_crop(tmp_path: Path):
    store = EvidenceStore(tmp_path, TZ, blur=[(0.0, 0.0, 0.1, 0.1)])
    image = np.full((360, 640, 3), 200, np.uint8)
    frame_ref, crop_ref = store.write(
        image, Box(100, 100, 200, 180, "x", 0.9), camera_id="CAM-T", event_id="det-abc", when=T0
    )
    assert (tmp_path / frame_ref).stat().st_size > 0 and (tmp_path / crop_ref).stat().st_size > 0
    assert image[0, 0, 0] == 200  # the caller's frame is not drawn on


# ------------------------------------------------------------------------------------------- sources


def test_sampler_keeps_every_other_frame_by_timestamp():
    s = Sampler(5.0)
    kept = [i for i in range(10) if s.due(i / 10.0)]
    assert kept == [0, 2, 4, 6, 8]


class _FakeCapture:
    def __init__(self, frames: int) -> None:
        self.frames = frames

    def isOpened(self) -> bool:  # noqa: N802 (OpenCV's name)
        return self.frames >= 0

    def read(self):
        if self.frames <= 0:
            return False, None
        self.frames -= 1
        return True, np.zeros((4, 4, 3), np.uint8)

    def release(self) -> None:
        pass


def test_stream_reconnects_with_bounded_exponential_backoff():
    plan = iter([3, -1, 0, 2])  # 3 frames, refused, drops at once, 2 frames, then refused forever
    waited: list[float] = []
    src = StreamSource(
        "rtsp://user:pw@cam/1",
        max_reconnects=4,
        backoff_s=0.5,
        max_backoff_s=1.5,
        capture_factory=lambda url: _FakeCapture(next(plan, -1)),
        sleep=waited.append,
    )
    frames = list(src)
    assert len(frames) == 5 and src.stats.reconnects == 7
    assert waited == [0.5, 1.0, 1.5, 0.5, 1.0, 1.5, 1.5]  # reset after good reads, capped at 1.5
    assert "gave up" in src.message and "pw" not in src.message


def test_stream_that_never_opens_raises_a_clear_error():
    src = StreamSource(
        "rtsp://cam/2", max_reconnects=2, capture_factory=lambda url: _FakeCapture(-1), sleep=lambda s: None
    )
    with pytest.raises(SourceError, match="gave up after 2"):
        list(src)


def test_face_blurring_works_with_the_bundled_cascade():
    """The 5.0 contrib wheel has no cascade files; the copy in detectors/data makes face blurring real."""
    import cv2

    from detectors.evidence import FaceBlurrer

    blurrer = FaceBlurrer()
    assert blurrer.available
    big = cv2.resize(vtest_frame(), None, fx=2, fy=2)  # the walkers' faces are small at 768×576
    faces = blurrer.faces(big)
    assert faces, "a face is visible in frame 260 of vtest.avi (checked by eye)"
    x1, y1, x2, y2 = faces[0]

    def detail(image: np.ndarray) -> float:  # variance of the Laplacian: fine detail, which blurring removes
        return float(cv2.Laplacian(cv2.cvtColor(image[y1:y2, x1:x2], cv2.COLOR_BGR2GRAY), cv2.CV_64F).var())

    before = detail(big)
    assert detail(blurrer(big.copy())) < before * 0.3
