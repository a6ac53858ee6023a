"""SLA clocks: which stage a case is in, and when that stage's working-time limit runs out.

Each catalogue subcategory sets a limit per stage in working minutes, hours or days; the deadline is
found on the working-time calendar (office hours, weekends, holidays and make-up working days), so a
4-working-hour limit that starts on Friday afternoon runs out on Monday.

| case state | stage whose clock runs | clock starts at |
|---|---|---|
| reported, accepted | register (立案) | the report |
| registered | dispatch (派遣) | the registration |
| dispatched, reworked | handle (处置) | the (re)dispatch or rework, + every extension (延期) |
| handled | verify (核查) | the handling |

Urgent cases (``urgent: true``) register and dispatch within 10 working minutes at most.
Verified, closed, rejected and voided cases have no running clock.
"""

from __future__ import annotations

from datetime import datetime

from cityops.catalogue import Category, WorkDuration
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


def stage_limit(category: Category, stage: str, urgent: bool) -> WorkDuration:
    limit = category.sla[stage]
    if urgent and stage in ("register", "dispatch") and _minutes(limit) > _minutes(URGENT_LIMIT):
        return URGENT_LIMIT
    return limit


def _minutes(d: WorkDuration) -> float:
    return {"m": 1.0, "h": 60.0, "d": 8 * 60.0}[d.unit] * d.amount


def deadline_for(state: str, category: Category, started: datetime, calendar: WorkCalendar,
                 urgent: bool = False) -> tuple[str, datetime] | None:
    """``(stage, deadline)`` of the clock that runs in ``state``, started at ``started``; None if none runs."""
    stage = STAGE_OF_STATE.get(state)
    if stage is None:
        return None
    return stage, calendar.add(started, stage_limit(category, stage, urgent))


def extend(deadline: datetime, extension: str, calendar: WorkCalendar) -> datetime:
    """The handling deadline after a 延期 of ``extension`` (``2d``, ``4h``) working time."""
    return calendar.add(deadline, WorkDuration.parse(extension))

