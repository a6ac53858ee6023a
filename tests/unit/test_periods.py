"""Report periods: ISO weeks, calendar months and quarters, their labels, neighbours and parsing."""

from __future__ import annotations

from datetime import date

import pytest

from cityops.periods import PeriodKind, last_complete, parse_period, period_of, recent


def test_a_week_is_monday_to_sunday_across_a_year_end():
    p = period_of("week", date(2027, 1, 1))  # a Friday of ISO week 53 of 2026
    assert (p.start, p.end, p.label, p.days) == (date(2026, 12, 28), date(2027, 1, 3), "2026-W53", 7)
    assert p.title("zh") == "2026年第53周（12月28日—1月3日）"


def test_months_and_quarters_end_on_their_last_day():
    assert period_of("month", date(2028, 2, 10)).end == date(2028, 2, 29)  # leap year
    q = period_of(PeriodKind.QUARTER, date(2026, 12, 3))
    assert (q.start, q.end, q.label) == (date(2026, 10, 1), date(2026, 12, 31), "2026-Q4")
    assert q.title("zh") == "2026年第四季度"
    assert q.next().label == "2027-Q1" and q.previous().label == "2026-Q3"


def test_last_complete_and_recent():
    assert last_complete("month", date(2026, 12, 1)).label == "2026-11"
    assert last_complete("week", date(2026, 11, 30)).label == "2026-W48"  # a Monday: last week is over
    assert [p.label for p in recent(period_of("month", date(2026, 2, 1)), 3)] == ["2025-12", "2026-01", "2026-02"]


@pytest.mark.parametrize(("kind", "text", "label"), [
    ("week", "2026-W48", "2026-W48"), ("week", "2026-11-29", "2026-W48"), ("month", "2026-11", "2026-11"),
    ("quarter", "2026-Q4", "2026-Q4"), ("quarter", "2026-11-17", "2026-Q4")])
def test_parse_a_label_or_a_day(kind, text, label):
    assert parse_period(kind, text).label == label


@pytest.mark.parametrize(("kind", "text"), [("month", "2026-13"), ("week", "2026-W60"), ("quarter", "2026-Q5"),
                                            ("month", "last month")])
def test_parse_refuses_what_is_no_period(kind, text):
    with pytest.raises(ValueError, match="is not a"):
        parse_period(kind, text)
