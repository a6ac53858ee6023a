"""The pure parts of the 摄像头 page and its read model: zones and masks drawn on a frame, a stale status shown as
offline, clicks turned into normalised corners, and the camera-status agent's choice of the newest status."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from PIL import Image

from cityops.read.cameras import NO_STATUS, OFFLINE, health_of, is_stale
from cityops.schemas import CameraState, CameraStatus
from dashboard.views.cameras import (
    DRAFT_COLOUR,
    MASK_COLOUR,
    CameraGeometry,
    ZoneShape,
    click_point,
    draw_overlay,
    zone_colour,
)
from streams.agents.camera_status import newest_per_camera, refusal

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
SQUARE = ((0.2, 0.2), (0.8, 0.2), (0.8, 0.8), (0.2, 0.8))


def _status(camera: str = "CAM-0001", at: datetime = T0, state: str = "ok", event: str = "s1") -> CameraStatus:
    return CameraStatus(event_id=event, camera_id=camera, at=at, state=CameraState(state), detector="coco/opencv",
                        fps=4.8, frames_read=100, frames_processed=96, captures=2, reconnects=1)


def test_a_zone_is_tinted_inside_outlined_in_its_colour_and_nothing_outside_changes():
    frame = Image.new("RGB", (201, 101), (0, 0, 0))
    out = draw_overlay(frame, CameraGeometry(zones=(ZoneShape("z", "路侧", SQUARE),)))
    assert out.size == frame.size and out is not frame
    colour = zone_colour(0)
    inside = out.getpixel((100, 60))
    assert inside != (0, 0, 0) and inside[2] > inside[0], inside  # tinted towards the zone's blue
    assert out.getpixel((160, 50)) == colour  # the right edge, x = 0.8 * 200
    assert out.getpixel((5, 5)) == (0, 0, 0) and out.getpixel((195, 95)) == (0, 0, 0)
    assert frame.getpixel((100, 60)) == (0, 0, 0)  # the frame itself is left as it was


def test_a_mask_darkens_its_area_and_a_draft_shows_its_corners():
    frame = Image.new("RGB", (101, 101), (255, 255, 255))
    mask = ((0.0, 0.0), (1.0, 0.0), (1.0, 0.3), (0.0, 0.3))
    out = draw_overlay(frame, CameraGeometry(masks=(mask,)), draft=((0.5, 0.6), (0.9, 0.6), (0.9, 0.9)))
    shaded = out.getpixel((50, 15))
    assert max(shaded) < 140, shaded  # white under a dark mask
    assert out.getpixel((50, 15))[0] > MASK_COLOUR[0]  # shaded, not painted over
    assert out.getpixel((90, 60)) == DRAFT_COLOUR  # a corner of the draft
    assert out.getpixel((20, 80)) == (255, 255, 255)


def test_a_status_older_than_three_send_intervals_is_offline():
    assert not is_stale(T0, T0 + timedelta(seconds=15), 5.0)
    assert is_stale(T0, T0 + timedelta(seconds=15.1), 5.0)
    assert health_of("C", _status(), T0 + timedelta(seconds=4), 5.0).state == "ok"
    late = health_of("C", _status(), T0 + timedelta(seconds=16), 5.0)
    assert late.state == OFFLINE and late.stale and late.status is not None
    assert health_of("C", _status(state="failed"), T0 + timedelta(seconds=1), 5.0).state == "failed"
    assert health_of("C", None, T0, 5.0).state == NO_STATUS


def test_clicks_become_corners_in_zero_to_one():
    assert click_point({"x": 0, "y": 0, "width": 961, "height": 541}) == (0.0, 0.0)
    assert click_point({"x": 480, "y": 270, "width": 961, "height": 541}) == (0.5, 0.5)
    assert click_point({"x": 990, "y": -3, "width": 961, "height": 541}) == (1.0, 0.0)  # clamped
    assert click_point({"x": 1, "y": 1}) is None and click_point({"x": "a", "y": 1, "width": 9, "height": 9}) is None


def test_the_agent_keeps_each_cameras_newest_status_only_if_newer_than_the_stored_one():
    a1, a2 = _status("A", T0, event="a1"), _status("A", T0 + timedelta(seconds=5), event="a2")
    b_old = _status("B", T0, event="b1")
    c_new = _status("C", T0 + timedelta(seconds=5), event="c1")
    kept = newest_per_camera([("e1", a2), ("e2", a1), ("e3", b_old), ("e4", c_new)],
                             {"A": None, "B": T0.timestamp(), "C": T0.timestamp()})
    assert [s.event_id for _, s in kept] == ["a2", "c1"]  # a1 older in the batch, b1 not newer than stored


def test_the_agent_refuses_unknown_cameras_and_clocks_far_ahead_naming_the_field():
    now = T0.timestamp()
    assert refusal(_status("CAM-0001"), {"CAM-0001"}, now) is None
    assert refusal(_status("CAM-X"), {"CAM-0001"}, now).startswith("camera_id: unknown camera 'CAM-X'")
    ahead = _status("CAM-0001", T0 + timedelta(minutes=10))
    assert refusal(ahead, {"CAM-0001"}, now).startswith("at: 600 s ahead")
