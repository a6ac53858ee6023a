"""The working-time calendar that SLA deadlines are counted on (工作时 / 工作日).

Why: time limits for cases are set in working minutes, hours or days, so a deadline depends on office
hours, weekends, public holidays and the make-up working days (调休) the State Council announces each
year. A 4-working-hour limit started on Friday at 16:00 runs out on Monday at 10:30, and one started
on the eve of the National Day week runs out after it.

- Holidays and make-up days come from the city's ``holidays.csv`` (in ``CITYOPS_CITY_DIR``;
  ``date,kind,name_zh,name_en``, kind ``holiday`` = a day off even on a weekday, ``workday`` = a weekend
  day that is worked). The file must be updated every year from the State Council notice
  (国务院办公厅关于…部分节假日安排的通知). Years it does not list fall back to plain Monday–Friday weeks,
  and :func:`missing_year_warning` says so, loudly, for the current year (worker log, console, big screen).
- Office periods default to 08:30–12:00 and 14:30–18:00 (7 working hours a day). Set them with the
  environment variable ``CITYOPS_WORK_PERIODS``, read by :func:`get_calendar`, e.g.
  ``CITYOPS_WORK_PERIODS=08:00-12:00,15:00-18:00`` for a summer timetable: comma-separated
  ``HH:MM-HH:MM`` periods, in order, not overlapping, within one day (ending by 23:59).
- A working day (unit ``d``) is that many working seconds: ``2d`` = 14 working hours with the defaults,
  counted from the start instant, so ``1d`` from Tuesday 10:00 ends on Wednesday 10:00.
- Times are wall-clock times in the calendar's zone (``CITYOPS_TZ``, default Asia/Shanghai, which has
  no daylight saving time); aware datetimes in any zone are accepted and converted.

Speed: ``add`` and ``working_seconds_between`` run for every case event, so they never step minute by
minute: they walk the periods of the first and last day, count whole days in between arithmetically
(5 working days per 7, corrected by the holiday entries in range, found by bisection) and skip whole
weeks that hold no holiday entry. A deadline costs a few microseconds whatever its length.
Internally all arithmetic is in integer microseconds, so ``add`` and ``working_seconds_between`` are
exact inverses.
"""

from __future__ import annotations

import csv
from bisect import bisect_left
from collections.abc import Mapping, Sequence
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

from cityops.catalogue import WorkDuration
from cityops.settings import env_text

DEFAULT_PERIODS: tuple[tuple[time, time], ...] = ((time(8, 30), time(12, 0)), (time(14, 30), time(18, 0)))
HOLIDAY_COLUMNS = ("date", "kind", "name_zh", "name_en")
HOLIDAY_KINDS = ("holiday", "workday")

_US = 1_000_000  # microseconds per second
_DAY_US = 86_400 * _US
_UNIT_US = {"m": 60 * _US, "h": 3600 * _US}
_ONE_DAY = timedelta(days=1)


def _us(t: time) -> int:
    """Microseconds since midnight of a wall-clock time."""
    return ((t.hour * 60 + t.minute) * 60 + t.second) * _US + t.microsecond


def parse_periods(text: str) -> tuple[tuple[time, time], ...]:
    """``"08:30-12:00,14:30-18:00"`` → periods; ordered, non-overlapping, each start < end."""
    periods = []
    for part in text.split(","):
        try:
            a, b = part.strip().split("-")
            periods.append((time.fromisoformat(a.strip()), time.fromisoformat(b.strip())))
        except ValueError:
            raise ValueError(f"work period {part!r} must look like 08:30-12:00") from None
    _check_periods(periods, text)
    return tuple(periods)


def _check_periods(periods: Sequence[tuple[time, time]], label: object) -> None:
    if not periods:
        raise ValueError("at least one work period is needed")
    for (a, b), nxt in zip(periods, [*periods[1:], None], strict=True):
        if not a < b or (nxt is not None and b > nxt[0]):
            raise ValueError(f"work periods {label!r} must be ordered and non-overlapping, each start before its end")


class WorkCalendar:
    """Office periods, weekends, holidays and make-up days of one city, in its time zone.

    ``holidays`` maps a date to ``"holiday"`` (a day off, also on a weekday) or ``"workday"`` (a Saturday
    or Sunday that is worked); dates not listed follow the Monday–Friday week.
    """

    def __init__(self, tz: ZoneInfo, periods: Sequence[tuple[time, time]] = DEFAULT_PERIODS,
                 holidays: Mapping[date, str] | None = None) -> None:
        self.tz = tz
        self.periods = tuple(periods)
        _check_periods(self.periods, self.periods)
        self._spans = tuple((_us(a), _us(b)) for a, b in self.periods)
        self._per_day_us = sum(b - a for a, b in self._spans)
        self.holidays: dict[date, str] = dict(holidays or {})
        for d, kind in self.holidays.items():
            if kind not in HOLIDAY_KINDS:
                raise ValueError(f"holiday kind for {d} must be 'holiday' or 'workday', not {kind!r}")
        self._special = sorted(self.holidays)  # for bisection: which listed dates fall in a range

    @classmethod
    def load(cls, path: Path | None = None, tz: ZoneInfo | None = None,
             periods: Sequence[tuple[time, time]] = DEFAULT_PERIODS) -> WorkCalendar:
        """The calendar of ``holidays.csv`` (default: the city data folder's) in ``tz``
        (default: the ``CITYOPS_TZ`` setting).

        Raises ``ValueError`` naming the line for a wrong header, a bad date, an unknown kind, a date
        listed twice, or a ``workday`` that is not a Saturday or Sunday (it would change nothing, so it
        is a typo in the date).
        """
        from cityops.settings import get_settings  # lazy: settings read the environment

        path = path or get_settings().city_dir / "holidays.csv"
        holidays: dict[date, str] = {}
        with path.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            header = tuple((f or "").strip() for f in reader.fieldnames or ())
            if header != HOLIDAY_COLUMNS:
                raise ValueError(f"{path.name} line 1: header must be {','.join(HOLIDAY_COLUMNS)!r}")
            for line, row in enumerate(reader, start=2):
                where = f"{path.name} line {line}"
                try:
                    d = date.fromisoformat((row["date"] or "").strip())
                except (TypeError, ValueError):
                    raise ValueError(f"{where}: date {row['date']!r} must be YYYY-MM-DD") from None
                kind = (row["kind"] or "").strip()
                if kind not in HOLIDAY_KINDS:
                    raise ValueError(f"{where}: kind {kind!r} must be 'holiday' or 'workday'")
                if d in holidays:
                    raise ValueError(f"{where}: {d} is listed twice")
                if kind == "workday" and d.weekday() < 5:
                    raise ValueError(f"{where}: make-up working day {d} is not a Saturday or Sunday")
                holidays[d] = kind
        return cls(tz or get_settings().tz, periods, holidays)

    # ------------------------------------------------------------------------------------- days

    def has_year(self, year: int) -> bool:
        """Whether the holiday data lists any day of ``year`` (a year without it has no public holidays)."""
        return any(d.year == year for d in self._special)

    def is_working_day(self, d: date) -> bool:
        """Monday–Friday unless listed as a holiday; Saturday/Sunday only if listed as a make-up workday."""
        kind = self.holidays.get(d)
        if kind is not None:
            return kind == "workday"
        return d.weekday() < 5

    def working_seconds_per_day(self) -> int:
        """Working seconds in one working day (25,200 = 7 h with the default periods); the length of ``1d``."""
        return self._per_day_us // _US

    def working_days_between(self, d0: date, d1: date) -> int:
        """Number of working days in ``[d0, d1)`` (0 when ``d1 <= d0``), without walking the days."""
        n = (d1 - d0).days
        if n <= 0:
            return 0
        weeks, rest = divmod(n, 7)
        first = d0.weekday()
        count = weeks * 5 + sum(1 for i in range(rest) if (first + i) % 7 < 5)
        for i in range(bisect_left(self._special, d0), bisect_left(self._special, d1)):
            special = self._special[i]
            weekday = special.weekday() < 5
            if self.holidays[special] == "holiday" and weekday:
                count -= 1
            elif self.holidays[special] == "workday" and not weekday:
                count += 1
        return count

    def _after_working_days(self, day: date, k: int) -> date:
        """The day after the ``k``-th working day counted from ``day`` (``day`` itself if ``k == 0``).

        Whole weeks with no holiday entry hold exactly 5 working days and are skipped in one step.
        """
        while k > 0:
            weeks = k // 5
            if weeks:
                i = bisect_left(self._special, day)
                if i < len(self._special):
                    weeks = min(weeks, (self._special[i] - day).days // 7)
                if weeks:
                    day += timedelta(days=7 * weeks)
                    k -= 5 * weeks
                    continue
            if self.is_working_day(day):
                k -= 1
            day += _ONE_DAY
        return day

    def _in_day(self, day: date, lo: int, hi: int) -> int:
        """Working microseconds of ``day`` between wall-clock offsets ``lo`` and ``hi``."""
        if hi <= lo or not self.is_working_day(day):
            return 0
        return sum(max(0, min(b, hi) - max(a, lo)) for a, b in self._spans)

    # ------------------------------------------------------------------------------------ instants

    def _local(self, dt: datetime, what: str) -> tuple[date, int]:
        if dt.tzinfo is None or dt.utcoffset() is None:
            raise ValueError(f"{what} needs a timezone-aware datetime, got naive {dt.isoformat()}")
        local = dt.astimezone(self.tz)
        return local.date(), _us(local.time())

    def _duration_us(self, duration: WorkDuration) -> int:
        if duration.unit == "d":
            return duration.amount * self._per_day_us
        return duration.amount * _UNIT_US[duration.unit]

    def add(self, start: datetime, duration: WorkDuration) -> datetime:
        """The deadline: the first instant at which ``duration`` of working time, counted from ``start``,
        has passed. A start outside working time counts from the next period start; a deadline that falls
        exactly on a period's end is that end (e.g. 18:00), not the next morning. Returned in ``self.tz``.
        """
        day, offset = self._local(start, "WorkCalendar.add")
        remaining = self._duration_us(duration)
        while True:
            if self.is_working_day(day):
                for a, b in self._spans:
                    if b <= offset:
                        continue
                    begin = max(a, offset)
                    if remaining <= b - begin:
                        return datetime.combine(day, time(0), self.tz) + timedelta(microseconds=begin + remaining)
                    remaining -= b - begin
            day += _ONE_DAY
            offset = 0
            if remaining > self._per_day_us:  # consume whole working days at once, keep (0, per_day] for the last
                whole = -(-remaining // self._per_day_us) - 1
                day = self._after_working_days(day, whole)
                remaining -= whole * self._per_day_us

    def working_seconds_between(self, a: datetime, b: datetime) -> float:
        """Working time in ``[a, b)`` in seconds; negative when ``b`` is before ``a``.

        The inverse of :meth:`add`: ``working_seconds_between(t, add(t, d))`` is ``d`` in seconds, which
        is how elapsed SLA time and "time left" are shown for a running clock.
        """
        da, oa = self._local(a, "working_seconds_between")
        db, ob = self._local(b, "working_seconds_between")
        if b < a:
            return -self.working_seconds_between(b, a)
        if da == db:
            total = self._in_day(da, oa, ob)
        else:
            total = (self._in_day(da, oa, _DAY_US)
                     + self.working_days_between(da + _ONE_DAY, db) * self._per_day_us
                     + self._in_day(db, 0, ob))
        return total / _US


def _periods_from_env() -> tuple[tuple[time, time], ...]:
    raw = env_text("CITYOPS_WORK_PERIODS", "").strip()
    if not raw:
        return DEFAULT_PERIODS
    try:
        return parse_periods(raw)
    except ValueError as err:
        raise ValueError(f"environment variable CITYOPS_WORK_PERIODS={raw!r}: {err}") from None


@lru_cache(maxsize=1)
def get_calendar() -> WorkCalendar:
    """The default calendar (``holidays.csv``, ``CITYOPS_TZ``, ``CITYOPS_WORK_PERIODS``), built once per process."""
    return WorkCalendar.load(periods=_periods_from_env())


def missing_year_warning(calendar: WorkCalendar, today: date, lang: str = "en") -> str | None:
    """The warning to show when ``today``'s year has no holiday data (deadlines then ignore public holidays)."""
    if calendar.has_year(today.year):
        return None
    if lang == "zh":
        return (f"节假日数据缺少 {today.year} 年：时限按周一至周五计算，法定节假日和调休未计入，"
                "请将当年国务院节假日安排补入城市数据目录的 holidays.csv")
    return (f"holidays.csv has no entries for {today.year}: SLA deadlines count every Monday–Friday as a working "
            f"day until the year's State Council holiday notice is added to the city's data folder")
