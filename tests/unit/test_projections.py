"""Pure projection rules: which Redis writes a case event, envelope, capture or command causes."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from cityops import keys
from cityops.catalogue import get_catalogue
from cityops.schemas import CaseAction, CaseEvent, CaseSource
from cityops.workcalendar import WorkCalendar
from fixtures.xiamen import load_city
from streams.case_projection import CaseContext, CaseView, ProjectionError
from streams.case_projection import project_case_event as _project

TZ = ZoneInfo("Asia/Shanghai")
T = datetime(2026, 11, 24, 10, 30, tzinfo=TZ)


@pytest.fixture(scope="module")
def city():
    return load_city()


def project_case_event(event, view, city, tz):
    return _project(event, view, CaseContext(city, get_catalogue(), WorkCalendar.load(tz=tz), tz))


def ev(action: CaseAction, **kw) -> CaseEvent:
    return CaseEvent(event_id=f"X-{action.value}", case_id="X", action=action, event_time=kw.pop("t", T), **kw)


def ops_by_key(eff) -> dict[str, list[tuple]]:
    out: dict[str, list[tuple]] = {}
    for op in eff.ops:
        out.setdefault(op[1], []).append(op)
    return out


def test_report_locates_the_case_and_counts_it_everywhere(city):
    eff, view = project_case_event(ev(CaseAction.REPORT, source=CaseSource.CITIZEN_APP, category_code="E0101",
                                      lon=118.0894, lat=24.4798), None, city, TZ)
    grid = city.grid_at(118.0894, 24.4798)
    assert (view.grid, view.district) == (grid.code, "350203")
    by_key = ops_by_key(eff)
    for scope, sid in [("city", "350200"), ("district", "350203"), ("street", grid.street_code),
                       ("community", grid.community_code), ("grid", grid.code), ("category", "E0101"),
                       ("source", "citizen_app")]:
        for key in (keys.kpi_daily("20261124", scope, sid), keys.kpi_hourly("2026112410", scope, sid)):
            assert ("HINCRBY", key, "received", "1", "") in by_key[key], key
    case_ops = {op[2]: op[3] for op in by_key[keys.case("X")]}
    assert case_ops["state"] == "reported" and case_ops["grid"] == grid.code


def test_later_steps_use_the_stored_view_and_department(city):
    _, view = project_case_event(ev(CaseAction.REPORT, source=CaseSource.GRID_PATROL, category_code="E0101"),
                                 None, city, TZ)
    assert view.district == "unlocated"
    _, view = project_case_event(ev(CaseAction.REGISTER), view, city, TZ)
    eff, view = project_case_event(ev(CaseAction.DISPATCH, department_id="CITY-ENFORCE"), view, city, TZ)
    assert view.department == "CITY-ENFORCE"
    assert keys.kpi_daily("20261124", "department", "CITY-ENFORCE") in ops_by_key(eff)
    # a step late in the evening lands in that local day's bucket, not UTC's
    eff, _ = project_case_event(ev(CaseAction.VOID, t=datetime(2026, 11, 24, 23, 30, tzinfo=TZ)), view, city, TZ)
    assert keys.kpi_daily("20261124", "city", "350200") in ops_by_key(eff)


def test_projection_refuses_impossible_events(city):
    with pytest.raises(ProjectionError, match="never reported"):
        project_case_event(ev(CaseAction.CLOSE), None, city, TZ)
    _, view = project_case_event(ev(CaseAction.REPORT, source=CaseSource.GRID_PATROL, category_code="E0101"),
                                 None, city, TZ)
    with pytest.raises(ProjectionError, match="already reported"):
        project_case_event(ev(CaseAction.REPORT, source=CaseSource.GRID_PATROL, category_code="E0101"), view,
                           city, TZ)
    with pytest.raises(ProjectionError, match="close is not allowed when the case is reported"):
        project_case_event(ev(CaseAction.CLOSE), view, city, TZ)
    _, view = project_case_event(ev(CaseAction.REGISTER), view, city, TZ)
    with pytest.raises(ProjectionError, match="unknown department"):
        project_case_event(ev(CaseAction.DISPATCH, department_id="NOPE"), view, city, TZ)
    with pytest.raises(ProjectionError, match="unknown grid"):
        project_case_event(ev(CaseAction.REPORT, source=CaseSource.GRID_PATROL, category_code="E0101",
                              grid_id="999999999999999"), None, city, TZ)


def test_view_round_trips_through_the_case_hash(city):
    _, view = project_case_event(ev(CaseAction.REPORT, source=CaseSource.GRID_PATROL, category_code="E0101",
                                    lon=118.0894, lat=24.4798), None, city, TZ)
    stored = {k: str(v) for k, v in view.as_hash().items()}
    assert CaseView.from_hash("X", stored) == view
    assert CaseView.from_hash("X", {}) is None


def test_first_dispatch_attributes_the_case_to_the_department(city):
    day1 = datetime(2026, 11, 23, 23, 50, tzinfo=TZ)
    _, view = project_case_event(ev(CaseAction.REPORT, source=CaseSource.GRID_PATROL, category_code="E0101", t=day1),
                                 None, city, TZ)
    _, view = project_case_event(ev(CaseAction.REGISTER, t=day1), view, city, TZ)
    eff, view = project_case_event(ev(CaseAction.DISPATCH, department_id="CITY-ENFORCE"), view, city, TZ)
    dept_day1 = [op for op in eff.ops if op[1] == keys.kpi_daily("20261123", "department", "CITY-ENFORCE")
                 and op[0] == "HINCRBY"]
    assert {op[2] for op in dept_day1} == {"received", "registered", "w_received", "w_registered"}
    eff, _ = project_case_event(ev(CaseAction.DISPATCH, department_id="CITY-ENFORCE"), view, city, TZ)
    assert not any(op[2] == "registered" for op in eff.ops)  # a re-dispatch is not a new case for anyone


def _ctx(city):
    return CaseContext(city, get_catalogue(), WorkCalendar.load(tz=TZ), TZ)


def _walk(city, steps):
    view = None
    effs = []
    for i, (action, t, kw) in enumerate(steps):
        event = CaseEvent(event_id=f"Y-{i}", case_id="Y", action=action, event_time=t, **kw)
        eff, view = _project(event, view, _ctx(city))
        effs.append(eff)
    return view, effs


def test_sla_clock_follows_the_stages(city):
    t0 = datetime(2026, 11, 20, 16, 0, tzinfo=TZ)  # a Friday afternoon
    report = {"source": CaseSource.GRID_PATROL, "category_code": "E0102", "lon": 118.0894, "lat": 24.4798}
    view, effs = _walk(city, [(CaseAction.REPORT, t0, report)])
    assert view.stage == "register" and view.deadline == "2026-11-20T16:30:00+08:00"  # 30 working minutes
    assert ("ZADD", keys.sla_clock(), repr(datetime.fromisoformat(view.deadline).timestamp()), "Y", "") in effs[0].ops
    view, _ = _walk(city, [(CaseAction.REPORT, t0, report), (CaseAction.REGISTER, t0, {}),
                           (CaseAction.DISPATCH, t0, {"department_id": "DSAN-350203"})])
    # exposed garbage: 2 working hours from Friday 16:00 → Friday 18:00
    assert (view.stage, view.deadline) == ("handle", "2026-11-20T18:00:00+08:00")
    view, effs = _walk(city, [(CaseAction.REPORT, t0, report), (CaseAction.REGISTER, t0, {}),
                              (CaseAction.DISPATCH, t0, {"department_id": "DSAN-350203"}),
                              (CaseAction.EXTEND, t0, {"extension": "1d", "approver": "值班长"})])
    assert view.deadline == "2026-11-23T18:00:00+08:00"  # +7 working hours: Monday evening


def test_late_handling_is_not_closed_on_time(city):
    t0 = datetime(2026, 11, 24, 9, 0, tzinfo=TZ)
    late = datetime(2026, 11, 24, 16, 0, tzinfo=TZ)  # after the 2-working-hour limit
    base = [(CaseAction.REPORT, t0, {"source": CaseSource.GRID_PATROL, "category_code": "E0504"}),
            (CaseAction.REGISTER, t0, {}), (CaseAction.DISPATCH, t0, {"department_id": "CITY-ENFORCE"})]
    for handled_at, on_time in ((late, False), (t0, True)):
        view, effs = _walk(city, base + [(CaseAction.HANDLE, handled_at, {}), (CaseAction.VERIFY, handled_at, {}),
                                         (CaseAction.CLOSE, handled_at, {})])
        close_fields = {op[2] for op in effs[-1].ops if op[0] == "HINCRBY"}
        assert ("closed_on_time" in close_fields) is on_time
        assert "w_closed" in close_fields  # weighted: 店外经营 counts 2
        w = [op for op in effs[-1].ops if op[2] == "w_closed"][0]
        assert w[3] == "2"
        assert view.stage == "" and view.deadline == ""  # verified/closed: no clock runs
        assert ("ZREM", keys.sla_clock(), "Y", "", "") in effs[-1].ops


def test_late_steps_land_in_their_own_bucket_and_too_late_ones_are_refused(city):
    from streams.case_projection import LateEvent

    t0 = datetime(2026, 11, 24, 15, 0, tzinfo=TZ)
    view, _ = _walk(city, [(CaseAction.REPORT, t0 - timedelta(minutes=90),
                            {"source": CaseSource.GRID_PATROL, "category_code": "E0101"}),
                           (CaseAction.REGISTER, t0, {})])
    ctx = _ctx(city)
    one_hour_early = CaseEvent(event_id="Y-a", case_id="Y", action=CaseAction.VOID,
                               event_time=datetime(2026, 11, 24, 14, 0, tzinfo=TZ))
    eff, after = _project(one_hour_early, view, ctx)
    assert keys.kpi_hourly("2026112414", "city", "350200") in {op[1] for op in eff.ops}  # its own hour
    assert after.updated_at == t0.isoformat()  # the latest step stays the reference
    too_late = CaseEvent(event_id="Y-b", case_id="Y", action=CaseAction.VOID,
                         event_time=datetime(2026, 11, 24, 12, 59, tzinfo=TZ))
    with pytest.raises(LateEvent, match="2.0 h behind"):
        _project(too_late, view, ctx)


def test_the_next_step_ends_the_overdue_alert_of_the_stage_it_leaves(city):
    from cityops.alerts import sla_alert_id

    _, view = project_case_event(ev(CaseAction.REPORT, source=CaseSource.GRID_PATROL, category_code="E0101"),
                                 None, city, TZ)
    assert view.stage and view.deadline
    alert = sla_alert_id("X", view.stage, datetime.fromisoformat(view.deadline).timestamp())
    eff, _ = project_case_event(ev(CaseAction.REGISTER), view, city, TZ)
    assert ("ZREM", keys.active_alerts(), alert, "", "") in eff.ops
    assert ("HSETXX", keys.alert(alert), "state", "cleared", "") in eff.ops  # only if the timer raised it


def test_the_department_queue_and_a_return_with_its_own_dispatch_clock(city):
    """A dispatched case is in its department's queue by its handling deadline; 退回 takes it out, back to the
    centre with a dispatch clock started at the return; a re-dispatch puts it in the new department's queue."""
    _, view = project_case_event(ev(CaseAction.REPORT, source=CaseSource.GRID_PATROL, category_code="E0101",
                                    lon=118.0894, lat=24.4798), None, city, TZ)
    _, view = project_case_event(ev(CaseAction.REGISTER), view, city, TZ)
    eff, view = project_case_event(ev(CaseAction.DISPATCH, department_id="CITY-ENFORCE"), view, city, TZ)
    queue = keys.department_queue("CITY-ENFORCE")
    due = datetime.fromisoformat(view.handle_deadline).timestamp()
    assert ("ZADD", queue, repr(due), "X", "") in eff.ops
    back_at = T + timedelta(hours=1)
    eff, view = project_case_event(ev(CaseAction.RETURN, t=back_at, description="不属于执法局"), view, city, TZ)
    assert view.state == "registered" and view.stage == "dispatch"
    assert ("ZREM", queue, "X", "") in [op[:4] for op in eff.ops]
    dispatch_limit = get_catalogue().get("E0101").sla["dispatch"]
    assert datetime.fromisoformat(view.deadline) == WorkCalendar.load(tz=TZ).add(back_at, dispatch_limit)
    assert ("HINCRBY", keys.kpi_daily("20261124", "city", "350200"), "returned", "1", "") in eff.ops
    eff, view = project_case_event(ev(CaseAction.DISPATCH, t=back_at + timedelta(minutes=5),
                                      department_id="CITY-MUNI"), view, city, TZ)
    assert any(op[:2] == ("ZADD", keys.department_queue("CITY-MUNI")) for op in eff.ops)
    assert ("ZREM", queue, "X", "") in [op[:4] for op in eff.ops]
    eff, view = project_case_event(ev(CaseAction.HANDLE, t=back_at + timedelta(hours=1)), view, city, TZ)
    assert ("ZREM", keys.department_queue("CITY-MUNI"), "X", "") in [op[:4] for op in eff.ops]
    with pytest.raises(ValueError, match="needs its reason"):
        ev(CaseAction.RETURN)
