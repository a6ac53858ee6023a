"""督办 received and 督查发现 per unit over a period: what the command agent keeps per local day
(``keys.supervision_daily``, ``keys.findings_daily``: streams/command_projection.py), read by the 考核, the period
通报 and the read API."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from zoneinfo import ZoneInfo

from redis import Redis

from cityops import keys
from cityops.read.kpi_cohort import check_period, local_day_bucket, period_days

SCOPES = ("district", "street", "department")  # the units a 督办 counts against


def received_counts(r: Redis, first_day: date, last_day: date, scope: str, scope_ids: Sequence[str],
                    tz: ZoneInfo) -> dict[str, int]:
    """Per scope id (``district``, ``street`` or ``department``), the cases first put under 督办 on
    ``first_day``…``last_day`` (local days, both included), in one round trip."""
    check_period(first_day, last_day)
    days = [local_day_bucket(d, tz) for d in period_days(first_day, last_day)]
    pipe = r.pipeline(transaction=False)
    for sid in scope_ids:
        for day in days:
            pipe.hget(keys.supervision_daily(day, scope, sid), "received")
    replies = iter(pipe.execute())
    return {sid: sum(int(next(replies) or 0) for _ in days) for sid in scope_ids}


def finding_points(r: Redis, first_day: date, last_day: date, scope: str, scope_ids: Sequence[str],
                   tz: ZoneInfo) -> dict[str, float]:
    """Per street or department, the points of the 督查发现 entered on ``first_day``…``last_day`` (signed sum)."""
    check_period(first_day, last_day)
    days = [local_day_bucket(d, tz) for d in period_days(first_day, last_day)]
    pipe = r.pipeline(transaction=False)
    for sid in scope_ids:
        for day in days:
            pipe.hget(keys.findings_daily(day, scope, sid), "points")
    replies = iter(pipe.execute())
    return {sid: round(sum(float(next(replies) or 0) for _ in days), 4) for sid in scope_ids}
