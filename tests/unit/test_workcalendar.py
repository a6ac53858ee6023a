"""Working-time calendar: deadlines across weekends, holidays and make-up working days."""

from __future__ import annotations

import csv
import random
from collections import defaultdict
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from cityops.catalogue import WorkDuration
from cityops.settings import get_settings
from cityops.workcalendar import DEFAULT_PERIODS, WorkCalendar, get_calendar, missing_year_warning, parse_periods

TZ = ZoneInfo("Asia/Shanghai")
UTC = ZoneInfo("UTC")
H = WorkDuration.parse
YEARS = (2017, 2020, 2024, 2025, 2026)


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=TZ)


@pytest.fixture(scope="module")
def cal() -> WorkCalendar:
    return WorkCalendar.load(tz=TZ)


# ------------------------------------------------------------------------------------ the holiday file


def _holiday_rows() -> list[dict[str, str]]:
    with (get_settings().city_dir / "holidays.csv").open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def test_holiday_file_covers_the_years_and_festivals():
    rows = _holiday_rows()
    assert list(rows[0]) == ["date", "kind", "name_zh", "name_en"]
    dates = [date.fromisoformat(r["date"]) for r in rows]
    assert dates == sorted(dates) and len(set(dates)) == len(dates)
    assert {d.year for d in dates} == set(YEARS)
    for year in YEARS:
        names = " ".join(r["name_zh"] for r in rows if r["date"].startswith(str(year)))
        for festival in ("元旦", "春节", "清明", "劳动", "端午", "中秋", "国庆"):
            assert festival in names, (year, festival)
    for r in rows:
        assert r["kind"] in ("holiday", "workday") and r["name_zh"] and r["name_en"]
        if r["kind"] == "workday":
            assert date.fromisoformat(r["date"]).weekday() >= 5, f"make-up day {r['date']} is not a weekend day"


def test_each_year_gives_exactly_its_statutory_days_off():
    # Statutory holidays falling on a weekend are made up on a weekday, and every 调休 swap moves a
    # weekday off against a weekend workday; so weekday holidays − weekend workdays = statutory days:
    # 11 until 2024, 13 from 2025 (除夕 and 2 May added); 2020 has 2 more (the COVID extension of the
    # Spring Festival to 2 February, which also cancelled the make-up Saturday 1 February).
    net: dict[int, int] = defaultdict(int)
    for r in _holiday_rows():
        d = date.fromisoformat(r["date"])
        if r["kind"] == "holiday" and d.weekday() < 5:
            net[d.year] += 1
        elif r["kind"] == "workday":
            net[d.year] -= 1
    assert dict(net) == {2017: 11, 2020: 13, 2024: 11, 2025: 13, 2026: 13}


@pytest.mark.parametrize(
    ("day", "working"),
    [
        (date(2026, 11, 24), True),  # a Tuesday
        (date(2026, 11, 28), False),  # a Saturday
        (date(2026, 10, 5), False),  # National Day week, a Monday
        (date(2026, 10, 10), True),  # make-up Saturday
        (date(2026, 9, 20), True),  # make-up Sunday
        (date(2026, 9, 25), False),  # Mid-Autumn, a Friday
        (date(2026, 1, 2), False),  # New Year, a Friday
        (date(2026, 1, 4), True),  # make-up Sunday
        (date(2026, 2, 14), True),  # make-up Saturday before the Spring Festival
        (date(2026, 2, 23), False),  # last day of the 9-day Spring Festival, a Monday
        (date(2026, 2, 28), True),  # make-up Saturday after it
        (date(2025, 1, 28), False),  # 除夕, a statutory holiday since 2025
        (date(2025, 5, 2), False),
        (date(2024, 2, 18), True),
        (date(2024, 10, 12), True),
        (date(2020, 1, 31), False),  # COVID extension
        (date(2020, 2, 1), False),  # make-up Saturday cancelled by the extension
        (date(2020, 2, 3), True),
        (date(2017, 1, 22), True),
        (date(2017, 10, 8), False),
        (date(2030, 10, 1), True),  # a year the file does not list: plain weekdays
    ],
)
def test_working_days(cal, day, working):
    assert cal.is_working_day(day) is working


def test_working_days_between(cal):
    assert cal.working_seconds_per_day() == 7 * 3600
    assert cal.working_days_between(date(2026, 11, 23), date(2026, 11, 30)) == 5
    assert cal.working_days_between(date(2026, 9, 28), date(2026, 10, 12)) == 6  # 28–30 Sep, 8–10 Oct
    assert cal.working_days_between(date(2026, 1, 1), date(2027, 1, 1)) == 261 - 13
    assert cal.working_days_between(date(2026, 1, 5), date(2026, 1, 5)) == 0
    assert cal.working_days_between(date(2026, 1, 6), date(2026, 1, 5)) == 0
    rng = random.Random(3)
    for _ in range(200):
        d0 = date(2016, 12, 1) + timedelta(days=rng.randrange(0, 3700))
        d1 = d0 + timedelta(days=rng.randrange(0, 400))
        assert cal.working_days_between(d0, d1) == sum(
            cal.is_working_day(d0 + timedelta(days=i)) for i in range((d1 - d0).days))


# ------------------------------------------------------------------------------------------- deadlines


def test_deadline_across_a_weekend(cal):
    # Friday 16:00 + 4 working hours: 16:00–18:00 on Friday is 2 h, then Monday 08:30 + 2 h = 10:30.
    assert cal.add(at(2026, 11, 20, 16, 0), H("4h")) == at(2026, 11, 23, 10, 30)
    # … and 6 h crosses Monday's lunch break: 4 h left, 08:30–12:00 is 3.5 h, 14:30 + 0.5 h = 15:00.
    assert cal.add(at(2026, 11, 20, 16, 0), H("6h")) == at(2026, 11, 23, 15, 0)


def test_deadline_across_the_national_day_holiday_and_make_up_days(cal):
    # Wed 30 Sep 17:00 + 3 h: 1 h on 30 Sep, 1–7 Oct off, Thu 8 Oct 08:30 + 2 h.
    assert cal.add(at(2026, 9, 30, 17, 0), H("3h")) == at(2026, 10, 8, 10, 30)
    # Wed 30 Sep 10:00 + 2d (14 h): 5.5 h on 30 Sep, 7 h on 8 Oct, 1.5 h on 9 Oct.
    assert cal.add(at(2026, 9, 30, 10, 0), H("2d")) == at(2026, 10, 9, 10, 0)
    # Fri 9 Oct 17:00 + 2 h: 1 h Friday, then Saturday 10 Oct is a make-up working day.
    assert cal.add(at(2026, 10, 9, 17, 0), H("2h")) == at(2026, 10, 10, 9, 30)
    # Fri 18 Sep 17:00 + 90m: Sunday 20 Sep is a make-up working day.
    assert cal.add(at(2026, 9, 18, 17, 0), H("90m")) == at(2026, 9, 20, 9, 0)
    # Wed 31 Dec 2025 17:00 + 2 h: New Year 1–3 Jan off, Sunday 4 Jan worked.
    assert cal.add(at(2025, 12, 31, 17, 0), H("2h")) == at(2026, 1, 4, 9, 30)
    # Fri 13 Feb 17:30 + 1 h → Sat 14 Feb (make-up) 09:00; + 8 h → after the Spring Festival, Tue 24 Feb.
    assert cal.add(at(2026, 2, 13, 17, 30), H("1h")) == at(2026, 2, 14, 9, 0)
    assert cal.add(at(2026, 2, 13, 17, 30), H("8h")) == at(2026, 2, 24, 9, 0)


def test_long_limits_in_working_days(cal):
    # 15 working days from Mon 1 Sep 2025 10:00: Sep 2–5, 8–12, 15–19 and 22 → Mon 22 Sep 10:00.
    assert cal.add(at(2025, 9, 1, 10, 0), H("15d")) == at(2025, 9, 22, 10, 0)
    # 20 working days from Fri 26 Sep 2025 10:00 count Sun 28 Sep (make-up), 29, 30 Sep, skip 1–8 Oct,
    # then 9, 10, Sat 11 Oct (make-up), 13–17, 20–24, 27–30 Oct.
    assert cal.add(at(2025, 9, 26, 10, 0), H("20d")) == at(2025, 10, 30, 10, 0)
    # 1d started at the first minute of a day ends at its last; it does not roll over to the next morning.
    assert cal.add(at(2026, 11, 27, 8, 30), H("1d")) == at(2026, 11, 27, 18, 0)  # a Friday
    assert cal.add(at(2026, 11, 24, 10, 0), H("2d")) == at(2026, 11, 26, 10, 0)


def test_starts_outside_working_time(cal):
    assert cal.add(at(2026, 11, 24, 11, 50), H("30m")) == at(2026, 11, 24, 14, 50)  # over lunch
    assert cal.add(at(2026, 11, 24, 12, 30), H("10m")) == at(2026, 11, 24, 14, 40)  # starts in lunch
    assert cal.add(at(2026, 11, 24, 12, 0), H("3h")) == at(2026, 11, 24, 17, 30)  # at a period's end
    assert cal.add(at(2026, 11, 24, 7, 0), H("10m")) == at(2026, 11, 24, 8, 40)  # before office hours
    assert cal.add(at(2026, 11, 24, 20, 0), H("10m")) == at(2026, 11, 25, 8, 40)  # after office hours
    assert cal.add(at(2026, 11, 28, 9, 0), H("30m")) == at(2026, 11, 30, 9, 0)  # on a Saturday
    assert cal.add(at(2026, 10, 3, 10, 0), H("1h")) == at(2026, 10, 8, 9, 30)  # on a holiday
    assert cal.add(at(2026, 11, 24, 14, 30), H("210m")) == at(2026, 11, 24, 18, 0)  # lands on a period end


def test_time_zones(cal):
    start = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)  # 09:00 in Xiamen
    end = cal.add(start, H("1h"))
    assert end == at(2026, 11, 24, 10, 0) and end.tzinfo == TZ and end.utcoffset() == timedelta(hours=8)
    # Asia/Shanghai has no daylight saving time: the offset is +08:00 in winter and summer alike,
    # so a deadline across the dates when other zones switch is plain working-time arithmetic.
    assert at(2026, 1, 15, 9).utcoffset() == at(2026, 7, 15, 9).utcoffset() == timedelta(hours=8)
    la = ZoneInfo("America/Los_Angeles")
    # Fri 6 Mar 2026 16:00 in Xiamen = 00:00 in LA; LA moves its clocks on Sun 8 Mar.
    start = datetime(2026, 3, 6, 0, 0, tzinfo=la)
    assert cal.add(start, H("4h")) == at(2026, 3, 9, 10, 30)
    assert cal.working_seconds_between(start, datetime(2026, 3, 8, 19, 30, tzinfo=la)) == 4 * 3600


def test_naive_datetimes_are_refused(cal):
    with pytest.raises(ValueError, match="timezone-aware"):
        cal.add(datetime(2026, 11, 24, 9, 0), H("1h"))
    with pytest.raises(ValueError, match="timezone-aware"):
        cal.working_seconds_between(datetime(2026, 11, 24, 9, 0), at(2026, 11, 24, 10, 0))
    with pytest.raises(ValueError, match="timezone-aware"):
        cal.working_seconds_between(at(2026, 11, 24, 9, 0), datetime(2026, 11, 24, 10, 0))


# ---------------------------------------------------------------------------------- elapsed working time


def test_working_seconds_between(cal):
    assert cal.working_seconds_between(at(2026, 11, 20, 17, 0), at(2026, 11, 23, 9, 0)) == 1.5 * 3600
    assert cal.working_seconds_between(at(2026, 11, 23, 9, 0), at(2026, 11, 20, 17, 0)) == -1.5 * 3600
    assert cal.working_seconds_between(at(2026, 11, 24, 12, 0), at(2026, 11, 24, 14, 30)) == 0
    assert cal.working_seconds_between(at(2026, 11, 24, 9, 0), at(2026, 11, 24, 9, 0)) == 0
    assert cal.working_seconds_between(at(2026, 9, 30, 17, 0), at(2026, 10, 8, 9, 30)) == 2 * 3600
    week = cal.working_seconds_between(at(2026, 11, 23), at(2026, 11, 30))
    assert week == 5 * 7 * 3600
    year = cal.working_seconds_between(at(2026, 1, 1), at(2027, 1, 1))
    assert year == (261 - 13) * 7 * 3600
    assert cal.working_seconds_between(at(2026, 11, 24, 9, 0, 0, 500000), at(2026, 11, 24, 9, 0, 1)) == 0.5


def _reference_add(cal: WorkCalendar, start: datetime, seconds: float) -> datetime:
    """A deliberately naive deadline: walk every day, every period."""
    local = start.astimezone(TZ)
    day = local.date()
    while True:
        if cal.is_working_day(day):
            for a, b in cal.periods:
                lo = max(datetime.combine(day, a, TZ), local)
                hi = datetime.combine(day, b, TZ)
                if hi <= lo:
                    continue
                avail = (hi - lo).total_seconds()
                if seconds <= avail:
                    return lo + timedelta(seconds=seconds)
                seconds -= avail
        day += timedelta(days=1)


def _seconds(cal: WorkCalendar, d: WorkDuration) -> int:
    return d.amount * {"m": 60, "h": 3600, "d": cal.working_seconds_per_day()}[d.unit]


def test_add_matches_a_naive_walk_and_between_is_its_inverse(cal):
    rng = random.Random(11)
    for _ in range(1500):
        start = at(2016, 12, 1) + timedelta(seconds=rng.randrange(0, 3700 * 86400))
        unit = rng.choice("mhd")
        amount = rng.randint(1, {"m": 600, "h": 80, "d": 400}[unit])
        dur = WorkDuration(amount, unit)  # type: ignore[arg-type]
        end = cal.add(start, dur)
        expected = _seconds(cal, dur)
        assert end == _reference_add(cal, start, expected), (start, dur)
        assert end > start and end.tzinfo == TZ
        assert cal.working_seconds_between(start, end) == expected
        assert cal.working_seconds_between(end, start) == -expected
        # additivity: splitting the interval anywhere adds up
        mid = start + (end - start) * rng.random()
        assert cal.working_seconds_between(start, mid) + cal.working_seconds_between(mid, end) == pytest.approx(
            expected, abs=1e-6)


def test_long_deadlines_skip_weeks_instead_of_walking_days(cal, monkeypatch):
    calls = 0
    original = WorkCalendar.is_working_day

    def counting(self: WorkCalendar, d: date) -> bool:
        nonlocal calls
        calls += 1
        return original(self, d)

    monkeypatch.setattr(WorkCalendar, "is_working_day", counting)
    end = cal.add(at(2030, 1, 7, 9, 0), H("1000d"))  # years the file does not list: no holidays in the way
    assert calls < 40
    assert end == at(2033, 11, 7, 9, 0)  # 200 whole weeks later
    calls = 0
    assert cal.working_seconds_between(at(2030, 1, 7, 9, 0), end) == 1000 * 7 * 3600
    assert calls < 10


# ------------------------------------------------------------------------------------------ configuration


def test_configurable_periods(monkeypatch):
    assert parse_periods("08:30-12:00,14:30-18:00") == DEFAULT_PERIODS
    assert parse_periods("08:00-12:00, 15:00-18:00") == ((time(8), time(12)), (time(15), time(18)))
    for bad in ("8-12", "12:00-08:00", "08:00-12:00,11:00-13:00", "14:00-18:00,08:00-12:00", "", "08:00"):
        with pytest.raises(ValueError):
            parse_periods(bad)
    monkeypatch.setenv("CITYOPS_WORK_PERIODS", "08:00-12:00,15:00-18:00")
    get_calendar.cache_clear()
    try:
        summer = get_calendar()
        assert summer.working_seconds_per_day() == 7 * 3600
        assert summer.add(at(2026, 11, 24, 11, 0), H("2h")) == at(2026, 11, 24, 16, 0)
        monkeypatch.setenv("CITYOPS_WORK_PERIODS", "09:00-17:00")
        get_calendar.cache_clear()
        assert get_calendar().add(at(2026, 11, 24, 16, 0), H("1d")) == at(2026, 11, 25, 16, 0)
        monkeypatch.setenv("CITYOPS_WORK_PERIODS", "nine to five")
        get_calendar.cache_clear()
        with pytest.raises(ValueError, match="CITYOPS_WORK_PERIODS"):
            get_calendar()
    finally:
        monkeypatch.delenv("CITYOPS_WORK_PERIODS")
        get_calendar.cache_clear()
    assert get_calendar().periods == DEFAULT_PERIODS
    assert get_calendar() is get_calendar()


def test_constructor_validation():
    with pytest.raises(ValueError):
        WorkCalendar(TZ, periods=())
    with pytest.raises(ValueError):
        WorkCalendar(TZ, periods=((time(12), time(8)),))
    with pytest.raises(ValueError, match="'holiday' or 'workday'"):
        WorkCalendar(TZ, holidays={date(2026, 1, 1): "party"})
    plain = WorkCalendar(TZ)
    assert plain.is_working_day(date(2026, 10, 1))  # no holiday file: only weekends are off
    assert plain.add(at(2026, 9, 30, 17, 0), H("3h")) == at(2026, 10, 1, 10, 30)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("2026-11-24,workday,调休,Make-up", "line 2: make-up working day 2026-11-24 is not a Saturday or Sunday"),
        ("2026-11-24,party,派对,Party", "line 2: kind 'party'"),
        ("2026-13-01,holiday,假,Holiday", "line 2: date '2026-13-01' must be YYYY-MM-DD"),
        ("2026-10-01,holiday,国庆节,National Day\n2026-10-01,holiday,国庆节,National Day",
         "line 3: 2026-10-01 is listed twice"),
    ],
)
def test_bad_holiday_files_are_refused(tmp_path, line, message):
    path = tmp_path / "holidays.csv"
    path.write_text("date,kind,name_zh,name_en\n" + line + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match=message):
        WorkCalendar.load(path, tz=TZ)
    path.write_text("day,kind,name_zh,name_en\n", encoding="utf-8")
    with pytest.raises(ValueError, match="header"):
        WorkCalendar.load(path, tz=TZ)


def test_a_year_without_holiday_data_is_reported(cal):
    """Deadlines in a year the file does not list ignore public holidays: the calendar must say so."""
    assert cal.has_year(2026) and not cal.has_year(2031)
    assert missing_year_warning(cal, date(2026, 5, 1)) is None
    warning = missing_year_warning(cal, date(2031, 3, 2))
    assert warning is not None and "2031" in warning and "holidays.csv" in warning
    assert "2031" in missing_year_warning(cal, date(2031, 3, 2), "zh")
