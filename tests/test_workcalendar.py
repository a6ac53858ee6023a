"""Working-time calendar: deadlines across weekends, holidays and make-up working days."""

from __future__ import annotations

import random
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from cityops.catalogue import WorkDuration
from cityops.workcalendar import WorkCalendar, get_calendar, parse_periods

TZ = ZoneInfo("Asia/Shanghai")
H = WorkDuration.parse


def at(*args) -> datetime:
    return datetime(*args, tzinfo=TZ)


@pytest.fixture(scope="module")
def cal() -> WorkCalendar:
    return WorkCalendar.load(tz=TZ)


def test_working_days(cal):
    assert cal.is_working_day(date(2026, 11, 24))  # Tuesday
    assert not cal.is_working_day(date(2026, 11, 28))  # Saturday
    assert not cal.is_working_day(date(2026, 10, 5))  # National Day week, a Monday
    assert cal.is_working_day(date(2026, 10, 10))  # make-up Saturday
    assert cal.working_seconds_per_day() == 7 * 3600


def test_deadline_across_a_weekend(cal):
    # Friday 16:00 + 4 working hours: 2 h on Friday, then Monday 08:30 + 2 h = 10:30.
    assert cal.add(at(2026, 11, 20, 16, 0), H("4h")) == at(2026, 11, 23, 10, 30)


def test_deadline_across_the_national_day_holiday_and_a_make_up_saturday(cal):
    # Wed 30 Sep 17:00 + 3 working hours: 1 h on 30 Sep, Oct 1–7 off (Oct 8 Thu, Oct 9 Fri work).
    assert cal.add(at(2026, 9, 30, 17, 0), H("3h")) == at(2026, 10, 8, 10, 30)
    # Fri 9 Oct 17:00 + 2 working hours: 1 h Friday, Saturday 10 Oct is a make-up working day.
    assert cal.add(at(2026, 10, 9, 17, 0), H("2h")) == at(2026, 10, 10, 9, 30)
    # Before the Spring Festival: Fri 13 Feb 17:30 + 1h → Sat 14 Feb (make-up) 09:00.
    assert cal.add(at(2026, 2, 13, 17, 30), H("1h")) == at(2026, 2, 14, 9, 0)


def test_minutes_days_lunch_breaks_and_holidays(cal):
    assert cal.add(at(2026, 11, 24, 11, 50), H("30m")) == at(2026, 11, 24, 14, 50)  # over lunch
    assert cal.add(at(2026, 11, 24, 12, 30), H("10m")) == at(2026, 11, 24, 14, 40)  # starts in lunch
    assert cal.add(at(2026, 11, 24, 7, 0), H("10m")) == at(2026, 11, 24, 8, 40)  # before office hours
    assert cal.add(at(2026, 11, 24, 20, 0), H("10m")) == at(2026, 11, 25, 8, 40)  # after office hours
    assert cal.add(at(2026, 10, 3, 10, 0), H("1h")) == at(2026, 10, 8, 9, 30)  # starts on a holiday
    assert cal.add(at(2026, 11, 24, 8, 30), H("1d")) == at(2026, 11, 24, 18, 0)
    assert cal.add(at(2026, 11, 24, 10, 0), H("2d")) == at(2026, 11, 26, 10, 0)
    assert cal.add(at(2026, 11, 24, 12, 0), H("3h")) == at(2026, 11, 24, 17, 30)  # period end = next start
    utc = datetime(2026, 11, 24, 1, 0, tzinfo=ZoneInfo("UTC"))  # 09:00 local
    assert cal.add(utc, H("1h")) == at(2026, 11, 24, 10, 0)


def test_between_is_the_inverse_of_add(cal):
    rng = random.Random(11)
    for _ in range(300):
        start = at(2026, 1, 1) + timedelta(minutes=rng.randrange(0, 365 * 24 * 60))
        dur = WorkDuration(rng.randint(1, 40), rng.choice("mhd"))  # type: ignore[arg-type]
        end = cal.add(start, dur)
        expected = dur.amount * {"m": 60, "h": 3600, "d": cal.working_seconds_per_day()}[dur.unit]
        assert cal.working_seconds_between(start, end) == pytest.approx(expected)
        assert cal.working_seconds_between(end, start) == pytest.approx(-expected)
        assert end > start


def test_naive_datetimes_are_refused(cal):
    with pytest.raises(ValueError, match="timezone-aware"):
        cal.add(datetime(2026, 11, 24, 9, 0), H("1h"))


def test_configurable_periods(monkeypatch):
    assert parse_periods("08:00-12:00,15:00-18:00") == ((time(8), time(12)), (time(15), time(18)))
    for bad in ("8-12", "12:00-08:00", "08:00-12:00,11:00-13:00"):
        with pytest.raises(ValueError):
            parse_periods(bad)
    monkeypatch.setenv("CITYOPS_WORK_PERIODS", "08:00-12:00,15:00-18:00")
    get_calendar.cache_clear()
    try:
        assert get_calendar().add(at(2026, 11, 24, 11, 0), H("2h")) == at(2026, 11, 24, 16, 0)
    finally:
        monkeypatch.delenv("CITYOPS_WORK_PERIODS")
        get_calendar.cache_clear()
