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
    department_score_weights,
    mean_handling_hours,
    rank,
    ranked,
    score,
    score_weights,
    weighted_rates,
)

CASES = {"reg": 110, "due": 100, "closed": 90, "on_time": 80, "due_handle": 100, "handled": 95,
         "handled_on_time": 85, "reworked": 5, "rework_n": 12, "self_handled": 11, "extended": 22}


def test_rates_count_cases_of_the_cohort():
    r = Rates.from_cases(CASES)
    assert r.due == 100
    assert (r.closure_rate, r.on_time_rate, r.handling_rate, r.on_time_handling_rate, r.rework_rate) == \
        (0.9, 0.8, 0.95, 0.85, 0.05)  # rework: cases reworked, not reworks (12)
    assert (r.self_handling_rate, r.extension_rate) == (0.1, 0.2)


def test_only_closure_and_on_time_are_weighted_unless_configured(monkeypatch):
    c = {"due": 2, "closed": 2, "on_time": 1, "w_due": 7, "w_closed": 2, "w_on_time": 1, "due_handle": 2,
         "handled": 2, "w_due_handle": 7, "w_handled": 2}
    assert Rates.from_cases(c).closure_rate == 1.0
    w = Rates.from_cases(c, weighted_rates())
    assert w.closure_rate == pytest.approx(2 / 7) and w.on_time_rate == pytest.approx(1 / 7)
    assert w.handling_rate == 1.0  # plain
    monkeypatch.setenv("CITYOPS_WEIGHTED_RATES", "closure,handling")
    w = Rates.from_cases(c, weighted_rates())
    assert w.handling_rate == pytest.approx(2 / 7) and w.on_time_rate == 0.5
    monkeypatch.setenv("CITYOPS_WEIGHTED_RATES", "speed")
    with pytest.raises(ValueError, match="CITYOPS_WEIGHTED_RATES"):
        weighted_rates()


def test_empty_period_has_no_rates_and_a_full_score():
    r = Rates.from_cases({})
    assert r.closure_rate is None and r.handling_rate is None
    assert score(r) == 100.0


def test_score_formula_and_configuration(monkeypatch):
    r = Rates.from_cases(CASES)
    assert score(r) == pytest.approx(100 * (0.3 * 0.9 + 0.4 * 0.8 + 0.2 * 0.95 + 0.1 * 0.95))
    assert score(r, department_score_weights()) == pytest.approx(100 * (0.3 * 0.95 + 0.5 * 0.85 + 0.2 * 0.95))
    monkeypatch.setenv("CITYOPS_SCORE_WEIGHTS", "closure=0.5,on_time=0.5,handling=0,rework=0")
    assert score(r, score_weights()) == pytest.approx(85.0)
    monkeypatch.setenv("CITYOPS_SCORE_WEIGHTS", "closure=0.5,on_time=0.6,handling=0,rework=0")
    with pytest.raises(ValueError, match="sum to 1"):
        score_weights()
    monkeypatch.setenv("CITYOPS_SCORE_WEIGHTS", "speed=1")
    with pytest.raises(ValueError, match="unknown rate"):
        score_weights()
    monkeypatch.setenv("CITYOPS_DEPARTMENT_SCORE_WEIGHTS", "handling=x")
    with pytest.raises(ValueError, match="not a number"):
        department_score_weights()


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


def test_kpis_compute_every_rate_once_from_the_cohort():
    counters = Counters({"closed": 7, "handled_n": 2, "handling_s": 7200}).with_gauge(OverdueGauge(10, 30.0))
    cases = {**CASES, "w_due": 120, "w_closed": 90, "w_on_time": 80}
    k = Kpis.of(counters, cases)
    assert k.rates == Rates.from_cases(cases) and k.rates.closure_rate == 0.9
    assert k.weighted.closure_rate == 0.75 and k.weighted.on_time_rate == pytest.approx(80 / 120)
    assert k.score == score(k.weighted) and k.mean_handling_hours == 1.0
    assert k.overdue == OverdueGauge(10, 30.0)
    d = k.as_dict()
    assert d["counters"]["overdue_open"] == 10 and d["weighted_closure_rate"] == 0.75 and d["cases"]["reg"] == 110
    department = Kpis.of(counters, cases, department=True)
    assert department.score == score(department.weighted, department_score_weights())


def test_counters_are_read_only_and_zero_when_absent():
    c = Counters({Metric.RECEIVED: 3})
    assert c == {"received": 3} and c.of(Metric.CLOSED) == 0 and list(c) == ["received"] and list(c.values()) == [3]
    with pytest.raises(TypeError):
        c.by_name["received"] = 4  # type: ignore[index]


def test_ranked_shares_ranks_and_serialises_like_the_snapshot():
    best = Kpis.of(Counters({"closed": 1}), {"due": 1, "closed": 1, "w_due": 1, "w_closed": 1})
    worse = Kpis.of(Counters({"closed": 1}), {"due": 2, "closed": 1, "w_due": 2, "w_closed": 1})
    rows = ranked({"b": best, "a": best, "c": worse})
    assert [(r.rank, r.id) for r in rows] == [(1, "a"), (1, "b"), (3, "c")]
    assert list(rows[0].as_dict())[:4] == ["rank", "id", "score", "counters"]


def test_per_kind_fields_keep_their_stored_names():
    assert Metric.CAPTURES.per("street_vending") == "captures:street_vending"
    assert "captures:x".startswith(Metric.CAPTURES.per(""))
    assert (Metric.CAPTURES_SET_ASIDE.value, Metric.EXPIRED.value) == ("captures_set_aside", "expired")
