"""KPIs of one scope over a period of local days: the days' counters summed, with the overdue gauge of now.

Why summed counters and not averaged rates: a rate over a week is the week's closed over the week's
registered, not the mean of seven daily rates; :class:`cityops.metrics.Kpis` computes it from the sums.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from redis import Redis

from cityops import keys
from cityops.metrics import Counters, Kpis
from cityops.read.kpis import overdue_open
from cityops.read.replies import ints

MAX_PERIOD_DAYS = 400  # the daily counters' retention


def period_days(start: date, end: date) -> list[date]:
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


def period_counters(r: Redis, start: date, end: date, scope: str, scope_id: str, tz: ZoneInfo) -> Counters:
    """The daily counters of ``start``…``end`` (both included) added up, in one round trip."""
    pipe = r.pipeline(transaction=False)
    for day in period_days(start, end):
        pipe.hgetall(keys.kpi_daily(keys.day_bucket(datetime.combine(day, time(), tz)), scope, scope_id))
    total: dict[str, float] = {}
    for data in pipe.execute():
        for name, value in ints(data).items():
            total[name] = total.get(name, 0) + value
    return Counters(total)


def period_kpis(r: Redis, start: date, end: date, scope: str, scope_id: str, tz: ZoneInfo) -> Kpis:
    """Counters, rates and score of ``start``…``end``; ``overdue_open`` is the gauge now, as in :func:`read.kpis`."""
    counters = period_counters(r, start, end, scope, scope_id, tz)
    return Kpis.of(counters.with_gauge(overdue_open(r, scope, scope_id)))
