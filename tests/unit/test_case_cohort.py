"""The KPI cohort rule (docs/metrics.md, "Case KPIs"): which milestones a case's steps reach, on which day, in
whose scope; read as of a period's end, as cityops/read/kpi_cohort.py does."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from cityops import keys
from cityops.catalogue import get_catalogue
from cityops.metrics import Counters, Kpis
from cityops.schemas import CaseAction, CaseEvent, CaseSource, ParkKind
from cityops.workcalendar import WorkCalendar
from fixtures.xiamen import load_city
from streams.case_cohort import CohortState, split_field
from streams.case_projection import CaseContext, ProjectionError, overdue_scopes, project_case_event

TZ = ZoneInfo("Asia/Shanghai")
TUE = datetime(2026, 11, 24, 9, 0, tzinfo=TZ)  # a Tuesday morning: a 2-hour limit ends the same morning
DEPT, OTHER = "DSAN-350203", "DSAN-350206"
REPORT = {"source": CaseSource.GRID_PATROL, "category_code": "E0102", "lon": 118.0894, "lat": 24.4798}  # 暴露垃圾, 2h


@pytest.fixture(scope="module")
def ctx() -> CaseContext:
    return CaseContext(load_city(), get_catalogue(), WorkCalendar.load(tz=TZ), TZ)


class Case:
    """One case walked through the projection, its cohort writes kept as Redis would (HINCRBY)."""

    def __init__(self, ctx: CaseContext, case_id: str = "K1") -> None:
        self.ctx, self.case_id, self.view, self.n = ctx, case_id, None, 0
        self.hashes: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))

    def step(self, action: CaseAction, t: datetime, **kw: object) -> Case:
        self.n += 1
        event = CaseEvent(event_id=f"{self.case_id}-{self.n}", case_id=self.case_id, action=action, event_time=t,
                          **kw)
        eff, self.view = project_case_event(event, self.view, self.ctx)
        for op, key, fieldname, amount, _ in eff.ops:
            if op == "HINCRBY" and key.startswith("co:cohort:"):
                self.hashes[key][fieldname] += int(amount)
        return self

    def opened(self, t: datetime = TUE) -> Case:
        return self.step(CaseAction.REPORT, t, **REPORT).step(CaseAction.REGISTER, t + timedelta(minutes=5))

    def as_of(self, first: date, last: date, scope: str = "city", scope_id: str = "350200") -> dict[str, int]:
        """The cohort counts of first…last as of last (the read side's rule, on these writes)."""
        total: dict[str, int] = defaultdict(int)
        day = first
        while day <= last:
            for name, value in self.hashes.get(keys.cohort(day.strftime("%Y%m%d"), scope, scope_id), {}).items():
                milestone, when = split_field(name)
                if when <= last.strftime("%Y%m%d"):
                    total[milestone] += value
            day += timedelta(days=1)
        return {k: v for k, v in total.items() if v}

    @property
    def handle_deadline(self) -> datetime:
        return datetime.fromisoformat(self.view.handle_deadline)


D24, D25, D26 = date(2026, 11, 24), date(2026, 11, 25), date(2026, 11, 26)


def test_a_case_closed_on_time_the_same_day(ctx):
    c = Case(ctx).opened()
    c.step(CaseAction.DISPATCH, TUE + timedelta(minutes=10), department_id=DEPT)
    assert c.handle_deadline.date() == D24
    c.step(CaseAction.HANDLE, TUE + timedelta(minutes=40)).step(CaseAction.VERIFY, TUE + timedelta(minutes=50))
    c.step(CaseAction.CLOSE, TUE + timedelta(minutes=55))
    day = c.as_of(D24, D24)
    assert day == {"reg": 1, "due": 1, "closed": 1, "on_time": 1, "due_handle": 1, "handled": 1,
                   "handled_on_time": 1, "w_due": 1, "w_closed": 1, "w_on_time": 1, "w_due_handle": 1, "w_handled": 1,
                   "w_handled_on_time": 1}
    assert c.as_of(D24, D24, "department", DEPT)["closed"] == 1
    k = Kpis.of(Counters({}), day)
    assert (k.rates.closure_rate, k.rates.on_time_rate, k.rates.handling_rate) == (1.0, 1.0, 1.0)


def test_a_late_case_is_due_on_its_deadline_day_and_a_closed_day_never_changes(ctx):
    """Dispatched Tuesday afternoon with a limit running into Wednesday; handled and closed Thursday."""
    c = Case(ctx).opened(TUE.replace(hour=16))
    c.step(CaseAction.DISPATCH, TUE.replace(hour=16, minute=20), department_id=DEPT)
    deadline_day = c.handle_deadline.date()
    assert deadline_day == D25
    assert c.as_of(D24, D24) == {"reg": 1}  # Tuesday: registered, nothing due yet
    before = c.as_of(D25, D25)
    c.step(CaseAction.HANDLE, datetime(2026, 11, 26, 10, 0, tzinfo=TZ))  # 逾期处置
    c.step(CaseAction.VERIFY, datetime(2026, 11, 26, 10, 30, tzinfo=TZ))
    c.step(CaseAction.CLOSE, datetime(2026, 11, 26, 10, 40, tzinfo=TZ))
    assert c.as_of(D24, D24) == {"reg": 1} and c.as_of(D25, D25) == before  # a day over never changes
    assert c.as_of(D24, D25) == {"reg": 1, "due": 1, "due_handle": 1, "w_due": 1, "w_due_handle": 1}
    week = c.as_of(D24, D26)  # the week: due on Wednesday, closed late on Thursday, and counted as such
    assert week["closed"] == 1 and week["handled_late"] == 1 and "on_time" not in week
    assert "handled_on_time" not in week and week["due"] == 1


def test_rates_count_cases_and_rework_is_a_figure_of_its_own(ctx):
    c = Case(ctx).opened()
    c.step(CaseAction.DISPATCH, TUE + timedelta(minutes=10), department_id=DEPT)
    t = TUE + timedelta(minutes=20)
    for _ in range(3):
        c.step(CaseAction.HANDLE, t).step(CaseAction.REWORK, t + timedelta(minutes=5))
        t += timedelta(minutes=10)
    counts = c.as_of(D24, D26)
    assert (counts["handled"], counts["reworked"], counts["rework_n"]) == (1, 1, 3)


def test_on_the_spot_handling_is_self_handled_and_due_at_its_close(ctx):
    c = Case(ctx).opened()
    c.step(CaseAction.HANDLE, TUE + timedelta(minutes=6)).step(CaseAction.VERIFY, TUE + timedelta(minutes=20))
    assert c.as_of(D24, D24)["self_handled"] == 1 and "due" not in c.as_of(D24, D24)
    c.step(CaseAction.CLOSE, TUE + timedelta(days=1))
    assert c.as_of(D24, D24).get("due") is None  # Tuesday's figures as of Tuesday: not due yet
    assert c.as_of(D24, D25)["due"] == 1 and c.as_of(D24, D25)["on_time"] == 1


def test_an_extension_moves_the_due_day_and_a_late_one_is_refused(ctx):
    c = Case(ctx).opened()
    c.step(CaseAction.DISPATCH, TUE + timedelta(minutes=10), department_id=DEPT)
    deadline = c.handle_deadline
    c.step(CaseAction.EXTEND, deadline - timedelta(minutes=1), extension="2d", approver="王科长")
    assert c.handle_deadline.date() > D25
    assert "due" not in c.as_of(D24, D25) and c.as_of(D24, D24)["extended"] == 1
    with pytest.raises(ProjectionError, match="after the handling deadline"):
        c.step(CaseAction.EXTEND, c.handle_deadline + timedelta(minutes=1), extension="1d", approver="王科长")


def test_a_parked_case_leaves_the_denominator_until_it_resumes(ctx):
    c = Case(ctx).opened()
    c.step(CaseAction.DISPATCH, TUE + timedelta(minutes=10), department_id=DEPT)
    c.step(CaseAction.PARK, TUE + timedelta(minutes=30), approver="王科长", park_kind=ParkKind.POSTPONED)
    assert c.view.state == "parked" and c.view.stage == ""  # its clock stopped
    assert c.as_of(D24, D24) == {"reg": 1, "parked": 1}
    c.step(CaseAction.RESUME, datetime(2026, 11, 26, 9, 0, tzinfo=TZ))
    assert c.handle_deadline.date() == D26
    assert c.as_of(D24, D25) == {"reg": 1, "parked": 1}
    assert c.as_of(D24, D26) == {"reg": 1, "due": 1, "due_handle": 1, "w_due": 1, "w_due_handle": 1}


def test_a_case_sent_to_another_department_moves_there_from_that_day(ctx):
    c = Case(ctx).opened()
    c.step(CaseAction.DISPATCH, TUE + timedelta(minutes=10), department_id=DEPT)
    c.step(CaseAction.DISPATCH, TUE + timedelta(days=1, minutes=-30), department_id=OTHER)  # 退回重派 before the limit
    assert c.as_of(D24, D24, "department", DEPT)["reg"] == 1  # Tuesday's figures keep it where it was
    assert c.as_of(D24, D25, "department", DEPT) == {}
    assert c.as_of(D24, D25, "department", OTHER)["reg"] == 1
    assert c.as_of(D24, D25)["reg"] == 1  # the city counts it once


def test_centre_delays_are_the_centres_not_the_departments(ctx):
    c = Case(ctx).opened()
    late = datetime.fromisoformat(c.view.deadline) + timedelta(minutes=5)  # the dispatch clock ran out
    c.step(CaseAction.DISPATCH, late, department_id=DEPT)
    assert c.as_of(D24, D24)["late_dispatch"] == 1
    assert "late_dispatch" not in c.as_of(D24, D24, "department", DEPT)
    view = c.view
    assert ("department", DEPT) not in overdue_scopes(view, "350200", "dispatch")
    assert ("centre", "350200") in overdue_scopes(view, "350200", "verify")
    assert ("department", DEPT) in overdue_scopes(view, "350200", "handle")


def test_a_voided_case_is_not_due(ctx):
    c = Case(ctx).opened()
    c.step(CaseAction.DISPATCH, TUE + timedelta(minutes=10), department_id=DEPT)
    c.step(CaseAction.VOID, TUE + timedelta(minutes=20))
    assert c.as_of(D24, D26) == {"reg": 1, "voided": 1}


def test_a_step_before_the_report_is_refused_and_the_case_keeps_its_steps(ctx):
    c = Case(ctx).opened()
    with pytest.raises(ProjectionError, match="before the case's report"):
        c.step(CaseAction.DISPATCH, TUE - timedelta(hours=1), department_id=DEPT)
    assert c.view.state == "registered" and c.as_of(D24, D24) == {"reg": 1}


def test_the_cohort_state_survives_the_case_hash():
    state = CohortState(day="20261124", held={"reg": 1, "rework_n": 2})
    state.due.at, state.due.day, state.department = "2026-11-25T10:00:00+08:00", "20261125", DEPT
    assert CohortState.loads(state.dumps()) == state
    assert CohortState.loads("") == CohortState() and CohortState().dumps() == ""
    with pytest.raises(ValueError):
        split_field("closed@2026")
