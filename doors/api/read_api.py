"""The read API for other systems (a provincial platform, a city dashboard): ``/api/v1/…`` with a ``read`` key.

KPIs by scope and period, case search with paging, one case with its timeline, the active alerts, a
sensor's latest state and windows. Every answer comes from :mod:`cityops.read` (the console's own reads), so
a figure here is the figure on the console; nothing here writes. A parameter that cannot be used is a 400
naming it (:class:`doors.api.errors.ApiError`); routes are plain functions, run in FastAPI's thread pool,
because the read model's client is synchronous.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from cityops import keys, read
from cityops.read import supervision
from cityops.read.case_search import MAX_LIMIT, CaseQuery, Cursor, SearchError, parse_states, search_cases
from cityops.read.kpi_cohort import MAX_PERIOD_DAYS, period_kpis
from cityops.read.kpis import overdue_open
from cityops.read.sensor_windows import RESOLUTIONS, sensor_latest, sensor_windows
from cityops.schemas import CaseSource
from doors.api.auth import require_scope
from doors.api.errors import ApiError
from doors.api.state import ApiState, state_of

router = APIRouter(prefix="/api/v1", tags=["read"], dependencies=[Depends(require_scope("read"))])

_ID = re.compile(r"[A-Za-z0-9_.:@/+-]{1,128}")
ACTIVE_ALERT_STATES = ("active", "acknowledged")
MAX_ALERTS = 1000


def _day(field: str, text: str | None, default: date) -> date:
    if text is None or text == "":
        return default
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ApiError(400, field, f"{text!r} is not a date (YYYY-MM-DD)") from None


def _id(field: str, text: str) -> str:
    if not _ID.fullmatch(text):
        raise ApiError(400, field, "must be 1-128 characters of A-Z a-z 0-9 _ . : @ / + -")
    return text


def _today(state: ApiState) -> date:
    return datetime.now(state.city.timezone).date()


def _known(state: ApiState, field: str, scope: str, scope_id: str) -> None:
    """A scope id the city does not have is refused (an empty answer would look like a quiet district)."""
    city = state.city.city
    known: dict[str, object] = {"district": {**city.districts, "unlocated": None}, "street": city.streets,
                                "community": city.communities, "grid": city.grids, "department": city.departments,
                                "source": {s.value: s for s in CaseSource}}
    if scope == "city":
        if scope_id != city.code:
            raise ApiError(400, field, f"the city's id is {city.code}, not {scope_id!r}")
        return
    if scope == "category":
        try:
            state.city.catalogue.get(scope_id)
        except KeyError:
            raise ApiError(400, field, f"unknown category code {scope_id!r}") from None
        return
    if scope_id not in known[scope]:  # type: ignore[operator]
        raise ApiError(400, field, f"unknown {scope} {scope_id!r}")


@router.get("/kpis")
def kpis(request: Request,
         scope: Annotated[str, Query(description=f"one of {', '.join(keys.SCOPES)}")] = "city",
         id: Annotated[str | None, Query(description="the scope's id (default: the city's code)")] = None,  # noqa: A002
         start: Annotated[str | None, Query(alias="from", description="first local day, YYYY-MM-DD")] = None,
         end: Annotated[str | None, Query(alias="to", description="last local day (included); default today")] = None,
         ) -> dict[str, object]:
    """Rates, case counts, flow counters, mean handling time and 综合指标值 of one scope over ``from``…``to`` (one
    day by default): the cases registered in the period, as of its last day (docs/metrics.md, "Case KPIs").

    ``overdue_open`` is the open cases past their deadline *now*, whatever the period.
    """
    state = state_of(request)
    if scope not in keys.SCOPES:
        raise ApiError(400, "scope", f"unknown scope {scope!r} (use {', '.join(keys.SCOPES)})")
    scope_id = state.city.city.code if id is None and scope == "city" else id
    if scope_id is None:
        raise ApiError(400, "id", f"required for scope {scope}")
    _known(state, "id", scope, scope_id)
    last = _day("to", end, _today(state))
    first = _day("from", start, last)
    if last < first:
        raise ApiError(400, "to", f"{last} is before from ({first})")
    if (last - first).days + 1 > MAX_PERIOD_DAYS:
        raise ApiError(400, "from", f"a period covers at most {MAX_PERIOD_DAYS} days (the cohorts' retention)")
    figures = period_kpis(state.redis, first, last, scope, scope_id, state.city.timezone,
                          overdue_open(state.redis, scope, scope_id))
    out: dict[str, object] = {"scope": scope, "id": scope_id, "from": first.isoformat(), "to": last.isoformat(),
                              "kpis": figures.as_dict()}
    if scope in supervision.SCOPES:  # 督办 received in the period (an indicator of the 考核)
        out["supervision_received"] = supervision.received_counts(state.redis, first, last, scope, [scope_id],
                                                                  state.city.timezone)[scope_id]
    if scope == "department":  # its 督办单 escalated for want of a reply in the period
        out["supervision_overdue"] = supervision.escalation_counts(state.redis, first, last, [scope_id],
                                                                   state.city.timezone)[scope_id]
    if scope in ("street", "department"):  # the points of the 督查发现 entered in the period
        out["inspection_points"] = supervision.finding_points(state.redis, first, last, scope, [scope_id],
                                                              state.city.timezone)[scope_id]
    return out


@router.get("/cases")
def cases(request: Request,
          start: Annotated[str | None, Query(alias="from", description="first local report day (default: to)")] = None,
          end: Annotated[str | None, Query(alias="to", description="last local report day (default today)")] = None,
          district: str | None = None, street: str | None = None, grid: str | None = None,
          category: str | None = None, source: str | None = None,
          status: Annotated[str | None, Query(description="states, comma-separated, or open / final")] = None,
          overdue: bool | None = None,
          limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
          cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
          ) -> dict[str, object]:
    """Cases reported in ``from``…``to``, newest first, filtered; page on with ``cursor``."""
    state = state_of(request)
    for field, scope, value in (("district", "district", district), ("street", "street", street),
                                ("grid", "grid", grid), ("category", "category", category),
                                ("source", "source", source)):
        if value is not None:
            _known(state, field, scope, value)
    last = _day("to", end, _today(state))
    first = _day("from", start, last)
    try:
        query = CaseQuery(first, last, district=district, street=street, grid=grid, category=category,
                          source=source, states=parse_states(status) if status is not None else None,
                          overdue=overdue, limit=limit, cursor=Cursor.decode(cursor) if cursor else None)
    except SearchError as err:
        raise ApiError(400, err.field, err.reason) from None
    page = search_cases(state.redis, query, state.city.city.code, state.city.timezone,
                        street_of=state.city.city.street_of)
    return {"cases": page.cases, "next_cursor": page.next_cursor, "complete": page.complete,
            "scanned": page.scanned}


@router.get("/cases/{case_id:path}")
def one_case(request: Request, case_id: str) -> dict[str, object]:
    """One case's current state and its timeline, oldest step first; 404 when the read model has no such case."""
    state = state_of(request)
    _id("case_id", case_id)
    data = read.case(state.redis, case_id)
    if not data:
        raise ApiError(404, "case_id", f"no case {case_id!r} (never reported, or past its retention)")
    return {"case_id": case_id, "case": data, "timeline": read.case_timeline(state.redis, case_id)}


@router.get("/alerts")
def alerts(request: Request, limit: Annotated[int, Query(ge=1, le=MAX_ALERTS)] = 200) -> dict[str, object]:
    """Alerts not yet cleared (active or acknowledged), newest first, as the duty console shows them."""
    state = state_of(request)
    rows = [row for row in read.alerts_current(state.redis) if row.get("state") in ACTIVE_ALERT_STATES]
    return {"alerts": rows[:limit], "count": len(rows)}


@router.get("/sensors/{sensor_id:path}")
def sensor(request: Request, sensor_id: str,
           window: Annotated[str, Query(description="m (1-min of an hour), q (15-min of a day), h (hourly)")] = "q",
           day: Annotated[str | None, Query(alias="date", description="local day of the window (default today)")]
           = None,
           hour: Annotated[int | None, Query(ge=0, le=23, description="the hour, for window=m (default now)")] = None,
           ) -> dict[str, object]:
    """A sensor's latest reading and alert state, and one window's buckets."""
    state = state_of(request)
    _id("sensor_id", sensor_id)
    if window not in RESOLUTIONS:
        raise ApiError(400, "window", f"use one of {', '.join(RESOLUTIONS)}, not {window!r}")
    now = datetime.now(state.city.timezone)
    on = _day("date", day, now.date())
    at = datetime.combine(on, time(hour if hour is not None else now.hour), state.city.timezone)
    registry = {s.id: s for s in state.city.sensors}
    current = sensor_latest(state.redis, sensor_id)
    if current is None and sensor_id not in registry:
        raise ApiError(404, "sensor_id", f"no sensor {sensor_id!r} in the city's registry or the read model")
    kind = (current or {}).get("kind") or (registry[sensor_id].kind if sensor_id in registry else "")
    return {"sensor_id": sensor_id, "kind": kind, "latest": current,
            "window": {"resolution": window, "period": at.strftime("%Y-%m-%dT%H") if window == "m" else on.isoformat(),
                       "buckets": sensor_windows(state.redis, sensor_id, kind, window, at)}}
