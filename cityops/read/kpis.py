"""KPI reads of one day: flow counters per day and hour, the overdue gauge, rates and scores per scope, rankings.

Every function takes the scope and its id (for the city, ``"city"`` and the city model's code): no city
is assumed. Figures come back as :mod:`cityops.metrics` types, their rates computed there, once: on the day's
cohort (the cases registered that day, as of its end: :mod:`cityops.read.kpi_cohort`), with the day's flow
counters (steps) for the activity figures.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from redis import Redis

from cityops import keys
from cityops.lua import source
from cityops.metrics import Counters, Kpis, Metric, OverdueGauge, Ranked, ranked
from cityops.read.kpi_cohort import cohort_counts_many
from cityops.read.replies import ints


def _hour(day: datetime, h: int) -> str:
    return f"{keys.day_bucket(day)}{h:02d}"


def day_counters(r: Redis, day: datetime, scope: str, scope_id: str) -> Counters:
    """Counters of one local day for one scope (``received``, ``registered``, ``closed``, …)."""
    return Counters(ints(r.hgetall(keys.kpi_daily(keys.day_bucket(day), scope, scope_id))))


def day_counters_many(r: Redis, day: datetime, scope: str, scope_ids: Sequence[str]) -> dict[str, Counters]:
    pipe = r.pipeline(transaction=False)
    for sid in scope_ids:
        pipe.hgetall(keys.kpi_daily(keys.day_bucket(day), scope, sid))
    return {sid: Counters(ints(d)) for sid, d in zip(scope_ids, pipe.execute(), strict=True)}


def hourly_counters(r: Redis, day: datetime, scope: str, scope_id: str) -> list[Counters]:
    """The counters of each of the 24 hours of ``day`` (local)."""
    pipe = r.pipeline(transaction=False)
    for h in range(24):
        pipe.hgetall(keys.kpi_hourly(_hour(day, h), scope, scope_id))
    return [Counters(ints(d)) for d in pipe.execute()]


def counters_until(r: Redis, at: datetime, scope: str, scope_id: str,
                   fields: Sequence[str] | None = None) -> Counters:
    """Counters of ``at``'s local day from midnight up to ``at`` (whole hours, the running hour pro rata).

    Why: the big screen compares today so far with *the same time yesterday*, not with all of
    yesterday. Daily hashes hold whole days, so this sums yesterday's hourly hashes (kept 14 days); the
    hour ``at`` falls in counts by the fraction of it that has passed, which is exact for even flows
    and off by at most one hour's share otherwise. ``fields`` limits the read to those counters (the
    big screen needs five of the thirty, and reply parsing is most of the cost).
    """
    pipe = r.pipeline(transaction=False)
    for h in range(at.hour + 1):
        if fields:
            pipe.hmget(keys.kpi_hourly(_hour(at, h), scope, scope_id), list(fields))
        else:
            pipe.hgetall(keys.kpi_hourly(_hour(at, h), scope, scope_id))
    out: dict[str, float] = {}
    rows = [dict(zip(fields, row, strict=True)) if fields else row for row in pipe.execute()]
    rows = [{k: v for k, v in row.items() if v is not None} for row in rows]
    fraction = (at.minute * 60 + at.second) / 3600.0
    for h, data in enumerate(rows):
        share = fraction if h == at.hour else 1.0
        for k, v in ints(data).items():
            out[k] = out.get(k, 0.0) + v * share
    return Counters(out)


def kpis_until(r: Redis, at: datetime, scope: str, scope_id: str, gauge: OverdueGauge,
               fields: Sequence[str] | None = None) -> Kpis:
    """The flow counters of :func:`counters_until`, with ``gauge`` as the overdue gauge (the read model keeps
    only the gauge of now), and the rates of ``at``'s day's cohort as of that day (milestones are dated by day,
    so a cohort has no figure "up to a time of day": the rates compare whole days)."""
    cases = cohort_counts_many(r, at.date(), at.date(), scope, [scope_id], at.tzinfo)[scope_id]  # type: ignore[arg-type]
    return Kpis.of(counters_until(r, at, scope, scope_id, fields).with_gauge(gauge), cases,
                   department=scope == "department")


def day_metric_many(r: Redis, day: datetime, scope: str, scope_ids: Sequence[str], metric: Metric) -> dict[str, int]:
    """One counter of one day for many scopes (e.g. ``received`` per category), without the other fields."""
    pipe = r.pipeline(transaction=False)
    for sid in scope_ids:
        pipe.hget(keys.kpi_daily(keys.day_bucket(day), scope, sid), metric)
    return {sid: int(float(v)) for sid, v in zip(scope_ids, pipe.execute(), strict=True) if v}


def hourly_metric(r: Redis, day: datetime, metric: Metric, scope: str, scope_id: str) -> list[int]:
    """One counter for each of the 24 hours of ``day`` (the big screen's hourly chart)."""
    pipe = r.pipeline(transaction=False)
    for h in range(24):
        pipe.hget(keys.kpi_hourly(_hour(day, h), scope, scope_id), metric)
    return [int(float(v)) if v else 0 for v in pipe.execute()]


def overdue_open(r: Redis, scope: str, scope_id: str) -> OverdueGauge:
    """Open cases past their deadline *now* in one scope (count and weighted count)."""
    members = r.zrange(keys.overdue(scope, scope_id), 0, -1, withscores=True)
    return OverdueGauge(len(members), float(sum(score for _, score in members)))


def kpis(r: Redis, day: datetime, scope: str, scope_id: str) -> Kpis:
    """Flow counters, overdue gauge, the day's cohort counts and rates (plain and weighted), mean handling time
    and score of one scope.

    ``overdue_open`` is the gauge now, whatever ``day`` is: it counts cases still open past their
    deadline, which belong to no single day.
    """
    return kpis_many(r, day, scope, [scope_id])[scope_id]


# (count, sum of weights) of an overdue set, summed inside Redis: returning thousands of members with
# their scores only to add them up would cost the big screen a large part of its refresh budget.
_OVERDUE_GAUGE = source("overdue_gauge")


def kpis_many(r: Redis, day: datetime, scope: str, scope_ids: Sequence[str]) -> dict[str, Kpis]:
    """:func:`kpis` of many scopes of one kind, in one round trip."""
    pipe = r.pipeline(transaction=False)
    for sid in scope_ids:
        pipe.hgetall(keys.kpi_daily(keys.day_bucket(day), scope, sid))
        pipe.eval(_OVERDUE_GAUGE, 1, keys.overdue(scope, sid))
    raw = pipe.execute()
    cases = cohort_counts_many(r, day.date(), day.date(), scope, scope_ids, day.tzinfo)  # type: ignore[arg-type]
    out: dict[str, Kpis] = {}
    for i, sid in enumerate(scope_ids):
        count, weight = raw[2 * i + 1]
        out[sid] = Kpis.of(Counters(ints(raw[2 * i])).with_gauge(OverdueGauge(int(count), float(weight))),
                           cases[sid], department=scope == "department")
    return out


def ranking(r: Redis, day: datetime, scope: str, scope_ids: Sequence[str]) -> list[Ranked]:
    """Scopes with any activity ranked by 综合指标值 (best first), ties sharing a rank.

    A scope with no case that day and nothing overdue is left out: it has nothing to be ranked on.
    """
    return ranked({sid: k for sid, k in kpis_many(r, day, scope, scope_ids).items()
                   if any(k.counters.values()) or any(k.cases.values())})
