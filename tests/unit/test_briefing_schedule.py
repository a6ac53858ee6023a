"""When the briefing scheduler runs: pure next-run logic (time zones, DST) and the loop itself with a
fake clock, so no test sleeps until 07:30."""

from __future__ import annotations

import threading
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from cityops.settings import Settings
from dashboard.briefing import schedule, scheduler
from dashboard.briefing.files import files_for

SH = ZoneInfo("Asia/Shanghai")
NY = ZoneInfo("America/New_York")
AT = time(7, 30)


def test_parse_time() -> None:
    assert schedule.parse_time("07:30") == time(7, 30)
    assert schedule.parse_time(" 6:05 ") == time(6, 5)
    for bad in ("0730", "25:00", "7:30:00", ""):
        with pytest.raises(ValueError, match="CITYOPS_BRIEFING_TIME"):
            schedule.parse_time(bad)


def test_next_run_is_today_before_the_time_and_tomorrow_after_it() -> None:
    assert schedule.next_run(datetime(2026, 11, 25, 7, 29, 59, tzinfo=SH), AT, SH) == datetime(2026, 11, 25, 7, 30,
                                                                                                tzinfo=SH)
    assert schedule.next_run(datetime(2026, 11, 25, 7, 30, tzinfo=SH), AT, SH) == datetime(2026, 11, 26, 7, 30,
                                                                                             tzinfo=SH)
    # a clock in UTC: 23:40 UTC is 07:40 the next morning in Xiamen
    run = schedule.next_run(datetime(2026, 11, 24, 23, 40, tzinfo=ZoneInfo("UTC")), AT, SH)
    assert run == datetime(2026, 11, 26, 7, 30, tzinfo=SH)
    assert schedule.briefing_day(run, SH) == date(2026, 11, 25)


def test_year_end_and_the_day_reported() -> None:
    run = schedule.next_run(datetime(2026, 12, 31, 23, 0, tzinfo=SH), AT, SH)
    assert run == datetime(2027, 1, 1, 7, 30, tzinfo=SH)
    assert schedule.briefing_day(run, SH) == date(2026, 12, 31)


def test_due_day_on_start() -> None:
    assert schedule.due_day(datetime(2026, 11, 25, 6, 0, tzinfo=SH), AT, SH) == date(2026, 11, 23)
    assert schedule.due_day(datetime(2026, 11, 25, 7, 30, tzinfo=SH), AT, SH) == date(2026, 11, 24)
    assert schedule.due_day(datetime(2026, 11, 25, 23, 59, tzinfo=SH), AT, SH) == date(2026, 11, 24)


def test_days_on_start_add_yesterday_before_its_run_time_only_when_asked() -> None:
    early, late = datetime(2026, 11, 25, 2, 30, tzinfo=SH), datetime(2026, 11, 25, 9, 0, tzinfo=SH)
    assert schedule.days_on_start(early, AT, SH) == [date(2026, 11, 23)]
    assert schedule.days_on_start(early, AT, SH, with_yesterday=True) == [date(2026, 11, 23), date(2026, 11, 24)]
    # after the run time yesterday is the due day: once
    assert schedule.days_on_start(late, AT, SH, with_yesterday=True) == [date(2026, 11, 24)]


def test_daylight_saving_keeps_local_time_and_skips_a_missing_hour() -> None:
    # New York springs forward on 2026-03-08 at 02:00: 02:30 does not exist that day
    run = schedule.next_run(datetime(2026, 3, 8, 0, 0, tzinfo=NY), time(2, 30), NY)
    assert run.astimezone(ZoneInfo("UTC")) == datetime(2026, 3, 8, 7, 30, tzinfo=ZoneInfo("UTC"))
    assert run.astimezone(NY).time() == time(3, 30)  # shifted forward by the hour that does not exist
    # 07:30 local on both sides of the change
    before = schedule.next_run(datetime(2026, 3, 7, 6, 0, tzinfo=NY), AT, NY)
    after = schedule.next_run(before, AT, NY)
    assert (before.date(), after.date()) == (date(2026, 3, 7), date(2026, 3, 8))
    assert before.astimezone(NY).time() == after.astimezone(NY).time() == AT
    utc = ZoneInfo("UTC")
    assert after.astimezone(utc) - before.astimezone(utc) == timedelta(hours=23)
    # autumn: 01:30 happens twice on 2026-11-01; it runs once, at the first
    first = schedule.next_run(datetime(2026, 11, 1, 0, 0, tzinfo=NY), time(1, 30), NY)
    assert first.utcoffset() == timedelta(hours=-4)
    assert schedule.next_run(first, time(1, 30), NY).date() == date(2026, 11, 2)


def test_sleep_is_capped_so_clock_jumps_are_noticed() -> None:
    now = datetime(2026, 11, 25, 6, 0, tzinfo=SH)
    assert schedule.sleep_seconds(now, now + timedelta(hours=1)) == 60.0
    assert schedule.sleep_seconds(now, now + timedelta(seconds=5)) == 5.0
    assert schedule.sleep_seconds(now, now - timedelta(seconds=5)) == 0.0


class FakeClock:
    """A clock that advances by whatever the scheduler waits for."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def sleeper(self, stop: threading.Event) -> threading.Event:
        """What the scheduler waits on: waiting advances this clock instead of sleeping; set once ``stop`` is."""
        clock = self

        class Sleeper(threading.Event):
            def wait(self, timeout=None):  # noqa: ANN001, ANN202 - threading.Event's signature
                clock.now += timedelta(seconds=timeout or 0)
                return stop.is_set()

            def is_set(self) -> bool:
                return stop.is_set()

        return Sleeper()


def writing_generate(record, stop: threading.Event, stop_after: int):  # noqa: ANN001, ANN201
    """A stand-in for ``files.generate`` that writes a day's four files, calls ``record(day, lang)`` and sets
    ``stop`` after ``stop_after`` calls."""
    calls = [0]

    def generate(day, lang, out_dir, settings, now=None):  # noqa: ANN001, ANN202, ARG001
        record(day, lang)
        folder = out_dir / day.isoformat()
        folder.mkdir(parents=True, exist_ok=True)
        for kind in ("png", "pdf", "md", "json"):
            (folder / f"briefing-{day.isoformat()}.{lang}.{kind}").write_text("x")
        calls[0] += 1
        if calls[0] >= stop_after:
            stop.set()
        return files_for(day, lang, out_dir)

    return generate


def test_scheduler_writes_the_missing_due_day_on_start_then_rewrites_daily(tmp_path, monkeypatch) -> None:
    calls: list[tuple[date, str]] = []
    clock = FakeClock(datetime(2026, 11, 25, 6, 0, tzinfo=SH))
    stop = threading.Event()

    monkeypatch.setattr("dashboard.briefing.files.generate",
                        writing_generate(lambda day, lang: calls.append((day, lang)), stop, 4))
    # the day before yesterday is already there in zh: not written again on start. Yesterday's zh was
    # made on demand before the day ended: the 07:30 run rewrites it all the same.
    for day in ("2026-11-23", "2026-11-24"):
        (tmp_path / day).mkdir()
        for kind in ("png", "pdf", "md", "json"):
            (tmp_path / day / f"briefing-{day}.zh.{kind}").write_text("x")
    settings = Settings(timezone="Asia/Shanghai", briefing_time="07:30")
    scheduler.run_forever(settings, tmp_path, ["zh", "en"], stop=clock.sleeper(stop), clock=clock)
    # start at 06:00: due day 11-23 exists in zh, only en is written; 07:30 → 11-24, next day 11-25
    assert calls == [(date(2026, 11, 23), "en"), (date(2026, 11, 24), "zh"), (date(2026, 11, 24), "en"),
                     (date(2026, 11, 25), "zh"), (date(2026, 11, 25), "en")]
    assert clock.now >= datetime(2026, 11, 26, 7, 30, tzinfo=SH)


def test_scheduler_survives_a_failure_and_retries(tmp_path, monkeypatch) -> None:
    attempts: list[datetime] = []
    clock = FakeClock(datetime(2026, 11, 25, 9, 0, tzinfo=SH))
    stop = threading.Event()

    def flaky(day, lang, out_dir, settings, now=None):
        attempts.append(clock.now)
        if len(attempts) == 1:
            raise ConnectionError("redis down")
        stop.set()
        return files_for(day, lang, out_dir)

    monkeypatch.setattr("dashboard.briefing.files.generate", flaky)
    scheduler.run_forever(Settings(), tmp_path, ["zh"], stop=clock.sleeper(stop), clock=clock)
    assert len(attempts) == 2 and attempts[1] - attempts[0] == timedelta(seconds=scheduler.RETRY_S)


def test_scheduler_started_at_night_with_yesterday_on_start_writes_it_then_rewrites_it_at_the_run_time(
        tmp_path, monkeypatch) -> None:
    calls: list[tuple[date, datetime]] = []
    clock = FakeClock(datetime(2026, 11, 25, 2, 30, tzinfo=SH))
    stop = threading.Event()

    monkeypatch.setattr("dashboard.briefing.files.generate",
                        writing_generate(lambda day, lang: calls.append((day, clock.now)), stop, 3))
    settings = Settings(timezone="Asia/Shanghai", briefing_time="07:30")
    scheduler.run_forever(settings, tmp_path, ["zh"], stop=clock.sleeper(stop), clock=clock, yesterday_on_start=True)
    start, run = datetime(2026, 11, 25, 2, 30, tzinfo=SH), datetime(2026, 11, 25, 7, 30, tzinfo=SH)
    assert calls == [(date(2026, 11, 23), start), (date(2026, 11, 24), start), (date(2026, 11, 24), run)]
