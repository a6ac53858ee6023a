"""The bookkeeping that judges a fault-injection run (``cityops/chaos.py``), on its own, so a judge that always
says PASS would fail here. The short run itself is ``tests/e2e/test_chaos_run.py``.
"""

from __future__ import annotations

from collections import Counter

from cityops.chaos import Comparison, Fault, Report, compare, due, plan_faults

# --------------------------------------------------------------------------------------------- the judge

REF: dict[str, object] = {
    "co:case:A": {"state": "closed"}, "co:timeline:A": ["r", "c"], "co:case:B": {"state": "dispatched"},
    "co:kpi:d:20261120:city:350200": {"received": "2", "closed": "1"},
    "co:kpi:d:20261120:district:350203": {"received": "2"},
}


def test_identical_models_pass():
    c = compare(REF, dict(REF))
    assert (c.differences, c.cases_lost, c.cases_counted_twice, c.cases_reference) == ([], 0, 0, 2)
    assert c.keys_compared == len(REF)


def test_a_lost_case_is_counted():
    model = {k: v for k, v in REF.items() if k != "co:case:B"}
    model["co:kpi:d:20261120:city:350200"] = {"received": "1", "closed": "1"}
    c = compare(REF, model)
    assert c.cases_lost == 1 and c.cases_counted_twice == 0
    assert c.differences == ["co:case:B", "co:kpi:d:20261120:city:350200"]


def test_a_case_counted_twice_is_counted():
    model = dict(REF) | {"co:kpi:d:20261120:city:350200": {"received": "3", "closed": "1"}}
    c = compare(REF, model)
    assert (c.cases_lost, c.cases_counted_twice, len(c.differences)) == (0, 1, 1)


def test_cases_and_city_counters_are_told_by_the_key_layout_not_by_guessing():
    # a case whose id ends like a timeline is a case; a district whose id holds ":city:" is not the city
    ref = REF | {"co:case:A:timeline": {"state": "reported"},
                 "co:kpi:d:20261120:district:x:city:350200": {"received": "5"}}
    c = compare(ref, {k: v for k, v in ref.items() if k != "co:case:A:timeline"})
    assert (c.cases_reference, c.cases_lost, c.cases_counted_twice) == (3, 1, 0)


def test_an_extra_key_is_a_difference():
    c = compare(REF, dict(REF) | {"co:seen:x": "1"})
    assert c.differences == ["co:seen:x"] and c.keys_compared == len(REF) + 1


def test_report_fails_on_any_difference_and_prints_the_table():
    ok = Report(faults=Counter({"worker SIGKILL": 2}), events_input=10, events_sent=12, events_applied=10,
                events_applied_reference=10, comparison=Comparison(5, [], 2, 0, 0))
    assert ok.ok
    table = ok.table()
    assert "| faults injected: worker SIGKILL" in table and "PASS" in table and "| differences" in table
    bad = Report(events_applied=10, events_applied_reference=10, comparison=Comparison(5, ["co:case:A"], 2, 0, 0))
    assert not bad.ok and "FAIL" in bad.table() and "co:case:A" in bad.table()
    assert not Report(comparison=Comparison(5, [], 2, 0, 0), events_applied=9, events_applied_reference=10).ok
    assert not Report().ok  # no comparison made: not a pass


def test_plan_spreads_every_fault_and_due_releases_them_in_order():
    plan = plan_faults(3, 1, 1, 30)
    assert Counter(f.kind for f in plan) == Counter({"worker SIGKILL": 3, "redis restart (AOF)": 1,
                                                      "broker stopped": 1})
    assert [f.at for f in plan] == sorted(f.at for f in plan) and all(0 < f.at < 1 for f in plan)
    assert len({f.at for f in plan}) == len(plan), "one fault at a time"
    assert next(f for f in plan if f.kind == "broker stopped").duration_s == 30
    assert due(plan, 0, 0.0) == []
    assert due(plan, 0, 0.31) == plan[:2]
    assert due(plan, 2, 0.31) == []
    assert due(plan, 2, 1.0) == plan[2:]
    assert plan_faults(0, 0, 0, 0) == [] and plan_faults(1, 0, 0, 0) == [Fault(0.25, "worker SIGKILL")]
