"""Report periods (周、月、季): which local days a week, month or quarter covers, its label and its neighbours.

Why one module: the period 通报, the 考核 page and the read API must agree on what "last month" is. Weeks are ISO
weeks (Monday to Sunday, ``2026-W48``), months calendar months (``2026-11``), quarters ``2026-Q4``. Pure.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from datetime import date, timedelta


class PeriodKind(enum.StrEnum):
    WEEK = "week"
    MONTH = "month"
    QUARTER = "quarter"


@dataclass(frozen=True, order=True)
class Period:
    """The local days ``start``…``end`` (both included) of one week, month or quarter."""

    start: date
    end: date
    kind: PeriodKind

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def label(self) -> str:
        """``2026-W48``, ``2026-11`` or ``2026-Q4``: file names, URLs and the CLI's ``--period`` value."""
        if self.kind is PeriodKind.WEEK:
            year, week, _ = self.start.isocalendar()
            return f"{year}-W{week:02d}"
        if self.kind is PeriodKind.MONTH:
            return f"{self.start.year}-{self.start.month:02d}"
        return f"{self.start.year}-Q{(self.start.month - 1) // 3 + 1}"

    def title(self, lang: str) -> str:
        """The period as a reader says it: ``2026年第48周（11月23日—11月29日）`` / ``Week 48, 2026 (23–29 Nov)``."""
        s, e = self.start, self.end
        if self.kind is PeriodKind.WEEK:
            year, week, _ = s.isocalendar()
            if lang == "zh":
                return f"{year}年第{week}周（{s.month}月{s.day}日—{e.month}月{e.day}日）"
            return f"Week {week}, {year} ({s:%d %b} – {e:%d %b})"
        if self.kind is PeriodKind.MONTH:
            return f"{s.year}年{s.month}月" if lang == "zh" else f"{s:%B %Y}"
        q = (s.month - 1) // 3 + 1
        return f"{s.year}年第{'一二三四'[q - 1]}季度" if lang == "zh" else f"Q{q} {s.year}"

    def previous(self) -> Period:
        return period_of(self.kind, self.start - timedelta(days=1))

    def next(self) -> Period:
        return period_of(self.kind, self.end + timedelta(days=1))

    def contains(self, day: date) -> bool:
        return self.start <= day <= self.end


def period_of(kind: PeriodKind | str, day: date) -> Period:
    """The week, month or quarter ``day`` falls in."""
    kind = PeriodKind(kind)
    if kind is PeriodKind.WEEK:
        start = day - timedelta(days=day.weekday())
        return Period(start, start + timedelta(days=6), kind)
    first_month = day.month if kind is PeriodKind.MONTH else (day.month - 1) // 3 * 3 + 1
    months = 1 if kind is PeriodKind.MONTH else 3
    start = date(day.year, first_month, 1)
    after = date(start.year + (first_month + months - 1) // 12, (first_month + months - 1) % 12 + 1, 1)
    return Period(start, after - timedelta(days=1), kind)


def last_complete(kind: PeriodKind | str, today: date) -> Period:
    """The newest period of ``kind`` that is over on ``today`` (the one before today's)."""
    return period_of(kind, today).previous()


def recent(period: Period, count: int) -> list[Period]:
    """``count`` periods ending with ``period``, oldest first (a trend's x axis)."""
    out = [period]
    while len(out) < count:
        out.append(out[-1].previous())
    return out[::-1]


_WEEK = re.compile(r"^(\d{4})-W(\d{2})$")
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_QUARTER = re.compile(r"^(\d{4})-Q([1-4])$")


def parse_period(kind: PeriodKind | str, text: str) -> Period:
    """``--date`` of ``cityops report``: a label of ``kind`` (``2026-W48``, ``2026-11``, ``2026-Q4``) or any day
    in the period (``2026-11-17``). ``ValueError`` saying what was expected otherwise."""
    kind = PeriodKind(kind)
    text = text.strip()
    pattern = {PeriodKind.WEEK: _WEEK, PeriodKind.MONTH: _MONTH, PeriodKind.QUARTER: _QUARTER}[kind]
    match = pattern.match(text)
    try:
        if match is None:
            return period_of(kind, date.fromisoformat(text))
        year, n = int(match.group(1)), int(match.group(2))
        if kind is PeriodKind.WEEK:
            return period_of(kind, date.fromisocalendar(year, n, 1))
        if kind is PeriodKind.MONTH:
            return period_of(kind, date(year, n, 1))
        return period_of(kind, date(year, (n - 1) * 3 + 1, 1))
    except ValueError:
        example = {PeriodKind.WEEK: "2026-W48", PeriodKind.MONTH: "2026-11", PeriodKind.QUARTER: "2026-Q4"}[kind]
        raise ValueError(f"{text!r} is not a {kind.value} ({example}) or a day (YYYY-MM-DD)") from None
