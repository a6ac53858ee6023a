"""考核: the scheme file's checks, the points of each indicator, ranks within class and the 约谈 list."""

from __future__ import annotations

from pathlib import Path

import pytest

from cityops.assessment import (
    Indicator,
    Scheme,
    SchemeError,
    UnitScheme,
    assess,
    indicator_values,
    interview_list,
    load_scheme,
    points_of,
)

SCHEME = Scheme(base=100.0, interview_last=1, units={"street": UnitScheme("street", {
    "A": ("S1", "S2", "S3"), "B": ("S4",)}, (Indicator("overdue", -0.5), Indicator("supervised", -2.0),
                                           Indicator("on_time_rate", 0.5, 0.9)))})


def test_indicators_of_a_street_and_of_a_department():
    cases = {"reg": 12, "due": 10, "on_time": 8, "due_handle": 10, "handled_on_time": 9, "reworked": 2}
    assert indicator_values("street", cases, 3, -2.5) == {"overdue": 2.0, "rework": 2.0, "supervised": 3.0,
                                                          "findings": -2.5, "supervision_overdue": 0.0,
                                                          "on_time_rate": 0.8}
    assert indicator_values("department", cases, 0)["overdue"] == 1.0
    assert indicator_values("department", cases, 0, 0.0, 2)["supervision_overdue"] == 2.0  # 督办单 escalated
    assert indicator_values("street", {}, 0)["on_time_rate"] is None  # nothing due: no rate, no points


def test_points_have_no_floor_and_no_cap():
    assert points_of(Indicator("overdue", -0.5), 400) == -200.0  # the score goes below zero
    assert points_of(Indicator("on_time_rate", 0.5, 0.9), 1.0) == pytest.approx(5.0)
    assert points_of(Indicator("on_time_rate", 0.5, 0.9), 0.5) == pytest.approx(-20.0)
    assert points_of(Indicator("on_time_rate", 0.5, 0.9), None) == 0.0


def test_ranks_are_within_class_and_the_last_are_summoned_ties_included():
    values = {"S1": {"overdue": 0, "supervised": 0, "on_time_rate": 1.0},  # 100 + 5 = 105
              "S2": {"overdue": 4, "supervised": 1, "on_time_rate": 0.9},  # 100 - 2 - 2 = 96
              "S3": {"overdue": 4, "supervised": 1, "on_time_rate": 0.9},  # tied with S2
              "S4": {"overdue": 300, "supervised": 0, "on_time_rate": None}}  # alone in B: 100 - 150
    scores = {s.unit_id: s for s in assess(SCHEME, "street", values)}
    assert [(u, s.klass, s.rank, s.score) for u, s in scores.items()] == [
        ("S1", "A", 1, 105.0), ("S2", "A", 2, 96.0), ("S3", "A", 2, 96.0), ("S4", "B", 1, -50.0)]
    # S2 and S3 tie for the last place of A; S4, alone in B, is its best as much as its worst: not summoned
    assert [s.unit_id for s in interview_list(list(scores.values()))] == ["S2", "S3"]
    assert scores["S2"].item("supervised").points == -2.0


def test_a_unit_without_figures_scores_the_base_and_a_class_all_tied_summons_nobody():
    scores = assess(SCHEME, "street", {})
    assert {s.unit_id: s.score for s in scores} == {"S1": 100.0, "S2": 100.0, "S3": 100.0, "S4": 100.0}
    assert interview_list(scores) == []


def _load(tmp_path: Path, text: str):  # noqa: ANN202
    path = tmp_path / "assessment.yml"
    path.write_text(text, encoding="utf-8")
    return load_scheme(path, streets={"S1", "S2"}, departments={"D1"})


def test_the_file_loads_and_no_file_is_no_scheme(tmp_path):
    s = _load(tmp_path, "base: 100\ninterview_last: 1\nstreet:\n  classes: {A: [S1, S2]}\n  indicators:\n"
                        "    overdue: -0.5\n    on_time_rate: {target: 0.9, points: 0.5}\n")
    assert s.units["street"].class_of("S2") == "A" and s.units["street"].indicators[1].target == 0.9
    assert load_scheme(tmp_path / "none.yml", streets=set(), departments=set()) is None


@pytest.mark.parametrize(("text", "message"), [
    ("street:\n  classes: {A: [S1, S9]}\n  indicators: {}\n", "S9 is not a street"),
    ("street:\n  classes: {A: [S1], B: [S1]}\n  indicators: {}\n", "also in class A"),
    ("street:\n  classes: {A: [S1]}\n  indicators: {late: -1}\n", "unknown late"),
    ("street:\n  classes: {A: [S1]}\n  indicators: {overdue: lots}\n", "must be a number"),
    ("street:\n  classes: {A: [S1]}\n  indicators: {on_time_rate: {target: 90, points: 1}}\n", "between 0 and 1"),
    ("interview_last: -1\nstreet:\n  classes: {A: [S1]}\n  indicators: {}\n", "interview_last"),
    ("base: 100\n", "assesses nothing"),
    ("street: [\n", "not valid YAML")])
def test_mistakes_in_the_file_are_named(tmp_path, text, message):
    with pytest.raises(SchemeError, match=message):
        _load(tmp_path, text)
