"""A period's case KPIs: its cohort (the cases registered in it), as of its last day (docs/metrics.md).

Why this shape: each registration day's hash holds, per milestone, how many of its cases reached it on which day
(``closed@20261203``), so a period's figure is the sum over its registration days of the fields dated up to its
last day: exact for a day, a week, a month or any range, and a period that is over reads the same at any later
time. The big screen, the briefings and the read API all read here.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from redis import Redis

from cityops import keys
from cityops.metrics import Counters, Kpis, OverdueGauge
from cityops.read.replies import ints

MAX_PERIOD_DAYS = 400  # the cohorts' retention
_SEP = "@"


def period_days(start: date, end: date) -> list[date]:
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


def local_day_bucket(day: date, tz: ZoneInfo) -> str:
    return keys.day_bucket(datetime.combine(day, time(), tz))


def check_period(start: date, end: date) -> None:
    if end < start:
        raise ValueError(f"the period ends ({end}) before it starts ({start})")
    if (end - start).days + 1 > MAX_PERIOD_DAYS:
        raise ValueError(f"a period is at most {MAX_PERIOD_DAYS} days (the cohorts' retention)")


def _add_as_of(total: dict[str, int], fields: dict[str, int], last: str) -> None:
    for name, value in fields.items():
        milestone, sep, day = name.partition(_SEP)
        if sep and day <= last:
            total[milestone] = total.get(milestone, 0) + value


def cohort_counts_many(r: Redis, start: date, end: date, scope: str, scope_ids: Sequence[str],
                       tz: ZoneInfo) -> dict[str, dict[str, int]]:
    """Per scope id, the cohort counts of ``start``…``end`` (both included, local days) as of ``end``, in one
    round trip: ``{"reg": …, "due": …, "closed": …, "w_closed": …}``, absent milestones left out."""
    check_period(start, end)
    days = [local_day_bucket(d, tz) for d in period_days(start, end)]
    last = days[-1]
    pipe = r.pipeline(transaction=False)
    for sid in scope_ids:
        for day in days:
            pipe.hgetall(keys.cohort(day, scope, sid))
    replies = iter(pipe.execute())
    out: dict[str, dict[str, int]] = {}
    for sid in scope_ids:
        total: dict[str, int] = {}
        for _ in days:
            _add_as_of(total, ints(next(replies)), last)
        out[sid] = {k: v for k, v in total.items() if v}
    return out


def cohort_counts(r: Redis, start: date, end: date, scope: str, scope_id: str, tz: ZoneInfo) -> dict[str, int]:
    """The cohort counts of one scope over ``start``…``end`` (see :func:`cohort_counts_many`)."""
    return cohort_counts_many(r, start, end, scope, [scope_id], tz)[scope_id]


def flow_counters_many(r: Redis, start: date, end: date, scope: str, scope_ids: Sequence[str],
                       tz: ZoneInfo) -> dict[str, dict[str, float]]:
    """The flow counters (steps: 受理、立案、派遣…) of the period's days added up, per scope id."""
    days = [local_day_bucket(d, tz) for d in period_days(start, end)]
    pipe = r.pipeline(transaction=False)
    for sid in scope_ids:
        for day in days:
            pipe.hgetall(keys.kpi_daily(day, scope, sid))
    replies = iter(pipe.execute())
    out: dict[str, dict[str, float]] = {}
    for sid in scope_ids:
        total: dict[str, float] = {}
        for _ in days:
            for name, value in ints(next(replies)).items():
                total[name] = total.get(name, 0) + value
        out[sid] = total
    return out


def period_kpis_many(r: Redis, start: date, end: date, scope: str, scope_ids: Sequence[str], tz: ZoneInfo,
                     gauges: dict[str, OverdueGauge] | None = None) -> dict[str, Kpis]:
    """Rates and scores of the period's cohort per scope id, with the period's flow counters and, where given,
    the overdue gauge of now (``gauges``: it belongs to no period)."""
    cases = cohort_counts_many(r, start, end, scope, scope_ids, tz)
    flows = flow_counters_many(r, start, end, scope, scope_ids, tz)
    out: dict[str, Kpis] = {}
    for sid in scope_ids:
        counters = Counters(flows[sid])
        if gauges is not None and sid in gauges:
            counters = counters.with_gauge(gauges[sid])
        out[sid] = Kpis.of(counters, cases[sid], department=scope == "department")
    return out


def period_kpis(r: Redis, start: date, end: date, scope: str, scope_id: str, tz: ZoneInfo,
                gauge: OverdueGauge | None = None) -> Kpis:
    """:func:`period_kpis_many` of one scope."""
    return period_kpis_many(r, start, end, scope, [scope_id], tz,
                            None if gauge is None else {scope_id: gauge})[scope_id]
