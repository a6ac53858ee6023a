"""SLA clocks: which stage a case is in, and when that stage's limit runs out.

Each catalogue subcategory sets a limit per stage in minutes, hours or days, and says (its ``clock``
column) whether its clocks run in **working time** or **natural time**:

- working time (工作时间): the deadline is found on the working-time calendar (office hours, weekends,
  holidays and make-up working days), so a 2-hour limit that starts on Friday at 19:00 runs out on Monday
  at 10:30; a ``d`` is one working day of the calendar (7 h by default);
- natural time (自然时间, 24×7): wall-clock minutes and hours, a ``d`` is 24 hours (自然日), so the
  Friday 19:00 gas leak with a 2-hour limit is due at 21:00 the same evening. Counted in UTC, so a
  daylight-saving change neither adds nor removes an hour.

The catalogue's 突发事件 (emergencies) classes run in natural time, the rest in working time; an urgent
case (``urgent: true``) runs in natural time whatever its class (:func:`runs_in_natural_time`).

| case state | stage whose clock runs | clock starts at | time it runs in |
|---|---|---|---|
| reported, accepted | register (立案) | the report | category's clock; natural if urgent |
| registered | dispatch (派遣) | the registration | category's clock; natural if urgent |
| dispatched, reworked | handle (处置) | the (re)dispatch or rework, + every 延期 | category's; natural if urgent |
| handled | verify (核查) | the handling | category's clock; natural if urgent |

Urgent cases also register and dispatch within 10 minutes at most.
Verified, closed, rejected and voided cases have no running clock.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cityops.catalogue import Category, Clock, WorkDuration
from cityops.workcalendar import WorkCalendar
from streams import lifecycle as lc

STAGE_OF_STATE: dict[str, str] = {
    lc.REPORTED: "register",
    lc.ACCEPTED: "register",
    lc.REGISTERED: "dispatch",
    lc.DISPATCHED: "handle",
    lc.REWORKED: "handle",
    lc.HANDLED: "verify",
}

URGENT_LIMIT = WorkDuration(10, "m")

_NATURAL_UNIT = {"m": timedelta(minutes=1), "h": timedelta(hours=1), "d": timedelta(days=1)}


def stage_limit(category: Category, stage: str, urgent: bool) -> WorkDuration:
    limit = category.sla[stage]
    if urgent and stage in ("register", "dispatch") and _minutes(limit) > _minutes(URGENT_LIMIT):
        return URGENT_LIMIT
    return limit


def _minutes(d: WorkDuration) -> float:
    return {"m": 1.0, "h": 60.0, "d": 8 * 60.0}[d.unit] * d.amount


def runs_in_natural_time(category: Category, urgent: bool) -> bool:
    """Whether this case's clocks run in natural time (24×7): its category says so, or the case is urgent."""
    return urgent or category.clock is Clock.NATURAL


def natural_add(start: datetime, duration: WorkDuration, calendar: WorkCalendar) -> datetime:
    """``start`` + ``duration`` of wall-clock time (a ``d`` is 24 hours), in the calendar's zone.

    The sum is taken in UTC so that elapsed time is exact across a daylight-saving change.
    """
    if start.tzinfo is None or start.utcoffset() is None:
        raise ValueError(f"natural_add needs a timezone-aware datetime, got naive {start.isoformat()}")
    end = start.astimezone(UTC) + duration.amount * _NATURAL_UNIT[duration.unit]
    return end.astimezone(calendar.tz)


def _add(start: datetime, duration: WorkDuration, calendar: WorkCalendar, natural: bool) -> datetime:
    return natural_add(start, duration, calendar) if natural else calendar.add(start, duration)


def deadline_for(state: str, category: Category, started: datetime, calendar: WorkCalendar,
                 urgent: bool = False) -> tuple[str, datetime] | None:
    """``(stage, deadline)`` of the clock that runs in ``state``, started at ``started``; None if none runs.

    Counted in natural time when :func:`runs_in_natural_time`, otherwise on the working calendar.
    """
    stage = STAGE_OF_STATE.get(state)
    if stage is None:
        return None
    limit = stage_limit(category, stage, urgent)
    return stage, _add(started, limit, calendar, runs_in_natural_time(category, urgent))


def extend(deadline: datetime, extension: str, calendar: WorkCalendar, natural: bool = False) -> datetime:
    """The handling deadline after a 延期 of ``extension`` (``2d``, ``4h``): working time, or natural time
    when ``natural`` (pass ``runs_in_natural_time(category, urgent)``, so the extension runs on the same clock)."""
    return _add(deadline, WorkDuration.parse(extension), calendar, natural)

