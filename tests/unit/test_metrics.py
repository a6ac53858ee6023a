"""Metric formulas: rates, weighted variants, the composite score and rankings."""

from __future__ import annotations

import pytest

from cityops.metrics import (
    WEIGHTED,
    Counters,
    Kpis,
    Metric,
    OverdueGauge,
    Rates,
    mean_handling_hours,
    rank,
    ranked,
    score,
    score_weights,
)


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


def test_metric_names_are_the_stored_field_names():
    assert Metric.CLOSED_ON_TIME == "closed_on_time" and Metric.CLOSED.weighted == "w_closed"
    assert {m.value for m in WEIGHTED} == {"received", "registered", "dispatched", "handled", "reworked", "closed",
                                           "closed_on_time"}


def test_kpis_compute_every_rate_once_from_the_counters():
    counters = Counters({"closed": 90, "closed_on_time": 80, "handled": 95, "dispatched": 100, "reworked": 5,
                         "w_closed": 90, "w_closed_on_time": 80, "w_handled": 95, "w_dispatched": 100,
                         "handled_n": 2, "handling_s": 7200}).with_gauge(OverdueGauge(10, 30.0))
    k = Kpis.of(counters)
    assert k.rates == Rates.from_counters(counters) and k.rates.closure_rate == 0.9
    assert k.weighted.due == 120 and k.weighted.closure_rate == 0.75
    assert k.score == score(k.weighted) and k.mean_handling_hours == 1.0
    assert k.overdue == OverdueGauge(10, 30.0)
    assert k.as_dict()["counters"]["overdue_open"] == 10 and k.as_dict()["weighted_closure_rate"] == 0.75


def test_counters_are_read_only_and_zero_when_absent():
    c = Counters({Metric.RECEIVED: 3})
    assert c == {"received": 3} and c.of(Metric.CLOSED) == 0 and list(c) == ["received"] and list(c.values()) == [3]
    with pytest.raises(TypeError):
        c.by_name["received"] = 4  # type: ignore[index]


def test_ranked_shares_ranks_and_serialises_like_the_snapshot():
    best = Kpis.of(Counters({"closed": 1}))
    worse = Kpis.of(Counters({"closed": 1}).with_gauge(OverdueGauge(1, 1.0)))
    rows = ranked({"b": best, "a": best, "c": worse})
    assert [(r.rank, r.id) for r in rows] == [(1, "a"), (1, "b"), (3, "c")]
    assert list(rows[0].as_dict())[:4] == ["rank", "id", "score", "counters"]


def test_per_kind_fields_keep_their_stored_names():
    assert Metric.CAPTURES.per("street_vending") == "captures:street_vending"
    assert "captures:x".startswith(Metric.CAPTURES.per(""))
    assert (Metric.CAPTURES_SET_ASIDE.value, Metric.EXPIRED.value) == ("captures_set_aside", "expired")
