"""Scoring rules of detectors/quality.py: greedy IoU matching, ignore boxes, unlabelled regions, captures."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from cityops.settings import REPO_ROOT
from detectors.quality import (
    ANY,
    Counts,
    ExpectedCapture,
    LabelBox,
    ObservedCapture,
    Scored,
    class_of,
    fmt,
    match_captures,
    match_frame,
    observed,
    score_frames,
)

P = "person"
V = "vehicle"


def det(cls: str, x1: float, y1: float, x2: float, y2: float, conf: float = 0.9) -> Scored:
    return Scored(cls, x1, y1, x2, y2, conf)


def test_exact_and_shifted_boxes_match_at_iou_half() -> None:
    labels = [LabelBox(P, 0, 0, 10, 20)]
    assert match_frame(labels, [det(P, 0, 0, 10, 20)], P) == Counts(1, 0, 0)
    # shifted by 3 of 10 px: IoU = 140/260 = 0.54 → match; by 4: 120/280 = 0.43 → FP + FN
    assert match_frame(labels, [det(P, 3, 0, 13, 20)], P) == Counts(1, 0, 0)
    assert match_frame(labels, [det(P, 4, 0, 14, 20)], P) == Counts(0, 1, 1)


def test_matching_is_per_class_and_one_to_one() -> None:
    labels = [LabelBox(P, 0, 0, 10, 20)]
    assert match_frame(labels, [det(V, 0, 0, 10, 20)], P) == Counts(0, 0, 1)
    assert match_frame(labels, [det(V, 0, 0, 10, 20)], V) == Counts(0, 1, 0)
    # two detections of one person: the more confident one matches, the other is a false positive
    two = [det(P, 0, 0, 10, 20, 0.4), det(P, 1, 0, 11, 20, 0.8)]
    assert match_frame(labels, two, P) == Counts(1, 1, 0)


def test_greedy_takes_highest_iou_label_for_the_most_confident_detection() -> None:
    labels = [LabelBox(P, 0, 0, 10, 20), LabelBox(P, 3, 0, 13, 20)]
    dets = [det(P, 3, 0, 13, 20, 0.9), det(P, 0, 0, 8, 20, 0.5)]
    # the confident detection fits both labels (IoU 0.54 and 1.0) and must take the better one, or the
    # weaker detection (IoU 0.8 with the first label, 0.38 with the second) would be left without a match
    assert match_frame(labels, dets, P) == Counts(2, 0, 0)


def test_ignore_boxes_are_neither_hits_nor_misses() -> None:
    labels = [LabelBox(P, 0, 0, 10, 20, ignore=True)]
    assert match_frame(labels, [], P) == Counts(0, 0, 0)
    assert match_frame(labels, [det(P, 0, 0, 10, 20)], P) == Counts(0, 0, 0)
    # a real label overlapping an ignore one wins the detection
    both = [LabelBox(P, 0, 0, 10, 20, ignore=True), LabelBox(P, 1, 0, 11, 20)]
    assert match_frame(both, [det(P, 0, 0, 10, 20)], P) == Counts(1, 0, 0)


def test_unmatched_detection_outside_the_labelled_region_is_not_a_false_positive() -> None:
    region = (0, 100, 200, 200)
    assert match_frame([], [det(P, 0, 10, 10, 50)], P, region=region) == Counts(0, 0, 0)
    assert match_frame([], [det(P, 0, 110, 10, 150)], P, region=region) == Counts(0, 1, 0)


def test_class_agnostic_scoring_and_totals() -> None:
    labels = [LabelBox(P, 0, 0, 10, 20), LabelBox(V, 50, 50, 90, 80)]
    dets = [det("moving_object", 0, 0, 10, 20), det(V, 50, 50, 90, 80)]
    frames = [(labels, dets, None), (labels, [], None)]
    total = score_frames(frames, classes=(P, V, ANY))
    assert total[P] == Counts(0, 0, 2)  # moving_object is not a person
    assert total[V] == Counts(1, 0, 1)
    assert total[ANY] == Counts(2, 0, 2)


def test_ratios_are_undefined_without_denominators() -> None:
    assert Counts().precision is None and Counts().recall is None and Counts().f1 is None
    c = Counts(3, 1, 2)
    assert (c.precision, round(c.recall or 0, 3), round(c.f1 or 0, 3)) == (0.75, 0.6, 0.667)
    assert Counts(0, 2, 2).f1 == 0.0
    assert fmt(None) == "n/a" and fmt(0.5) == "0.50"


def test_class_mapping_rule() -> None:
    assert [class_of(x) for x in ("car", "truck", "bus", "motorcycle", "bicycle", "person")] == [
        V, V, V, V, V, P
    ]
    assert class_of("moving_object") is None and class_of("stationary_object") is None


def test_captures_match_by_time_overlap_and_place() -> None:
    exp = [ExpectedCapture("woman", 50.0, 70.0, (0, 150, 300, 360))]
    inside = ObservedCapture(56.0, 56.0, (100, 200, 140, 300))
    assert match_captures(exp, [inside]) == Counts(1, 0, 0)
    too_late = ObservedCapture(72.0, 72.0, (100, 200, 140, 300))
    assert match_captures(exp, [too_late]) == Counts(0, 1, 1)
    elsewhere = ObservedCapture(56.0, 56.0, (400, 200, 440, 300))
    assert match_captures(exp, [elsewhere]) == Counts(0, 1, 1)
    # the same object captured twice: the second capture is a false positive
    assert match_captures(exp, [inside, inside]) == Counts(1, 1, 0)
    # flowing traffic: nothing expected, nothing captured → all zero, ratios undefined
    assert match_captures([], []) == Counts(0, 0, 0)


def test_borderline_expected_captures_count_neither_way() -> None:
    exp = [ExpectedCapture("pair at the top", 0.0, 7.0, (500, 0, 600, 130), borderline=True)]
    assert match_captures(exp, []) == Counts(0, 0, 0)
    assert match_captures(exp, [ObservedCapture(3.0, 3.0, (520, 20, 560, 100))]) == Counts(0, 0, 0)


def test_observed_converts_times_relative_to_the_clip_start() -> None:
    start = datetime(2024, 5, 1, 2, 0, tzinfo=UTC)
    o = observed(start + timedelta(seconds=52), start + timedelta(seconds=57.5), [1, 2, 3, 4], start)
    assert (o.first_s, o.last_s, o.box) == (52.0, 57.5, (1, 2, 3, 4))


def test_label_files_are_well_formed() -> None:
    """The committed labels: ≥ 60 frames over all three clips, boxes inside their frames, known classes."""
    doc = json.loads((REPO_ROOT / "fixtures" / "labels" / "street_video_boxes.json").read_text(encoding="utf-8"))
    frames = doc["frames"]
    assert len(frames) >= 60
    assert {f["clip"] for f in frames} == {"vtest.avi", "car_traffic_small.mp4", "pedestrians_720p_lamminhthien.avi"}
    for f in frames:
        for b in f["boxes"]:
            x1, y1, x2, y2 = b["box"]
            assert b["cls"] in (P, V), f
            assert 0 <= x1 < x2 <= f["width"] and 0 <= y1 < y2 <= f["height"], (f["clip"], f["frame"], b)
    caps = json.loads((REPO_ROOT / "fixtures" / "labels" / "street_video_captures.json").read_text(encoding="utf-8"))
    assert {c["camera"] for c in caps["clips"]} == {"CAM-DEMO-VTEST", "CAM-DEMO-TRAFFIC", "CAM-DEMO-HALL"}
    for clip in caps["clips"]:
        for e in clip["expected"]:
            assert e["t_start_s"] <= e["t_end_s"] and len(e["area"]) == 4, e
