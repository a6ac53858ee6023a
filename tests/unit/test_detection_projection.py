"""Capture rules: confidence, zones and their allowed hours, one capture per object, the case it opens."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from cityops import keys
from cityops.catalogue import get_catalogue
from cityops.schemas import CaseAction, Detection
from fixtures.xiamen import load_cameras, load_city
from streams.detection_projection import DetectionContext, capture_id, iou, project_detection

TZ = ZoneInfo("Asia/Shanghai")


@pytest.fixture(scope="module")
def ctx():
    """Street vending trusted (capture_review.yml's auto_dispatch): accepted captures open their case at once; the
    review queue's path is tests/unit/test_capture_review.py."""
    return DetectionContext({c.id: c for c in load_cameras()}, load_city(), get_catalogue(), TZ,
                            auto_dispatch=frozenset({"street_vending"}))


@pytest.fixture(scope="module")
def market_camera(ctx):
    return next(c for c in ctx.cameras.values() if any(z.id == "night_market" for z in c.zones))


def det(camera_id: str, **kw) -> Detection:
    t = kw.pop("t", datetime(2026, 11, 24, 10, 0, tzinfo=TZ))
    base = {"event_id": "c1", "camera_id": camera_id, "ai_type": "street_vending", "confidence": 0.9,
            "box": [100.0, 100.0, 200.0, 300.0], "frame_width": 640, "frame_height": 360, "track_id": "5",
            "first_seen": t, "last_seen": t, "dwell_s": 90.0, "evidence_ref": f"{camera_id}/20261124/c1.jpg",
            "detector": "classical"}
    return Detection(**(base | kw))


def test_accepted_capture_of_a_trusted_type_opens_a_dispatched_case(ctx, market_camera):
    out = project_detection(det(market_camera.id, zone_id="sidewalk"), [], ctx)
    assert out.reason == ""
    assert [c.action for c in out.cases] == [CaseAction.REPORT, CaseAction.REGISTER, CaseAction.DISPATCH]
    report, _, dispatch = out.cases
    assert report.source.value == "ai_video" and report.category_code == get_catalogue().by_ai_type(
        "street_vending").code
    assert report.evidence_ref == f"{market_camera.id}/20261124/c1.jpg" and report.grid_id == market_camera.grid_code
    street = ctx.city.grids[market_camera.grid_code].street_code
    assert dispatch.department_id == f"SSQ-{street}"
    assert out.effects.event_id == capture_id(det(market_camera.id)) == f"cap:{market_camera.id}:street_vending:5"
    counted = [(op[1], op[2]) for op in out.effects.ops if op[0] == "HINCRBY"]
    kpis = [f for k, f in counted if k.startswith("co:kpi:")]
    assert kpis == ["captures", "captures:street_vending"] * 2, "city and district, stored names unchanged"
    assert (keys.capture_stats_daily("20261124"), "auto") in counted, "counted as dispatched without review"


@pytest.mark.parametrize(
    ("kw", "reason"),
    [
        ({"confidence": 0.3}, "confidence 0.30 below 0.50"),
        ({"zone_id": "night_market", "t": datetime(2026, 11, 24, 19, 30, tzinfo=TZ)}, "allowed in zone night_market"),
        ({"zone_id": "roadside"}, "zone roadside does not watch street_vending"),
    ],
)
def test_set_aside_with_a_reason(ctx, market_camera, kw, reason):
    camera_id = kw.pop("camera_id", market_camera.id)
    out = project_detection(det(camera_id, **kw), [], ctx)
    assert reason in out.reason
    assert out.cases == [] and [op[2] for op in out.effects.ops if op[0] == "HINCRBY"] == ["captures_set_aside"]


@pytest.mark.parametrize(
    ("kw", "reason"),
    [
        ({"camera_id": "CAM-NOPE", "evidence_ref": "x.jpg"}, "unknown camera 'CAM-NOPE'"),
        ({"zone_id": "no_such_zone"}, "has no zone 'no_such_zone'"),
    ],
)
def test_a_camera_or_zone_the_city_does_not_have_is_refused_not_set_aside(ctx, market_camera, kw, reason):
    """Bad input (a misconfigured or unknown sender), not a rule decision: the agent dead-letters it with the
    reason and nothing is counted."""
    camera_id = kw.pop("camera_id", market_camera.id)
    out = project_detection(det(camera_id, **kw), [], ctx)
    assert out.refused and reason in out.reason
    assert out.effects is None and out.cases == []


def test_vending_in_the_night_market_outside_its_hours_is_a_violation(ctx, market_camera):
    out = project_detection(det(market_camera.id, zone_id="night_market",
                                t=datetime(2026, 11, 24, 23, 30, tzinfo=TZ)), [], ctx)
    assert out.reason == "" and out.cases


def test_the_same_object_seen_by_a_new_track_is_one_capture(ctx, market_camera):
    recent: list[dict] = []
    first = project_detection(det(market_camera.id), recent, ctx)
    again = project_detection(det(market_camera.id, event_id="c2", track_id="9", box=[105.0, 102.0, 205.0, 298.0],
                                  evidence_ref="x/c2.jpg"), recent, ctx)
    elsewhere = project_detection(det(market_camera.id, event_id="c3", track_id="10", box=[400.0, 10.0, 500.0, 200.0],
                                      evidence_ref="x/c3.jpg"), recent, ctx)
    assert first.cases and "same object as capture c1" in again.reason and elsewhere.cases


def test_iou():
    assert iou([0, 0, 10, 10], [0, 0, 10, 10]) == 1.0
    assert iou([0, 0, 10, 10], [10, 10, 20, 20]) == 0.0
    assert iou([0, 0, 10, 10], [5, 0, 15, 10]) == pytest.approx(1 / 3)
