"""The duty console's review figures: queue rows, false-alarm rates per camera and type, capture → dispatch
median and p90 against the 5-minute target (dashboard/views/capture_review.py)."""

from __future__ import annotations

import pytest

from cityops.catalogue import get_catalogue
from cityops.read.captures import ReviewStats
from dashboard.views import capture_review as views


def test_percentiles_and_the_target() -> None:
    assert views.percentile([], 0.5) is None
    assert views.percentile([10.0, 20.0, 30.0, 40.0], 0.5) == 25.0
    assert views.percentile(list(map(float, range(1, 11))), 0.9) == pytest.approx(9.1)
    ok = views.lag_summary([60.0, 120.0, 200.0, 290.0])
    assert ok["median_s"] == 160.0 and ok["meets_target"] and ok["within_target"] == 1.0
    late = views.lag_summary([60.0, 120.0, 200.0, 900.0, 1000.0])
    assert not late["meets_target"] and late["within_target"] == 0.6 and late["n"] == 5
    assert not views.lag_summary([])["meets_target"]


def test_false_alarm_rates_per_camera_and_type() -> None:
    stats = ReviewStats(totals={"reviewed": 4, "false_alarm": 1},
                        by_camera={"CAM-1": {"reviewed": 3, "false_alarm": 1}, "CAM-2": {"reviewed": 1}},
                        by_type={"street_vending": {"reviewed": 4, "false_alarm": 1}, "ufo": {"false_alarm": 0}})
    rows = views.rate_rows(stats, {"CAM-1": "湖滨南路视频点"}, get_catalogue())
    cams = [(r["name"], r["rate_label"]) for r in rows if r["scope"] == "camera"]
    assert cams == [("湖滨南路视频点", "33%"), ("CAM-2", "0%")]
    types = [r for r in rows if r["scope"] == "type"]
    assert len(types) == 1 and types[0]["rate"] == 0.25, "a type nobody reviewed has no rate"


def test_queue_rows_say_what_the_reviewer_needs() -> None:
    [row] = views.queue_rows([{"event_id": "c1", "camera_id": "CAM-1", "camera_name": "湖滨南路视频点",
                               "ai_type": "street_vending", "confidence": 0.874, "dwell_s": 95.0, "waiting_s": 301,
                               "box": [1, 2, 3, 4], "frame_width": 640, "frame_height": 360,
                               "evidence_ref": "CAM-1/x.jpg", "zone_id": "sidewalk"}], get_catalogue())
    assert (row["camera"], row["zone"], row["confidence"], row["dwell"], row["waiting"]) == (
        "湖滨南路视频点", "sidewalk", "0.87", "1分35秒", "5分01秒")
    assert row["late"] and row["frame"] == (640, 360) and row["type"] != "street_vending"
