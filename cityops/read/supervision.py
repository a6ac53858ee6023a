"""督办 received, 督办单 escalated and 督查发现 per unit over a period: what the command agent and the supervision
timer keep per local day (``keys.supervision_daily``, ``keys.findings_daily``: streams/command_projection.py,
streams/agents/supervision_timer.py), read by the 考核, the period 通报 and the read API."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date
from zoneinfo import ZoneInfo

from redis import Redis

from cityops import keys
from cityops.read.kpi_cohort import check_period, local_day_bucket, period_days

SCOPES = ("district", "street", "department")  # the units a 督办 counts against


def _daily_sums(r: Redis, first_day: date, last_day: date, key_of: Callable[[str, str, str], str], scope: str,
                scope_ids: Sequence[str], field: str, tz: ZoneInfo) -> dict[str, float]:
    """Per scope id, the sum of ``field`` over the daily hashes ``key_of(day, scope, id)`` of ``first_day``…
    ``last_day`` (local days, both included), in one round trip."""
    check_period(first_day, last_day)
    days = [local_day_bucket(d, tz) for d in period_days(first_day, last_day)]
    pipe = r.pipeline(transaction=False)
    for sid in scope_ids:
        for day in days:
            pipe.hget(key_of(day, scope, sid), field)
    replies = iter(pipe.execute())
    return {sid: sum(float(next(replies) or 0) for _ in days) for sid in scope_ids}


def received_counts(r: Redis, first_day: date, last_day: date, scope: str, scope_ids: Sequence[str],
                    tz: ZoneInfo) -> dict[str, int]:
    """Per scope id (``district``, ``street`` or ``department``), the cases first put under 督办 in the period."""
    sums = _daily_sums(r, first_day, last_day, keys.supervision_daily, scope, scope_ids, "received", tz)
    return {sid: int(n) for sid, n in sums.items()}


def escalation_counts(r: Redis, first_day: date, last_day: date, scope_ids: Sequence[str],
                      tz: ZoneInfo) -> dict[str, int]:
    """Per department, how often one of its 督办单 passed its reply deadline unanswered in the period."""
    sums = _daily_sums(r, first_day, last_day, keys.supervision_daily, "department", scope_ids, "escalated", tz)
    return {sid: int(n) for sid, n in sums.items()}


def finding_points(r: Redis, first_day: date, last_day: date, scope: str, scope_ids: Sequence[str],
                   tz: ZoneInfo) -> dict[str, float]:
    """Per street or department, the points of the 督查发现 entered in the period (signed sum)."""
    sums = _daily_sums(r, first_day, last_day, keys.findings_daily, scope, scope_ids, "points", tz)
    return {sid: round(n, 4) for sid, n in sums.items()}
