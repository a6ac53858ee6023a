"""Case events → the Redis writes they cause: state, counters, SLA clock, overdue sets, hotspots.

Pure: a case event plus the case's current :class:`CaseView` in, :class:`~streams.effects.Effects`
and the next view out. The SLA timer (``streams/agents/sla_timer.py``) is the only other writer of a
case, and only of its ``overdue`` mark, through an atomic check of the deadline it read.

Counters (:class:`cityops.metrics.Metric`: the field names of ``co:kpi:d:…`` / ``co:kpi:h:…``), per scope
(city, district, street, community, grid, department, category, source):

- one per lifecycle action: ``received registered dispatched handled verified reworked extended
  closed voided rejected accepted``
- ``closed_on_time``: closed, and handled before the handling deadline (extensions included)
- ``handled_n`` / ``handling_s``: handled cases and their dispatch → handling time (mean handling time)
- ``w_…``: the same counters weighted by the category's weight (Xuzhou's 2×/3×/5× hard problems)

These flow counters count steps (activity: 受理数, cases per hour); the KPI rates count cases, in the case's
registration-day cohort (``co:cohort:{day}:{scope}:{id}``, ``streams/case_cohort.py``, docs/metrics.md).

Overdue-open is a gauge, not a counter: ``co:overdue:{scope}:{id}`` is a sorted set of the open
cases whose running clock has expired (score = weight), so its size is the count and the sum of its
scores the weighted count. A late handling is its department's and its area's; a late 受理/立案/派遣/核查
only the city's and the command centre's (``overdue_scopes``). Every step removes the case from those
sets; only the timer adds.

Refused (:class:`ProjectionError`, dead-lettered by the agent with the reason; the case keeps its other
steps): a step the lifecycle does not allow, a step timed before the case's report, an unknown grid,
department or category, and a 延期 at or after the handling deadline.

Stale cases: every step of an open case sets its score in ``co:cases:laststep`` (the latest step's event
time; a closing step removes it). The stale-case timer (``streams/agents/stale_cases.py``) expires cases
silent for ``CITYOPS_STALE_CASE_DAYS``; a step that arrives after that revives the case (``expired`` back
to 0, the retention the timer set lifted to longer than any stale window).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

import orjson

from cityops import keys
from cityops.alerts import cleared_fields, sla_alert_id
from cityops.catalogue import Catalogue, Category
from cityops.city import CityModel
from cityops.metrics import WEIGHTED, Metric
from cityops.schemas import CaseAction, CaseEvent
from cityops.workcalendar import WorkCalendar
from streams import case_cohort as cohort
from streams import lifecycle as lc
from streams import sla
from streams.effects import Effects

ACTION_METRIC: dict[CaseAction, Metric] = {
    CaseAction.REPORT: Metric.RECEIVED,
    CaseAction.ACCEPT: Metric.ACCEPTED,
    CaseAction.REGISTER: Metric.REGISTERED,
    CaseAction.REJECT: Metric.REJECTED,
    CaseAction.DISPATCH: Metric.DISPATCHED,
    CaseAction.HANDLE: Metric.HANDLED,
    CaseAction.VERIFY: Metric.VERIFIED,
    CaseAction.REWORK: Metric.REWORKED,
    CaseAction.EXTEND: Metric.EXTENDED,
    CaseAction.CLOSE: Metric.CLOSED,
    CaseAction.VOID: Metric.VOIDED,
    CaseAction.PARK: Metric.PARKED,
    CaseAction.RESUME: Metric.RESUMED,
    CaseAction.RETURN: Metric.RETURNED,
}
UNLOCATED = "unlocated"
CLOSED_CASE_RETENTION_S = 400 * keys.DAY
REPEAT_QUEUE_MAXLEN = 1_000_000
MAX_STALE_CASE_DAYS = 3650  # the longest CITYOPS_STALE_CASE_DAYS allowed (streams/agents/stale_cases.py)
REVIVED_RETENTION_S = MAX_STALE_CASE_DAYS * keys.DAY + CLOSED_CASE_RETENTION_S
TIMELINE_CAP = 100  # steps kept per case; a case with more is a runaway (rework loops), its first steps matter less


class ProjectionError(ValueError):
    """A well-formed event that cannot be applied (illegal step, unknown grid or department)."""


@dataclass
class CaseView:
    """What the projection needs to know of a case between its events; mirrors ``co:case:{id}``."""

    case_id: str
    state: str = ""
    category: str = ""
    weight: int = 1
    source: str = ""
    urgent: int = 0
    grid: str = ""
    community: str = ""
    street: str = ""
    district: str = UNLOCATED
    department: str = ""
    lon: str = ""
    lat: str = ""
    t_report: str = ""
    t_register: str = ""
    t_dispatch: str = ""
    stage: str = ""  # the stage whose SLA clock runs ('' when none)
    deadline: str = ""  # ISO time that clock runs out
    handle_deadline: str = ""
    overdue: int = 0
    late: int = 0  # handled after the handling deadline
    updated_at: str = ""  # event time of the latest step applied
    expired: int = 0  # set by the stale-case timer; in the hash only while 1 (cases are many, bytes count)
    cohort: str = ""  # the KPI cohort's memory of the case (streams/case_cohort.py), '' before registration

    @classmethod
    def from_hash(cls, case_id: str, data: Mapping[str, str]) -> CaseView | None:
        if not data:
            return None
        values: dict[str, object] = {"case_id": case_id}
        for f in dataclasses.fields(cls):
            if f.name != "case_id" and f.name in data:
                values[f.name] = int(data[f.name] or 0) if f.type == "int" else data[f.name]
        return cls(**values)  # type: ignore[arg-type]

    def as_hash(self) -> dict[str, object]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                if f.name != "case_id" and not (f.name in ("expired", "cohort") and not getattr(self, f.name))}

    def search_scopes(self, city_code: str) -> list[tuple[str, str]]:
        """The scopes whose day index lists the case (``keys.CASE_SEARCH_SCOPES``): set at its report."""
        return [(scope, scope_id) for scope, scope_id in self.scopes(city_code)
                if scope in keys.CASE_SEARCH_SCOPES and scope_id]

    def scopes(self, city_code: str) -> list[tuple[str, str]]:
        out = [("city", city_code), ("district", self.district)]
        if self.grid:
            out += [("street", self.street), ("community", self.community), ("grid", self.grid)]
        if self.category:
            out.append(("category", self.category))
        if self.source:
            out.append(("source", self.source))
        if self.department:
            out.append(("department", self.department))
        return out


@dataclass(frozen=True)
class CaseContext:
    """The reference data a case projection needs."""

    city: CityModel
    catalogue: Catalogue
    calendar: WorkCalendar
    tz: ZoneInfo
    max_lateness_s: float = 7200.0


class LateEvent(ProjectionError):
    """A step older than the case's latest step by more than the allowed lateness."""


def locate(event: CaseEvent, city: CityModel) -> tuple[str, str, str, str]:
    """(grid, community, street, district) of a reported case; unlocated cases get ``('', '', '', UNLOCATED)``."""
    grid_code = event.grid_id
    if grid_code is None and event.lon is not None and event.lat is not None:
        grid_code = city.index.lookup(event.lon, event.lat)
    if grid_code is None:
        return "", "", "", UNLOCATED
    grid = city.grids.get(grid_code)
    if grid is None:
        raise ProjectionError(f"unknown grid {grid_code!r}")
    return grid.code, grid.community_code, grid.street_code, grid.district_code


# Hourly hashes last 14 days; the received count per hour of day is kept in the daily hash too (24 fields), for
# the city and its districts only, so a month's or a quarter's 通报 can say when problems come in.
PEAK_HOUR_SCOPES = frozenset({"city", "district"})


def _count(eff: Effects, view: CaseView, ctx: CaseContext, when: datetime, metric: Metric, amount: int = 1,
           scopes: list[tuple[str, str]] | None = None) -> None:
    local = when.astimezone(ctx.tz)
    day, hour = keys.day_bucket(local), keys.hour_bucket(local)
    for scope, scope_id in scopes if scopes is not None else view.scopes(ctx.city.code):
        key = keys.kpi_daily(day, scope, scope_id)
        eff.hincrby(key, metric.value, amount).expire(key, keys.DAILY_RETENTION_S)
        if metric is Metric.RECEIVED and scope in PEAK_HOUR_SCOPES:  # the period reports' peak hours
            eff.hincrby(key, f"received_h{local.hour:02d}", amount)
        hkey = keys.kpi_hourly(hour, scope, scope_id)
        eff.hincrby(hkey, metric.value, amount).expire(hkey, keys.HOURLY_RETENTION_S)
        if metric in WEIGHTED:
            weighted = amount * view.weight
            eff.hincrby(key, metric.weighted, weighted).hincrby(hkey, metric.weighted, weighted)


def project_case_event(event: CaseEvent, view: CaseView | None, ctx: CaseContext) -> tuple[Effects, CaseView]:
    """The writes of one case event and the case's view afterwards."""
    if view is not None and view.updated_at:
        behind = (datetime.fromisoformat(view.updated_at) - event.event_time).total_seconds()
        if behind > ctx.max_lateness_s:
            raise LateEvent(f"case {event.case_id}: {event.action.value} at {event.event_time.isoformat()} is "
                            f"{behind / 3600:.1f} h behind the case's latest step (allowed "
                            f"{ctx.max_lateness_s / 3600:g} h)")
    try:
        state = lc.next_state(view.state if view is not None else None, event.action)
    except lc.IllegalTransition as err:
        raise ProjectionError(f"case {event.case_id}: {err}") from None
    if event.department_id is not None and event.department_id not in ctx.city.departments:
        raise ProjectionError(f"unknown department {event.department_id!r}")
    if view is not None and view.t_report and event.event_time < datetime.fromisoformat(view.t_report):
        raise ProjectionError(f"case {event.case_id}: {event.action.value} at {event.event_time.isoformat()} is "
                              f"before the case's report at {view.t_report}")
    if event.action is CaseAction.EXTEND and view is not None:
        _check_extension(event, view)
    before = _Before.of(view)
    prior_department = view.department if view is not None else ""
    eff = Effects(event.event_id)
    stamp = event.event_time.isoformat()
    if view is not None and view.stage and view.deadline:  # the stage whose clock ran is left: its alert ends
        alert = sla_alert_id(view.case_id, view.stage, datetime.fromisoformat(view.deadline).timestamp())
        eff.zrem(keys.active_alerts(), alert)
        eff.hset_if_exists(keys.alert(alert), cleared_fields(stamp))
    if view is None:  # a report
        grid, community, street, district = locate(event, ctx.city)
        category = _category(ctx.catalogue, event.category_code or "")
        view = CaseView(event.case_id, category=category.code, weight=category.weight,
                        source=event.source.value if event.source else "", urgent=int(event.urgent), grid=grid,
                        community=community, street=street, district=district,
                        lon="" if event.lon is None else repr(event.lon),
                        lat="" if event.lat is None else repr(event.lat), t_report=stamp)
        if event.lon is not None and event.lat is not None:
            eff.geoadd(keys.open_cases(), event.lon, event.lat, event.case_id)
            _queue_repeat_check(eff, event, category.code)
        _index_for_search(eff, view, ctx, view.search_scopes(ctx.city.code))
    if event.action is CaseAction.REGISTER:
        view.t_register = stamp
        if event.category_code and event.category_code != view.category:
            _move_in_search(eff, view, ctx, event.category_code)
            view.category = event.category_code
            view.weight = _category(ctx.catalogue, view.category).weight
    if event.action is CaseAction.DISPATCH:
        if not view.department and event.department_id:
            _attribute_to_department(eff, view, event.department_id, ctx)
        view.department = event.department_id or view.department
        view.t_dispatch = stamp
    if event.action is CaseAction.HANDLE:
        if view.handle_deadline and event.event_time > datetime.fromisoformat(view.handle_deadline):
            view.late = 1
        if view.t_dispatch:
            seconds = max(0, int((event.event_time - datetime.fromisoformat(view.t_dispatch)).total_seconds()))
            _count(eff, view, ctx, event.event_time, Metric.HANDLED_N)
            _count(eff, view, ctx, event.event_time, Metric.HANDLING_S, seconds)
    view.state = state
    _count(eff, view, ctx, event.event_time, ACTION_METRIC[event.action])
    if event.action is CaseAction.CLOSE and not view.late:
        _count(eff, view, ctx, event.event_time, Metric.CLOSED_ON_TIME)
    _advance_clock(eff, view, event, ctx)
    _record_cohort(eff, view, event, ctx, before)
    # Always leave the overdue sets on a step, not only when the view says "overdue": the timer may have
    # marked the case after this view was read (both writes are idempotent, so this is always safe).
    for scope, scope_id in overdue_scopes(view, ctx.city.code, "handle") + [("centre", ctx.city.code)]:
        eff.zrem(keys.overdue(scope, scope_id), view.case_id)
    _queue_for_department(eff, view, prior_department)
    case_key = keys.case(event.case_id)
    if not view.updated_at or event.event_time > datetime.fromisoformat(view.updated_at):
        view.updated_at = stamp
    revived, view.expired = view.expired, 0  # a step after expiry: the case is live again
    fields = view.as_hash() | {f"t_{event.action.value}": stamp} | ({"expired": 0} if revived else {})
    if event.action is CaseAction.REPORT:
        fields |= {"address": event.address, "description": event.description, "evidence_ref": event.evidence_ref,
                   "origin_ref": event.origin_ref}
    eff.hset(case_key, fields)
    eff.rpush_capped(keys.case_timeline(event.case_id), TIMELINE_CAP, _timeline_entry(event))
    if state in lc.FINAL_STATES:
        eff.zrem(keys.open_cases(), view.case_id)
        eff.zrem(keys.open_cases_by_step(), view.case_id)
        eff.expire(case_key, CLOSED_CASE_RETENTION_S).expire(keys.case_timeline(event.case_id),
                                                              CLOSED_CASE_RETENTION_S)
    else:
        eff.zadd(keys.open_cases_by_step(), datetime.fromisoformat(view.updated_at).timestamp(), view.case_id)
        if revived:  # the timer set the expiry of a closed case: longer than any stale window, so it acts first
            eff.expire(case_key, REVIVED_RETENTION_S).expire(keys.case_timeline(event.case_id), REVIVED_RETENTION_S)
    return eff, view


QUEUED_STATES = frozenset({lc.DISPATCHED, lc.REWORKED})  # a department has the case to handle


def _queue_for_department(eff: Effects, view: CaseView, prior_department: str) -> None:
    """Keep the department's own queue: a case is in it while dispatched or sent back to that department, by
    its handling deadline; a re-dispatch moves it, a handling, return, park or void takes it out."""
    if prior_department and prior_department != view.department:
        eff.zrem(keys.department_queue(prior_department), view.case_id)
    if not view.department:
        return
    if view.state in QUEUED_STATES:
        due = view.handle_deadline or view.deadline or view.t_dispatch or view.t_report
        eff.zadd(keys.department_queue(view.department), datetime.fromisoformat(due).timestamp(), view.case_id)
    else:
        eff.zrem(keys.department_queue(view.department), view.case_id)


def overdue_scopes(view: CaseView, city_code: str, stage: str) -> list[tuple[str, str]]:
    """The overdue sets a case overdue in ``stage`` belongs to: a late handling is the department's and its
    area's; a late 受理/立案/派遣/核查 is the command centre's (docs/metrics.md, "Whose delay")."""
    if stage == "handle":
        return view.scopes(city_code)
    return [("city", city_code), ("centre", city_code)]


@dataclass(frozen=True)
class _Before:
    """What the cohort needs of the case as it was before the step."""

    state: str
    stage: str
    deadline: str
    handle_deadline: str

    @classmethod
    def of(cls, view: CaseView | None) -> _Before:
        if view is None:
            return cls("", "", "", "")
        return cls(view.state, view.stage, view.deadline, view.handle_deadline)

    def late(self, stage: str, at: datetime) -> bool:
        """The step at ``at`` ends ``stage`` after its time limit."""
        return self.stage == stage and bool(self.deadline) and at > datetime.fromisoformat(self.deadline)


def _check_extension(event: CaseEvent, view: CaseView) -> None:
    """延期 only before the handling deadline (its approver the schema requires): a late one is refused."""
    deadline = view.handle_deadline or (view.deadline if view.stage == "handle" else "")
    if deadline and event.event_time >= datetime.fromisoformat(deadline):
        raise ProjectionError(f"case {event.case_id}: 延期 at {event.event_time.isoformat()} comes after the "
                              f"handling deadline {deadline}: an extension must be approved before it")


def _record_cohort(eff: Effects, view: CaseView, event: CaseEvent, ctx: CaseContext, before: _Before) -> None:
    """The step's milestones in the case's registration-day cohort (streams/case_cohort.py)."""
    state = cohort.CohortState.loads(view.cohort)
    if not state.day and event.action is not CaseAction.REGISTER:
        return  # not registered (yet, or before cohorts existed): no period's case
    areas = [(s, sid) for s, sid in view.scopes(ctx.city.code) if s in cohort.AREA_SCOPES and sid]
    step = cohort.CohortStep(state, areas, view.weight, ctx.tz, event.event_time)
    t = event.event_time
    new_limit = datetime.fromisoformat(view.handle_deadline) if view.stage == "handle" and view.handle_deadline \
        else None
    match event.action:
        case CaseAction.REGISTER:
            step.register(before.late("register", t))
        case CaseAction.DISPATCH:
            step.dispatch(view.department, new_limit, before.late("dispatch", t))
        case CaseAction.HANDLE:
            late = bool(before.handle_deadline) and before.state != lc.REGISTERED \
                and t > datetime.fromisoformat(before.handle_deadline)
            step.handle(late, on_the_spot=before.state == lc.REGISTERED)
        case CaseAction.VERIFY:
            step.verify(before.late("verify", t))
        case CaseAction.REWORK:
            step.rework(new_limit)
        case CaseAction.EXTEND:
            if new_limit is not None:
                step.extend(new_limit)
        case CaseAction.CLOSE:
            step.close(on_time=not view.late)
        case CaseAction.PARK:
            step.park()
        case CaseAction.RESUME:
            step.resume(new_limit)
        case CaseAction.VOID:
            step.void()
        case CaseAction.RETURN:
            step.returned()
    for w in step.writes:
        eff.hincrby(w.key, w.field, w.amount).expire(w.key, keys.DAILY_RETENTION_S)
    view.cohort = state.dumps()


def _index_for_search(eff: Effects, view: CaseView, ctx: CaseContext, scopes: list[tuple[str, str]]) -> None:
    """Add a reported case to the case search's day indexes (``keys.cases_by_day``) of its report day, kept as
    long as a closed case: searches by date and place, category or source then read only matching days."""
    reported = datetime.fromisoformat(view.t_report)
    day = keys.day_bucket(reported.astimezone(ctx.tz))
    for scope, scope_id in scopes:
        key = keys.cases_by_day(day, scope, scope_id)
        eff.zadd(key, reported.timestamp(), view.case_id).expire(key, CLOSED_CASE_RETENTION_S)


def _move_in_search(eff: Effects, view: CaseView, ctx: CaseContext, category: str) -> None:
    """A registration that re-classifies the case moves it to its new category's day index."""
    if not view.t_report:
        return
    day = keys.day_bucket(datetime.fromisoformat(view.t_report).astimezone(ctx.tz))
    eff.zrem(keys.cases_by_day(day, "category", view.category), view.case_id)
    _index_for_search(eff, view, ctx, [("category", category)])


def _queue_repeat_check(eff: Effects, event: CaseEvent, category: str) -> None:
    """Index a located report by category and queue it for the repeated-problem check (streams/repeats.py)."""
    t = event.event_time.timestamp()
    eff.geoadd(keys.repeat_geo(category), event.lon, event.lat, event.case_id)
    eff.zadd(keys.repeat_times(category), t, event.case_id)
    eff.xadd(keys.repeat_queue(), REPEAT_QUEUE_MAXLEN, orjson.dumps(
        {"case_id": event.case_id, "category": category, "lon": event.lon, "lat": event.lat, "t": t}).decode())


def _advance_clock(eff: Effects, view: CaseView, event: CaseEvent, ctx: CaseContext) -> None:
    """Stop the clock of the stage just left, start the next one; an extension moves the deadline."""
    if event.action is CaseAction.EXTEND and view.deadline and event.extension:
        natural = sla.runs_in_natural_time(_category(ctx.catalogue, view.category), bool(view.urgent))
        new = sla.extend(datetime.fromisoformat(view.deadline), event.extension, ctx.calendar, natural=natural)
        view.deadline = view.handle_deadline = new.isoformat()
        view.overdue = 0
        eff.zadd(keys.sla_clock(), new.timestamp(), view.case_id)
        return
    category = _category(ctx.catalogue, view.category)
    if event.action is CaseAction.ACCEPT and view.stage == "register" and view.deadline:
        # 受理 keeps the 立案 clock that started at the report (streams/sla.py); the step left the overdue sets,
        # so the clock goes back in and the timer marks the case again if that deadline has passed
        view.overdue = 0
        eff.zadd(keys.sla_clock(), datetime.fromisoformat(view.deadline).timestamp(), view.case_id)
        return
    running = sla.deadline_for(view.state, category, event.event_time, ctx.calendar, bool(view.urgent))
    view.overdue = 0
    if running is None:
        view.stage, view.deadline = "", ""
        eff.zrem(keys.sla_clock(), view.case_id)
        return
    view.stage, deadline = running[0], running[1]
    view.deadline = deadline.isoformat()
    if view.stage == "handle":
        view.handle_deadline = view.deadline
    eff.zadd(keys.sla_clock(), deadline.timestamp(), view.case_id)


def _attribute_to_department(eff: Effects, view: CaseView, department: str, ctx: CaseContext) -> None:
    """A department learns of a case at its first dispatch: count it as received and registered there,
    in the day buckets of the report and the registration, so department figures add up like the city's."""
    for metric, stamp in ((Metric.RECEIVED, view.t_report), (Metric.REGISTERED, view.t_register)):
        if stamp:
            _count(eff, view, ctx, datetime.fromisoformat(stamp), metric, scopes=[("department", department)])


def _category(catalogue: Catalogue, code: str) -> Category:
    try:
        return catalogue.get(code)
    except KeyError:
        raise ProjectionError(f"unknown category code {code!r}") from None


def _timeline_entry(event: CaseEvent) -> str:
    """One step of the case's timeline, as small as it can be: the report's text, source and evidence are
    in the case hash already, and 400 days of cases make every byte count (bench/bench_case_memory.py)."""
    fields = {"action", "event_time", "actor", "department_id", "extension", "approver", "park_kind"}
    if event.action is not CaseAction.REPORT:
        fields |= {"description", "evidence_ref"}
    return event.model_dump_json(include=fields, exclude_none=True)
