"""Stall items near each other become one stall box; lone items and other labels pass unchanged."""

from __future__ import annotations

from detectors.base import Box
from detectors.pipeline import BoxFilter
from detectors.stalls import gap, gather_stalls


def box(x1: float, y1: float, x2: float, y2: float, label: str, conf: float = 0.5) -> Box:
    return Box(x1, y1, x2, y2, label, conf)


def test_gap_is_zero_for_touching_boxes_and_euclidean_otherwise() -> None:
    a = box(0, 0, 10, 10, "chair")
    assert gap(a, box(5, 5, 20, 20, "chair")) == 0.0
    assert gap(a, box(13, 14, 20, 20, "chair")) == 5.0


def test_umbrella_table_and_chairs_form_one_stall() -> None:
    boxes = [box(100, 50, 200, 120, "umbrella", 0.6), box(120, 110, 190, 160, "dining table", 0.7),
             box(95, 125, 118, 165, "chair", 0.4), box(195, 125, 215, 165, "chair", 0.35),
             box(400, 100, 430, 180, "person", 0.9)]
    out = gather_stalls(boxes)
    stalls = [b for b in out if b.label == "stall"]
    assert stalls == [Box(95, 50, 215, 165, "stall", 0.7)]
    assert [b.label for b in out if b.label != "stall"] == ["person"]


def test_lone_or_far_apart_items_stay_items() -> None:
    far = [box(0, 0, 20, 40, "chair"), box(300, 0, 320, 40, "suitcase")]
    assert sorted(b.label for b in gather_stalls(far)) == ["chair", "suitcase"]
    assert gather_stalls([box(0, 0, 20, 40, "chair")]) == [box(0, 0, 20, 40, "chair")]
    # just within half the larger height (40 px → 20 px) joins, just beyond does not
    assert [b.label for b in gather_stalls([box(0, 0, 20, 40, "chair"), box(40, 0, 60, 40, "chair")])] == ["stall"]
    assert len(gather_stalls([box(0, 0, 20, 40, "chair"), box(41, 0, 61, 40, "chair")])) == 2


def test_chains_join_and_two_stalls_stay_two() -> None:
    row = [box(x, 0, x + 20, 40, "suitcase") for x in (0, 30, 60)]  # each near the next only
    other = [box(500, 0, 540, 40, "chair"), box(545, 0, 580, 40, "dining table")]
    out = gather_stalls(row + other)
    assert sorted((b.x1, b.x2) for b in out) == [(0, 80), (500, 580)] and {b.label for b in out} == {"stall"}


def test_min_items_and_no_boxes() -> None:
    pair = [box(0, 0, 20, 40, "chair"), box(25, 0, 45, 40, "chair")]
    assert len(gather_stalls(pair, min_items=3)) == 2
    assert gather_stalls([]) == []


def test_a_box_over_a_third_of_the_frame_is_no_object_and_is_dropped_before_tracking():
    """SSD boxes the whole overhead crowd of the hall clip as one 'person' (1230 × 620 of 1280 × 720)."""
    crowd = Box(13, 1, 1244, 624, "person", 0.53)
    walker = Box(600, 300, 640, 400, "person", 0.8)
    assert BoxFilter().apply([crowd, walker], 1280, 720) == [walker]
