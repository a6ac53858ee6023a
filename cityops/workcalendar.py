"""The working-time calendar that SLA deadlines are counted on (工作时 / 工作日).

Time limits for cases are set in working minutes, hours or days, so a deadline depends on office
hours, weekends, public holidays and the make-up working days (调休) the State Council announces each
year. Holidays and make-up days come from ``fixtures/data/holidays.csv`` (update it every year).

Office periods default to 08:30–12:00 and 14:30–18:00 (7 working hours a day) and can be set with
``CITYOPS_WORK_PERIODS``, e.g. ``08:00-12:00,15:00-18:00`` for Xiamen's summer timetable.
A working day (``d``) is that many working hours: ``2d`` = 14 working hours with the defaults.

The arithmetic steps through periods and days (never minute by minute): one deadline costs a few
microseconds per day it spans.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Mapping, Sequence
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

from cityops.catalogue import DATA_DIR, WorkDuration

DEFAULT_PERIODS: tuple[tuple[time, time], ...] = ((time(8, 30), time(12, 0)), (time(14, 30), time(18, 0)))
_UNIT_SECONDS = {"m": 60, "h": 3600}
_MAX_DAYS = 3660  # a limit this far out is a configuration error, not a deadline


def _seconds(t: time) -> int:
    return t.hour * 3600 + t.minute * 60 + t.second


def parse_periods(text: str) -> tuple[tuple[time, time], ...]:
    """``"08:30-12:00,14:30-18:00"`` → periods; ordered, non-overlapping, each start < end."""
    periods = []
    for part in text.split(","):
        try:
            a, b = part.strip().split("-")
            periods.append((time.fromisoformat(a.strip()), time.fromisoformat(b.strip())))
        except ValueError:
            raise ValueError(f"work period {part!r} must look like 08:30-12:00") from None
    for (a, b), nxt in zip(periods, [*periods[1:], None], strict=True):
        if not a < b or (nxt is not None and b > nxt[0]):
            raise ValueError(f"work periods {text!r} must be ordered and non-overlapping")
    return tuple(periods)


class WorkCalendar:
    def __init__(self, tz: ZoneInfo, periods: Sequence[tuple[time, time]] = DEFAULT_PERIODS,
                 holidays: Mapping[date, str] | None = None) -> None:
        self.tz = tz
        self.periods = tuple(periods)
        self._spans = [(_seconds(a), _seconds(b)) for a, b in self.periods]
        self.holidays = dict(holidays or {})
        for d, kind in self.holidays.items():
            if kind not in ("holiday", "workday"):
                raise ValueError(f"holiday kind for {d} must be 'holiday' or 'workday', not {kind!r}")

    @classmethod
    def load(cls, path: Path | None = None, tz: ZoneInfo | None = None,
             periods: Sequence[tuple[time, time]] = DEFAULT_PERIODS) -> WorkCalendar:
        from cityops.settings import get_settings

        holidays: dict[date, str] = {}
        with (path or DATA_DIR / "holidays.csv").open(newline="", encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                holidays[date.fromisoformat(row["date"])] = row["kind"]
        return cls(tz or get_settings().tz, periods, holidays)

    def is_working_day(self, d: date) -> bool:
        kind = self.holidays.get(d)
        if kind is not None:
            return kind == "workday"
        return d.weekday() < 5

    def working_seconds_per_day(self) -> int:
        return sum(b - a for a, b in self._spans)

    def add(self, start: datetime, duration: WorkDuration) -> datetime:
        """The instant at which ``duration`` of working time, counted from ``start``, has passed."""
        if start.tzinfo is None:
            raise ValueError("WorkCalendar.add needs a timezone-aware start")
        if duration.unit == "d":
            remaining = duration.amount * self.working_seconds_per_day()
        else:
            remaining = duration.amount * _UNIT_SECONDS[duration.unit]
        local = start.astimezone(self.tz)
        day = local.date()
        offset = _seconds(local.time()) + local.microsecond / 1e6
        for _ in range(_MAX_DAYS):
            if self.is_working_day(day):
                for a, b in self._spans:
                    if b <= offset:
                        continue
                    begin = max(a, offset)
                    available = b - begin
                    if remaining <= available:
                        return datetime.combine(day, time(0), self.tz) + timedelta(seconds=begin + remaining)
                    remaining -= available
            day += timedelta(days=1)
            offset = 0
        raise ValueError(f"{duration} from {start.isoformat()} runs past {_MAX_DAYS} days")

    def working_seconds_between(self, a: datetime, b: datetime) -> float:
        """Working time in ``[a, b)`` in seconds; negative when ``b`` is before ``a``."""
        if a.tzinfo is None or b.tzinfo is None:
            raise ValueError("working_seconds_between needs timezone-aware datetimes")
        if b < a:
            return -self.working_seconds_between(b, a)
        la, lb = a.astimezone(self.tz), b.astimezone(self.tz)
        total = 0.0
        day = la.date()
        while day <= lb.date():
            if self.is_working_day(day):
                lo = _seconds(la.time()) + la.microsecond / 1e6 if day == la.date() else 0.0
                hi = _seconds(lb.time()) + lb.microsecond / 1e6 if day == lb.date() else 86400.0
                for s, e in self._spans:
                    total += max(0.0, min(e, hi) - max(s, lo))
            day += timedelta(days=1)
        return total


@lru_cache(maxsize=1)
def get_calendar() -> WorkCalendar:
    raw = os.environ.get("CITYOPS_WORK_PERIODS", "")
    return WorkCalendar.load(periods=parse_periods(raw) if raw else DEFAULT_PERIODS)
