"""Case search's pure parts: the day indexes the case projection writes, the query's checks, index choice and
filters, the cursor, and the window summaries the sensor read computes."""

from __future__ import annotations

import math
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from cityops import keys
from cityops.catalogue import get_catalogue
from cityops.read.case_search import CaseQuery, Cursor, SearchError, parse_states
from cityops.read.sensor_windows import summarise
from cityops.schemas import CaseAction, CaseEvent, CaseSource
from cityops.workcalendar import WorkCalendar
from fixtures.xiamen import load_city
from streams.case_projection import CLOSED_CASE_RETENTION_S, CaseContext, project_case_event

TZ = ZoneInfo("Asia/Shanghai")
T = datetime(2026, 11, 24, 0, 30, tzinfo=TZ)  # just after local midnight: 2026-11-23 in UTC, the 24th here
D = date(2026, 11, 24)


@pytest.fixture(scope="module")
def ctx() -> CaseContext:
    return CaseContext(load_city(), get_catalogue(), WorkCalendar.load(tz=TZ), TZ)


def ev(action: CaseAction, **kw) -> CaseEvent:
    return CaseEvent(event_id=f"S-{action.value}", case_id="S", action=action, event_time=kw.pop("t", T), **kw)


def index_ops(eff) -> dict[str, list[tuple]]:
    out: dict[str, list[tuple]] = {}
    for op in eff.ops:
        if op[1].startswith(keys.cases_by_day("", "", "").split("::")[0]):
            out.setdefault(op[1], []).append(op[:4])
    return out


def test_a_report_enters_the_day_index_of_each_search_scope_with_the_cases_retention(ctx):
    eff, view = project_case_event(ev(CaseAction.REPORT, source=CaseSource.CITIZEN_APP, category_code="E0101",
                                      lon=118.0894, lat=24.4798), None, ctx)
    ops = index_ops(eff)
    expected = {("city", "350200"), ("district", view.district), ("street", view.street),
                ("category", "E0101"), ("source", "citizen_app")}  # no grid or community index (keys.py says why)
    assert set(ops) == {keys.cases_by_day("20261124", s, i) for s, i in expected}  # the local day, not UTC's
    for key, key_ops in ops.items():
        assert key_ops == [("ZADD", key, repr(T.timestamp()), "S"), ("EXPIRE", key, str(CLOSED_CASE_RETENTION_S), "")]


def test_an_unlocated_report_is_indexed_under_the_unlocated_district_only(ctx):
    eff, _ = project_case_event(ev(CaseAction.REPORT, source=CaseSource.HOTLINE_12345, category_code="E0101"),
                                None, ctx)
    scopes = {tuple(k.split(":")[4:6]) for k in index_ops(eff)}
    assert scopes == {("city", "350200"), ("district", "unlocated"), ("category", "E0101"),
                      ("source", "hotline_12345")}


def test_a_reclassifying_registration_moves_the_case_to_its_new_category_index(ctx):
    _, view = project_case_event(ev(CaseAction.REPORT, source=CaseSource.CITIZEN_APP, category_code="E0101",
                                    lon=118.0894, lat=24.4798), None, ctx)
    later = datetime(2026, 11, 25, 9, 0, tzinfo=TZ)  # registered the next day: the report's day index still
    _, view = project_case_event(ev(CaseAction.ACCEPT, t=later), view, ctx)
    eff, view = project_case_event(ev(CaseAction.REGISTER, t=later, category_code="E0102"), view, ctx)
    ops = index_ops(eff)
    old, new = keys.cases_by_day("20261124", "category", "E0101"), keys.cases_by_day("20261124", "category", "E0102")
    assert ops == {old: [("ZREM", old, "S", "")],
                   new: [("ZADD", new, repr(T.timestamp()), "S"), ("EXPIRE", new, str(CLOSED_CASE_RETENTION_S), "")]}
    eff, _ = project_case_event(ev(CaseAction.DISPATCH, t=later, department_id=view.department or "CITY-ENFORCE"),
                                view, ctx)
    assert not index_ops(eff)  # other steps leave the index alone


def test_the_query_refuses_bad_parameters_naming_the_field():
    with pytest.raises(SearchError) as err:
        CaseQuery(D, date(2026, 11, 1))
    assert err.value.field == "to"
    with pytest.raises(SearchError) as err:
        CaseQuery(date(2024, 1, 1), D)
    assert err.value.field == "from"
    for limit in (0, 501):
        with pytest.raises(SearchError) as err:
            CaseQuery(D, D, limit=limit)
        assert err.value.field == "limit"
    with pytest.raises(SearchError) as err:
        CaseQuery(D, D, states=parse_states("open,lost"))
    assert err.value.field == "status" and "'lost'" in err.value.reason


def test_the_finest_filter_picks_the_index_and_every_filter_is_checked_on_the_hash():
    q = CaseQuery(D, D, district="350203", grid="G1", category="E0101", states=parse_states("open"), overdue=True)
    assert q.index_scope("350200", {"G1": "S1"}.get) == ("street", "S1")  # a grid is found through its street's day
    assert q.index_scope("350200") == ("district", "350203")  # without the city's map: the next index
    assert CaseQuery(D, D, district="350203", source="drone").index_scope("350200") == ("district", "350203")
    assert CaseQuery(D, D, source="drone").index_scope("350200") == ("source", "drone")
    assert CaseQuery(D, D).index_scope("350200") == ("city", "350200")
    row = {"state": "dispatched", "district": "350203", "grid": "G1", "category": "E0101", "overdue": "1"}
    assert q.matches(row)
    for change in ({"district": "350206"}, {"category": "E0102"}, {"state": "closed"}, {"overdue": "0"},
                   {"state": ""}):
        assert not q.matches(row | change), change
    assert not q.matches({})  # the case's hash has gone: its index entry is left out
    assert CaseQuery(D, D, overdue=False).matches(row | {"state": "closed"})  # a closed case is overdue no more


def test_community_supervised_and_text_filters():
    q = CaseQuery(D, D, street="S1", community="C1", escalated=True, text="  湖滨南路 ")
    assert q.index_scope("350200", {"C1": "S1"}.get) == ("street", "S1")
    row = {"state": "dispatched", "street": "S1", "community": "C1", "escalated": "1",
           "address": "思明区湖滨南路88号", "description": ""}
    assert q.matches(row)
    assert q.matches(row | {"address": "", "description": "在湖滨南路口占道"})  # the description counts too
    for change in ({"community": "C2"}, {"escalated": "0"}, {"address": "莲前西路"}):
        assert not q.matches(row | change), change
    assert not q.matches({k: v for k, v in row.items() if k != "escalated"})  # never escalated: no flag at all
    assert CaseQuery(D, D, escalated=False).matches({"state": "reported"})
    assert CaseQuery(D, D, text="abc").matches({"state": "reported", "description": "xxABCxx"})  # any case
    for bad in ("", "   ", "x" * 101):
        with pytest.raises(SearchError) as err:
            CaseQuery(D, D, text=bad)
        assert err.value.field == "text"


def test_state_groups_expand():
    assert parse_states("final") == {"closed", "voided", "rejected"}
    assert "dispatched" in parse_states("open") and "closed" not in parse_states("open")
    assert parse_states("closed, handled") == {"closed", "handled"}


def test_a_cursor_round_trips_exactly_and_a_forged_one_is_refused_on_the_cursor_field():
    c = Cursor(1795483860.123456, "XM:2026/11+24")
    assert Cursor.decode(c.encode()) == c
    for bad in ("", "!!!", "bm90IGEgY3Vyc29y", Cursor(math.inf, "X").encode()):
        with pytest.raises(SearchError) as err:
            Cursor.decode(bad)
        assert err.value.field == "cursor"


def test_window_values_follow_the_kinds_aggregation():
    assert summarise("energy", 2, 2 * 10 ** 7.0, 71.0) == pytest.approx(70.0)
    assert summarise("mean", 4, 10.0, 7.0) == 2.5
    assert summarise("max", 4, 10.0, 7.0) == 7.0
