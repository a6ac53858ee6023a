"""Issue 16's acceptance: the read model's case KPIs equal an independent computation of docs/metrics.md.

The reference (``tests/support/kpi_reference.py``) is pandas on the raw case events, written from the text of
docs/metrics.md ("Case KPIs": the cohort rule and the table of figures), without the read model's code
(``streams/case_cohort.py``, ``streams/case_projection.py``, ``cityops/read/kpi_cohort.py``). The clock
arithmetic (``streams/sla.py``: when a stage's working-time limit runs out, what a 延期 adds; the work
calendar) is shared: it has its own tests. Its READINGs of the text are listed in its docstring.

The read model is built the way the case agent builds it: per batch of events (in event-time order), the
cases' hashes are read back (``CaseView.from_hash`` of ``co:case:{id}``), each event projected with
``project_case_event`` and the batch's effects applied by ``EffectWriter`` on a real Redis.

Data:
- A replayed LA 311 month: the 2020 sample (all of its rows are of January 2020, 1–3 January: one calendar
  month's rows); a deterministic subset, every third request by row number, to stay in the time budget.
- A simulated month: ``CaseDayPlanner`` (seed 7, 40 cases a day) for every day of October 2026, with its
  extensions, reworks, parkings and voids, plus a handful of hand-written cases for the steps the planner does
  not take (on-the-spot handling, a 延期 refused after the limit, a rework after the limit, a void after due).

Compared exactly: every figure (integers) of every city, district, street, category, source and department id
that has cases, for 2–3 days, an ISO week and the month; the rates (through ``period_kpis``) against the
rates of the reference's counts; and a closed day read at noon of the next day and at 08:00 of the day after
equals the reference as of that day's end.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from redis import Redis

from cityops.catalogue import get_catalogue
from cityops.schemas import CaseAction, CaseEvent, CaseSource
from cityops.settings import get_settings
from cityops.workcalendar import WorkCalendar
from fixtures.replay.common import ReplayReport
from fixtures.replay.la311 import build_events
from fixtures.simulator.cases import CaseDayPlanner
from fixtures.xiamen import load_city
from tests.support.kpi_reference import ALL_FIGURES, Reference, rates, sorted_events
from tests.support.read_model import build_read_model
from tests.support.workers import SHARED

TZ = ZoneInfo("Asia/Shanghai")
LA_FILE = SHARED / "la-311" / "la311_2020_requests_seed.csv"
SCOPES = ("city", "district", "street", "category", "source", "department")
SIM_MONTH = (date(2026, 10, 1), date(2026, 10, 31))


# ------------------------------------------------------------------------------------------- data


def la_events() -> list[CaseEvent]:
    """The LA 311 2020 sample's events (every third row), in event-time order."""
    if not LA_FILE.exists():
        pytest.skip(f"{LA_FILE} is not on this machine")
    found = build_events(LA_FILE, get_settings(), ReplayReport("la311", str(LA_FILE)))
    return sorted_events([((row, seq), ev) for _, row, seq, ev in found if row % 3 == 0])


def _ev(case_id: str, n: int, action: CaseAction, t: datetime, **kw) -> tuple[tuple[str, int], CaseEvent]:
    return (case_id, n), CaseEvent.model_construct(event_id=f"{case_id}-{n:02d}-{action.value}", case_id=case_id,
                                                   action=action, event_time=t, **kw)


def edge_cases(day: date) -> list[tuple[tuple[str, int], CaseEvent]]:
    """Steps the planner never takes, on ``day`` (a Tuesday) and the days after (E0101: 4 working hours to handle)."""
    at = lambda d, h, m=0: datetime.combine(day + timedelta(days=d), time(h, m), TZ)  # noqa: E731
    rep = {"source": CaseSource.GRID_PATROL, "category_code": "E0101", "lon": 118.0894, "lat": 24.4798}
    out = []
    # on the spot: registered and handled by the patrol, no dispatch
    out += [_ev("EDGE1", 0, CaseAction.REPORT, at(0, 9), **rep), _ev("EDGE1", 1, CaseAction.REGISTER, at(0, 9, 5)),
            _ev("EDGE1", 2, CaseAction.HANDLE, at(0, 9, 10)), _ev("EDGE1", 3, CaseAction.VERIFY, at(0, 9, 30)),
            _ev("EDGE1", 4, CaseAction.CLOSE, at(0, 9, 40))]
    # a 延期 asked two days after the limit ran out (refused), handled late, closed
    out += [_ev("EDGE2", 0, CaseAction.REPORT, at(0, 9), **rep), _ev("EDGE2", 1, CaseAction.REGISTER, at(0, 9, 5)),
            _ev("EDGE2", 2, CaseAction.DISPATCH, at(0, 9, 10), department_id="SSQ-350203003"),
            _ev("EDGE2", 3, CaseAction.EXTEND, at(2, 10), extension="2d", approver="值班长"),
            _ev("EDGE2", 4, CaseAction.HANDLE, at(2, 11)), _ev("EDGE2", 5, CaseAction.VERIFY, at(2, 12)),
            _ev("EDGE2", 6, CaseAction.CLOSE, at(2, 13))]
    # handled in time, reworked after the limit ran out, handled again, closed
    out += [_ev("EDGE3", 0, CaseAction.REPORT, at(0, 9), **rep), _ev("EDGE3", 1, CaseAction.REGISTER, at(0, 9, 5)),
            _ev("EDGE3", 2, CaseAction.DISPATCH, at(0, 9, 10), department_id="SSQ-350203003"),
            _ev("EDGE3", 3, CaseAction.HANDLE, at(0, 10)), _ev("EDGE3", 4, CaseAction.VERIFY, at(0, 16)),
            _ev("EDGE3", 5, CaseAction.REWORK, at(2, 9)), _ev("EDGE3", 6, CaseAction.HANDLE, at(2, 11)),
            _ev("EDGE3", 7, CaseAction.VERIFY, at(2, 12)), _ev("EDGE3", 8, CaseAction.CLOSE, at(2, 13))]
    # dispatched late (after the 30-minute limit), never handled, voided after it became due
    out += [_ev("EDGE4", 0, CaseAction.REPORT, at(0, 9), **rep), _ev("EDGE4", 1, CaseAction.REGISTER, at(0, 9, 5)),
            _ev("EDGE4", 2, CaseAction.DISPATCH, at(0, 10, 30), department_id="SSQ-350203003"),
            _ev("EDGE4", 3, CaseAction.VOID, at(3, 10))]
    # handled in time, not closed until two days after the limit
    out += [_ev("EDGE5", 0, CaseAction.REPORT, at(0, 9), **rep), _ev("EDGE5", 1, CaseAction.REGISTER, at(0, 9, 5)),
            _ev("EDGE5", 2, CaseAction.DISPATCH, at(0, 9, 10), department_id="SSQ-350203003"),
            _ev("EDGE5", 3, CaseAction.HANDLE, at(0, 10)), _ev("EDGE5", 4, CaseAction.VERIFY, at(2, 9)),
            _ev("EDGE5", 5, CaseAction.CLOSE, at(2, 10))]
    # registered an hour after the report (the limit is 30 minutes), accepted at once
    out += [_ev("EDGE6", 0, CaseAction.REPORT, at(0, 9), **rep), _ev("EDGE6", 1, CaseAction.ACCEPT, at(0, 9, 2)),
            _ev("EDGE6", 2, CaseAction.REGISTER, at(0, 10)),
            _ev("EDGE6", 3, CaseAction.DISPATCH, at(0, 10, 5), department_id="SSQ-350203003"),
            _ev("EDGE6", 4, CaseAction.HANDLE, at(0, 11)), _ev("EDGE6", 5, CaseAction.VERIFY, at(0, 11, 30)),
            _ev("EDGE6", 6, CaseAction.CLOSE, at(0, 11, 40))]
    return out


def sim_events(calendar: WorkCalendar) -> list[CaseEvent]:
    """A simulated October 2026 (40 cases a day) plus the hand-written edge cases, in event-time order."""
    planner = CaseDayPlanner(load_city(), get_catalogue(), calendar, TZ, seed=7, cases_per_day=40)
    start, end = SIM_MONTH
    pairs = [((p.event.case_id, p.seq), p.event) for n in range((end - start).days + 1)
             for p in planner.plan_day(start + timedelta(days=n))]
    return sorted_events(pairs + edge_cases(date(2026, 10, 13)))


# ------------------------------------------------------------------------------------------- read model


def read_counts(r: Redis, start: date, end: date, scope: str, ids: Sequence[str]) -> dict[str, dict[str, int]]:
    from cityops.read.kpi_cohort import cohort_counts_many

    got = cohort_counts_many(r, start, end, scope, list(ids), TZ)
    return {sid: {f: int(got.get(sid, {}).get(f, 0)) for f in ALL_FIGURES} for sid in ids}


def compare(r: Redis, ref: Reference, start: date, end: date, label: str) -> list[str]:
    """Every figure of every scope id with cases in the period: the differences, as lines."""
    diffs = []
    for scope in SCOPES:
        expected = ref.counts(start, end, scope)
        got = read_counts(r, start, end, scope, sorted(expected))
        for sid, want in expected.items():
            for f in ALL_FIGURES:
                if want[f] != got[sid][f]:
                    diffs.append(f"{label} {start}..{end} {scope}={sid} {f}: reference {want[f]}, read model "
                                 f"{got[sid][f]}")
    return diffs


def compare_rates(r: Redis, ref: Reference, start: date, end: date, label: str) -> list[str]:
    """The city's and each district's and department's rates (``period_kpis``) against the reference's counts."""
    from cityops.read.kpi_cohort import period_kpis

    diffs = []
    names = {"closure": "closure_rate", "on_time": "on_time_rate", "handling": "handling_rate",
             "on_time_handling": "on_time_handling_rate", "rework": "rework_rate",
             "self_handling": "self_handling_rate", "extension": "extension_rate"}
    for scope in ("city", "district", "department"):
        for sid, counts in ref.counts(start, end, scope).items():
            k = period_kpis(r, start, end, scope, sid, TZ)
            want = rates(counts)
            got = {name: getattr(k.rates, attr) for name, attr in names.items()}
            got |= {"w_closure": k.weighted.closure_rate, "w_on_time": k.weighted.on_time_rate}
            for name, w in want.items():
                g = got[name]
                if (w is None) != (g is None) or (w is not None and not math.isclose(w, g, abs_tol=1e-12)):
                    diffs.append(f"{label} {start}..{end} {scope}={sid} {name}: reference {w}, read model {g}")
    return diffs


def iso_week(d: date) -> tuple[date, date]:
    monday = d - timedelta(days=d.weekday())
    return monday, monday + timedelta(days=6)


# ------------------------------------------------------------------------------------------- the tests


@pytest.fixture(scope="module")
def calendar() -> WorkCalendar:
    return WorkCalendar.load(tz=TZ)


@pytest.fixture
def fresh(redis_client: Redis) -> Redis:
    return redis_client


def _crosscheck(fresh: Redis, redis_url: str, events: list[CaseEvent], calendar: WorkCalendar,
                days: Sequence[date], month: tuple[date, date], label: str) -> None:
    ref = Reference(load_city(), get_catalogue(), calendar)
    ref.feed(events)
    refused = build_read_model(redis_url, events, calendar)
    diffs = []
    for d in days:
        diffs += compare(fresh, ref, d, d, f"{label} day")
    diffs += compare(fresh, ref, *iso_week(days[0]), f"{label} week")
    diffs += compare(fresh, ref, *month, f"{label} month")
    diffs += compare_rates(fresh, ref, *month, f"{label} month")
    diffs += compare_rates(fresh, ref, days[0], days[0], f"{label} day")
    ours = {eid for eid, _ in ref.refused}
    if ours != refused:
        diffs.append(f"{label} refused steps: only the reference {sorted(ours - refused)[:5]}, "
                     f"only the read model {sorted(refused - ours)[:5]}")
    assert not diffs, f"{len(diffs)} differences:\n" + "\n".join(diffs[:60])


def test_la311_month_matches_the_reference(fresh, redis_url, calendar) -> None:
    events = la_events()
    assert len(events) > 10_000
    month = (date(2020, 1, 1), date(2020, 1, 31))
    _crosscheck(fresh, redis_url, events, calendar, [date(2020, 1, 2), date(2020, 1, 3)], month, "la311")


def test_simulated_month_matches_the_reference(fresh, redis_url, calendar) -> None:
    events = sim_events(calendar)
    # 13 Oct 2026 (a Tuesday after the National Day week's make-up days: deadlines of cases from the 9th, 10th
    # and 12th fall due on it) and the 30th (a Friday: its deadlines run into November)
    _crosscheck(fresh, redis_url, events, calendar, [date(2026, 10, 13), date(2026, 10, 9), date(2026, 10, 30)],
                SIM_MONTH, "simulated")


def test_a_closed_day_reads_the_same_at_noon_and_the_next_morning(fresh, redis_url, calendar) -> None:
    events = sim_events(calendar)
    day = date(2026, 10, 13)
    ref = Reference(load_city(), get_catalogue(), calendar)
    ref.feed(events)
    noon = datetime.combine(day + timedelta(days=1), time(12), TZ)
    morning = datetime.combine(day + timedelta(days=2), time(8), TZ)
    before = [e for e in events if e.event_time <= noon]
    build_read_model(redis_url, before, calendar)
    reads = {}
    for scope in SCOPES:
        ids = sorted(ref.counts(day, day, scope))
        reads[scope] = read_counts(fresh, day, day, scope, ids)
    build_read_model(redis_url, [e for e in events if noon < e.event_time <= morning], calendar)
    for scope in SCOPES:
        assert read_counts(fresh, day, day, scope, sorted(reads[scope])) == reads[scope], f"{scope}: noon vs morning"
    diffs = [f"{scope}={sid} {f}: reference {want[f]}, read model at noon {reads[scope][sid][f]}"
             for scope in SCOPES for sid, want in ref.counts(day, day, scope).items() for f in ALL_FIGURES
             if want[f] != reads[scope][sid][f]]
    assert not diffs, f"{len(diffs)} differences from the reference as of {day}'s end:\n" + "\n".join(diffs)
