"""An independent computation of the case KPIs of docs/metrics.md ("Case KPIs"), in pandas, on raw case events.

Written from the text of docs/metrics.md (the cohort rule and the table of figures) and docs/events.md (which
steps are refused), never from ``streams/case_cohort.py``, ``streams/case_projection.py`` or
``cityops/read/kpi_cohort.py``: two implementations of the written rule that must agree. The clock arithmetic
(when a stage's working-time limit runs out, what an extension adds) is taken from ``streams/sla.py`` and the
work calendar, which have their own tests; which steps may follow which state from ``streams/lifecycle.py``
(the transition table of docs/events.md).

How the text is read here (the choices where it leaves room are marked READING; tests/integration/
test_kpi_crosscheck.py lists them too):

- A case's cohort day is the local day of its 立案; scope ids: city, district/street (the case's grid: the
  report's ``grid_id``, else the grid under its position), category (the 立案's ``category_code``, else the
  report's), source (the report's), department (every department it was dispatched to).
- The handling deadline in force (``dl``): set at the first 派遣 (dispatch + the category's handle limit);
  moved by a 延期 (only before it runs out: a 延期 at or after it is refused, as the stream processors do),
  restarted by every re-派遣 and 返工 (the step + the full limit; extensions granted before are not carried
  over: docs/metrics.md "The handling time limit in force"), and by a 恢复 (the full limit from the resume).
  Each 处置 is judged against it. The milestones ``due`` / ``due_handle`` it set, once its end has passed,
  are final (a later restart does not move them).
- Not modelled here: a re-派遣 to *another* department (neither data set has one; docs/metrics.md moves the
  case to the new department from that day, tests/unit/test_case_cohort.py checks it).
- ``due`` +1 at min(结案, dl) (READING: a case handled in time but not yet closed when dl runs out is due
  then); ``due_handle`` +1 at min(first 处置, dl). A 缓办/挂账 takes the case out of both (−1 if counted;
  READING: also when dl had already run out) until it resumes; a 作废 takes it out for good (−1 if counted).
- ``handled_on_time`` +1 at the first 处置 when it is at or before dl (READING: at dl is within the limit);
  ``handled_late`` +1 at the first late 处置 (first or after a 返工; READING: then ``handled_on_time`` −1 on
  that day if it had been counted, so the two add up to ``handled``). A 处置 with no dispatch (on the spot)
  has no handling limit: on time (READING).
- ``on_time`` +1 at 结案 when no 处置 of the case was late (the handling clock only).
- ``late_register``: 立案 after the register limit counted from the report; ``late_dispatch``: the first 派遣
  after the dispatch limit counted from the 立案; ``late_verify``: a 核查 after the verify limit counted from
  the latest 处置 (once per case). Each on the day of the late step.
- ``w_*``: the same deltas times the category's ``weight``.
- READING (department scope): a department's cases are the period's registrations dispatched to it on or
  before the period's end; its ``reg`` is dated at the first dispatch to it; the command centre's lateness
  (``late_register``, ``late_dispatch``, ``late_verify``) is not a department's ("Whose delay": a delay is
  charged to the stage's owner); every other milestone of the case counts as for the city.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

import pandas as pd

from cityops.catalogue import Catalogue, Category
from cityops.city import CityModel
from cityops.schemas import CaseAction, CaseEvent
from cityops.workcalendar import WorkCalendar
from streams import lifecycle as lc
from streams import sla

FIGURES = ("reg", "due", "closed", "on_time", "due_handle", "handled", "handled_on_time", "handled_late",
           "self_handled", "reworked", "rework_n", "extended", "parked", "voided", "late_register",
           "late_dispatch", "late_verify")
WEIGHTED = ("due", "closed", "on_time", "due_handle", "handled", "handled_on_time", "reworked")
ALL_FIGURES = FIGURES + tuple(f"w_{f}" for f in WEIGHTED)


@dataclass
class _Case:
    """One case's walk through its steps: state, clocks and the milestones it produced."""

    case_id: str
    state: str | None = None
    category: Category | None = None
    urgent: bool = False
    reported: datetime | None = None
    registered: datetime | None = None
    grid: str | None = None
    source: str | None = None
    dl: datetime | None = None  # the handling deadline
    dispatched: bool = False
    departments: dict[str, datetime] = field(default_factory=dict)  # department → first dispatch
    last_handled: datetime | None = None
    due: bool = False
    due_handle: bool = False
    handled: bool = False
    on_time_h: bool = False
    late_h: bool = False
    reworked: bool = False
    extended: bool = False
    late_verify: bool = False
    parked: bool = False
    rows: list[tuple[str, datetime, int]] = field(default_factory=list)

    def add(self, figure: str, t: datetime, delta: int = 1) -> None:
        self.rows.append((figure, t, delta))


class Reference:
    """Walks raw case events (in event-time order) and answers any period's figures per scope with pandas."""

    def __init__(self, city: CityModel, catalogue: Catalogue, calendar: WorkCalendar) -> None:
        self.city, self.catalogue, self.calendar, self.tz = city, catalogue, calendar, calendar.tz
        self.cases: dict[str, _Case] = {}
        self.refused: list[tuple[str, str]] = []  # (event id, why)
        self._frames: tuple[pd.DataFrame, pd.DataFrame] | None = None

    # ------------------------------------------------------------------------------------ the walk

    def feed(self, events: Iterable[CaseEvent]) -> None:
        for ev in events:
            self._step(ev)
        self._frames = None

    def _limit(self, c: _Case, state: str, start: datetime) -> datetime:
        found = sla.deadline_for(state, c.category, start, self.calendar, c.urgent)
        assert found is not None, state
        return found[1]

    def _deadline_passes(self, c: _Case, now: datetime | None) -> None:
        """The handling limit ran out (at or before ``now``; ``None``: the end of time) while nothing stopped it."""
        if c.dl is None or c.parked or c.state in (lc.VOIDED, lc.CLOSED) or c.registered is None:
            return
        if now is not None and c.dl > now:
            return
        if not c.due:
            c.due = True
            c.add("due", c.dl)
        if not c.due_handle:
            c.due_handle = True
            c.add("due_handle", c.dl)

    def _step(self, ev: CaseEvent) -> None:
        c = self.cases.setdefault(ev.case_id, _Case(ev.case_id))
        t, a = ev.event_time, ev.action
        try:
            new_state = lc.next_state(c.state, a)
        except lc.IllegalTransition as err:
            self.refused.append((ev.event_id, str(err)))
            return
        if c.reported is not None and t < c.reported:
            self.refused.append((ev.event_id, "before the report"))
            return
        self._deadline_passes(c, t)
        passed = c.dl is not None and c.dl <= t
        if a is CaseAction.EXTEND and (c.dl is None or passed):
            self.refused.append((ev.event_id, "延期 at or after the handling deadline"))
            return
        prev, c.state = c.state, new_state
        if a is CaseAction.REPORT:
            c.reported, c.category, c.urgent = t, self.catalogue.get(ev.category_code), ev.urgent
            c.source = ev.source.value if ev.source else None
            c.grid = ev.grid_id or (self.city.index.lookup(ev.lon, ev.lat) if ev.located else None)
        elif a is CaseAction.REGISTER:
            if ev.category_code:
                c.category = self.catalogue.get(ev.category_code)
            c.registered = t
            c.add("reg", t)
            if t > self._limit(c, lc.REPORTED, c.reported):
                c.add("late_register", t)
        elif a is CaseAction.DISPATCH:
            if not c.dispatched and t > self._limit(c, lc.REGISTERED, c.registered):
                c.add("late_dispatch", t)
            c.dispatched = True
            c.departments.setdefault(ev.department_id, t)
            c.dl = self._limit(c, lc.DISPATCHED, t)
        elif a is CaseAction.EXTEND:
            c.dl = sla.extend(c.dl, ev.extension, self.calendar,
                              natural=sla.runs_in_natural_time(c.category, c.urgent))
            if not c.extended:
                c.extended = True
                c.add("extended", t)
        elif a is CaseAction.PARK:
            c.parked = True
            c.add("parked", t)
            for fig in ("due", "due_handle"):
                if getattr(c, fig):
                    setattr(c, fig, False)
                    c.add(fig, t, -1)
        elif a is CaseAction.RESUME:
            c.parked = False
            c.add("parked", t, -1)
            c.dl = self._limit(c, lc.DISPATCHED, t)
        elif a is CaseAction.HANDLE:
            late = c.dl is not None and t > c.dl
            if not c.handled:
                c.handled = True
                c.add("handled", t)
                if prev == lc.REGISTERED and not c.dispatched:
                    c.add("self_handled", t)
                if not late:
                    c.on_time_h = True
                    c.add("handled_on_time", t)
            if late and not c.late_h:
                c.late_h = True
                c.add("handled_late", t)
                if c.on_time_h:
                    c.on_time_h = False
                    c.add("handled_on_time", t, -1)
            if not c.due_handle:
                c.due_handle = True
                c.add("due_handle", t)
            c.last_handled = t
        elif a is CaseAction.VERIFY:
            if not c.late_verify and t > self._limit(c, lc.HANDLED, c.last_handled):
                c.late_verify = True
                c.add("late_verify", t)
        elif a is CaseAction.REWORK:
            c.add("rework_n", t)
            if not c.reworked:
                c.reworked = True
                c.add("reworked", t)
            if c.dl is not None:
                c.dl = self._limit(c, lc.REWORKED, t)
        elif a is CaseAction.CLOSE:
            c.add("closed", t)
            if not c.due:
                c.due = True
                c.add("due", t)
            if not c.late_h:
                c.add("on_time", t)
        elif a is CaseAction.VOID:
            if c.registered is not None:
                c.add("voided", t)
            if c.parked:  # READING: a parked case voided leaves the parked figure too
                c.parked = False
                c.add("parked", t, -1)
            for fig in ("due", "due_handle"):
                if getattr(c, fig):
                    setattr(c, fig, False)
                    c.add(fig, t, -1)

    # ------------------------------------------------------------------------------------ the tables

    def frames(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """``(cases, milestones)``: one row per registered case (its scope ids, weight, cohort day) and one per
        milestone delta (case, figure, local day, delta, weighted delta). Deadlines still ahead are included as
        the scheduled facts they are; a period only counts those dated up to its end."""
        if self._frames is not None:
            return self._frames
        case_rows, rows = [], []
        for c in self.cases.values():
            if c.registered is None:
                continue
            self._deadline_passes(c, None)
            grid = self.city.grids.get(c.grid) if c.grid else None
            case_rows.append({"case_id": c.case_id, "reg_day": self._day(c.registered),
                              "city": self.city.code, "district": grid.district_code if grid else None,
                              "street": grid.street_code if grid else None, "category": c.category.code,
                              "source": c.source, "weight": c.category.weight,
                              "departments": {d: self._day(t) for d, t in c.departments.items()}})
            for figure, t, delta in c.rows:
                rows.append((c.case_id, figure, self._day(t), delta))
        cases = pd.DataFrame(case_rows).set_index("case_id")
        ms = pd.DataFrame(rows, columns=["case_id", "figure", "day", "delta"])
        ms = ms.join(cases[["weight"]], on="case_id")
        weighted = ms[ms.figure.isin(WEIGHTED)].assign(figure=lambda d: "w_" + d.figure,
                                                        delta=lambda d: d.delta * d.weight)
        ms = pd.concat([ms, weighted], ignore_index=True)[["case_id", "figure", "day", "delta"]]
        self._frames = cases, ms
        return self._frames

    def _day(self, t: datetime) -> date:
        return t.astimezone(self.tz).date()

    def counts(self, start: date, end: date, scope: str) -> dict[str, dict[str, int]]:
        """Every figure of every ``scope`` id that has cases registered in ``[start, end]``, as of ``end``."""
        cases, ms = self.frames()
        cohort = cases[(cases.reg_day >= start) & (cases.reg_day <= end)]
        ms = ms[ms.case_id.isin(cohort.index) & (ms.day <= end)]
        if scope == "department":
            member = [(cid, dept, day) for cid, depts in cohort.departments.items()
                      for dept, day in depts.items() if day <= end]
            links = pd.DataFrame(member, columns=["case_id", "sid", "dispatch_day"])
            own = ms[(ms.figure != "reg") & ~ms.figure.str.startswith("late_")]
            joined = own.merge(links[["case_id", "sid"]], on="case_id")
            regs = links.assign(figure="reg", delta=1)
            table = pd.concat([joined[["sid", "figure", "delta"]], regs[["sid", "figure", "delta"]]])
        else:
            table = ms.join(cohort[scope].rename("sid"), on="case_id").dropna(subset=["sid"])
        grouped = table.groupby(["sid", "figure"])["delta"].sum()
        out: dict[str, dict[str, int]] = {}
        for (sid, figure), value in grouped.items():
            out.setdefault(str(sid), dict.fromkeys(ALL_FIGURES, 0))[figure] = int(value)
        return out


def rates(c: dict[str, int]) -> dict[str, float | None]:
    """The rates of docs/metrics.md from a scope's counts: capped at 1, None ("no figure") without a denominator."""

    def r(num: int, den: int) -> float | None:
        return None if den <= 0 else min(1.0, num / den)

    return {"closure": r(c["closed"], c["due"]), "on_time": r(c["on_time"], c["due"]),
            "handling": r(c["handled"], c["due_handle"]),
            "on_time_handling": r(c["handled_on_time"], c["due_handle"]),
            "rework": r(c["reworked"], c["due"]), "self_handling": r(c["self_handled"], c["reg"]),
            "extension": r(c["extended"], c["reg"]),
            "w_closure": r(c["w_closed"], c["w_due"]), "w_on_time": r(c["w_on_time"], c["w_due"])}


def sorted_events(events: Sequence[tuple[object, CaseEvent]]) -> list[CaseEvent]:
    """Events in event-time order; ``(key, event)`` pairs keep a case's steps in their order at equal times."""
    return [ev for _, ev in sorted(events, key=lambda kv: (kv[1].event_time, kv[0]))]
