"""Metric formulas: rates, weighted variants, the composite score and rankings."""

from __future__ import annotations

import pytest

from cityops.metrics import Rates, mean_handling_hours, rank, score, score_weights


def test_rates_from_counters():
    c = {"closed": 90, "overdue_open": 10, "closed_on_time": 80, "handled": 95, "dispatched": 100, "reworked": 5}
    r = Rates.from_counters(c)
    assert r.due == 100
    assert (r.closure_rate, r.on_time_rate, r.handling_rate, r.rework_rate) == (0.9, 0.8, 0.95, 0.05)


def test_weighted_rates_use_the_w_counters():
    c = {"closed": 2, "overdue_open": 0, "w_closed": 2, "w_overdue_open": 5, "w_closed_on_time": 1}
    assert Rates.from_counters(c).closure_rate == 1.0
    w = Rates.from_counters(c, prefix="w_")
    assert w.due == 7 and w.closure_rate == pytest.approx(2 / 7) and w.on_time_rate == pytest.approx(1 / 7)


def test_empty_period_has_no_rates_and_a_full_score():
    r = Rates.from_counters({})
    assert r.closure_rate is None and r.handling_rate is None
    assert score(r) == 100.0


def test_score_formula_and_configuration(monkeypatch):
    r = Rates(due=100, closure_rate=0.9, on_time_rate=0.8, handling_rate=0.95, rework_rate=0.05)
    assert score(r) == pytest.approx(100 * (0.3 * 0.9 + 0.4 * 0.8 + 0.2 * 0.95 + 0.1 * 0.95))
    monkeypatch.setenv("CITYOPS_SCORE_WEIGHTS", "closure=0.5,on_time=0.5,handling=0,rework=0")
    assert score(r, score_weights()) == pytest.approx(85.0)
    monkeypatch.setenv("CITYOPS_SCORE_WEIGHTS", "closure=0.5,on_time=0.6,handling=0,rework=0")
    with pytest.raises(ValueError, match="summing to 1"):
        score_weights()
    monkeypatch.setenv("CITYOPS_SCORE_WEIGHTS", "speed=1")
    with pytest.raises(ValueError, match="unknown metric"):
        score_weights()


def test_rank_shares_positions_on_ties():
    assert rank({"a": 90.0, "b": 95.0, "c": 90.0, "d": 80.0}) == [(1, "b", 95.0), (2, "a", 90.0), (2, "c", 90.0),
                                                                   (4, "d", 80.0)]


def test_mean_handling_hours():
    assert mean_handling_hours({"handled_n": 2, "handling_s": 7200}) == 1.0
    assert mean_handling_hours({}) is None
