"""When the period 通报 are due, as pure functions of the local clock (tested without sleeping).

A week's report is written on the Monday after it, a month's on the 1st after it, a quarter's on the 1st of
the next quarter, each at ``CITYOPS_REPORT_TIME`` (08:00) local time. On start the scheduler writes the newest
due report of each kind if it is missing: the period just over once its run time has passed, the one before
until then. Run instants come from the briefing's DST-aware :func:`~dashboard.briefing.schedule.run_time_on`.
"""

from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from cityops.periods import Period, PeriodKind, period_of
from dashboard.briefing.schedule import run_time_on


def parse_kinds(text: str) -> list[PeriodKind]:
    """``CITYOPS_REPORT_KINDS`` (``week,month,quarter``) → kinds; ``ValueError`` naming the setting."""
    try:
        return [PeriodKind(x.strip()) for x in text.split(",") if x.strip()]
    except ValueError:
        raise ValueError(f"CITYOPS_REPORT_KINDS={text!r}: use week, month and/or quarter") from None


def run_time(period: Period, at: time, tz: ZoneInfo) -> datetime:
    """When ``period``'s report is written: ``at`` on the first day after it."""
    return run_time_on(period.next().start, at, tz)


def due_period(kind: PeriodKind, now: datetime, at: time, tz: ZoneInfo) -> Period:
    """The newest period of ``kind`` whose report should exist at ``now``."""
    current = period_of(kind, now.astimezone(tz).date())
    last = current.previous()
    return last if now >= run_time(last, at, tz) else last.previous()


def next_due(kinds: list[PeriodKind], now: datetime, at: time, tz: ZoneInfo) -> tuple[datetime, list[Period]]:
    """The next run instant strictly after ``now`` and the periods due then (a Monday the 1st has two)."""
    today: date = now.astimezone(tz).date()
    runs: dict[datetime, list[Period]] = {}
    for kind in kinds:
        current = period_of(kind, today)
        for period in (current.previous(), current):
            when = run_time(period, at, tz)
            if when > now:
                runs.setdefault(when, []).append(period)
                break
    first = min(runs)
    return first, runs[first]
