"""When the briefing scheduler runs, as pure functions of the local clock (tested without sleeping).

The scheduler writes the briefing of *yesterday* at ``CITYOPS_BRIEFING_TIME`` (07:30) local time:
by then the day is over and the night's late events have arrived. On start it writes the briefing
that is *due* if it is missing: the one of yesterday once today's run time has passed, otherwise the
one of the day before yesterday. Times are wall-clock times in the city's zone, so a zone with
daylight saving still runs at 07:30 local (a run time that does not exist that day is shifted forward
by the gap, 02:30 → 03:30; one that happens twice runs once, at the first).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo


def parse_time(text: str) -> time:
    """``"07:30"`` → ``time(7, 30)``; anything else raises ``ValueError`` naming the setting."""
    try:
        hours, minutes = text.strip().split(":")
        return time(int(hours), int(minutes))
    except ValueError as exc:
        raise ValueError(f"CITYOPS_BRIEFING_TIME={text!r} is not HH:MM") from exc


def run_time_on(day: date, at: time, tz: ZoneInfo) -> datetime:
    """The aware instant of ``at`` on ``day`` in ``tz``: its first occurrence; inside a DST gap, the wall
    time shifted forward by the gap (normalised through UTC, so it prints as the real local time)."""
    local = datetime.combine(day, at, tz).replace(fold=0)
    return local.astimezone(ZoneInfo("UTC")).astimezone(tz)


def next_run(now: datetime, at: time, tz: ZoneInfo) -> datetime:
    """The first run instant strictly after ``now`` (aware)."""
    today = now.astimezone(tz).date()
    for offset in (0, 1, 2):
        candidate = run_time_on(today + timedelta(days=offset), at, tz)
        if _utc(candidate) > _utc(now):  # aware datetimes of one zone compare by wall time: use UTC
            return candidate
    raise AssertionError("unreachable: a run time exists every day")  # pragma: no cover


def briefing_day(run: datetime, tz: ZoneInfo) -> date:
    """The day a run at ``run`` reports on: the local day before."""
    return run.astimezone(tz).date() - timedelta(days=1)


def due_day(now: datetime, at: time, tz: ZoneInfo) -> date:
    """The newest day whose briefing should exist at ``now``: yesterday once today's run time has
    passed, the day before yesterday until then."""
    today = now.astimezone(tz).date()
    if _utc(now) >= _utc(run_time_on(today, at, tz)):
        return today - timedelta(days=1)
    return today - timedelta(days=2)


def days_on_start(now: datetime, at: time, tz: ZoneInfo, with_yesterday: bool = False) -> list[date]:
    """The days whose briefings a scheduler starting at ``now`` writes if missing: the due day and, with
    ``with_yesterday``, yesterday too before its run time (a day that is over; the run rewrites it)."""
    due = due_day(now, at, tz)
    yesterday = now.astimezone(tz).date() - timedelta(days=1)
    return [due, yesterday] if with_yesterday and yesterday != due else [due]


def sleep_seconds(now: datetime, until: datetime, cap: float = 60.0) -> float:
    """How long to sleep before looking at the clock again: at most ``cap`` seconds, so a clock that
    jumps (NTP, a suspended VM) delays a run by a minute at most."""
    return max(0.0, min(cap, (_utc(until) - _utc(now)).total_seconds()))


def _utc(t: datetime) -> datetime:
    return t.astimezone(ZoneInfo("UTC"))
