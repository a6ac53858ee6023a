"""When the period 通报 fall due: Monday 08:00 for the week, the 1st 08:00 for the month and the quarter."""

from __future__ import annotations

from datetime import datetime, time
from zoneinfo import ZoneInfo

import pytest

from cityops.periods import PeriodKind
from dashboard.reports.schedule import due_period, next_due, parse_kinds

TZ = ZoneInfo("Asia/Shanghai")
AT = time(8, 0)


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=TZ)


def test_before_and_after_the_run_time_on_the_first_day():
    assert due_period(PeriodKind.MONTH, local(2026, 12, 1, 7, 59), AT, TZ).label == "2026-10"
    assert due_period(PeriodKind.MONTH, local(2026, 12, 1, 8, 0), AT, TZ).label == "2026-11"
    assert due_period(PeriodKind.WEEK, local(2026, 11, 30, 9), AT, TZ).label == "2026-W48"  # a Monday
    assert due_period(PeriodKind.QUARTER, local(2026, 12, 3, 9), AT, TZ).label == "2026-Q3"


def test_next_due_gathers_the_reports_of_one_morning():
    kinds = [PeriodKind.WEEK, PeriodKind.MONTH, PeriodKind.QUARTER]
    when, due = next_due(kinds, local(2026, 12, 3, 9), AT, TZ)
    assert when == local(2026, 12, 7, 8) and [p.label for p in due] == ["2026-W49"]
    # 1 April 2030 is a Monday: the week, the month and the quarter at once
    when, due = next_due(kinds, local(2030, 3, 31, 20), AT, TZ)
    assert when == local(2030, 4, 1, 8) and sorted(p.label for p in due) == ["2030-03", "2030-Q1", "2030-W13"]


def test_the_kinds_setting():
    assert parse_kinds("month, quarter") == [PeriodKind.MONTH, PeriodKind.QUARTER]
    with pytest.raises(ValueError, match="CITYOPS_REPORT_KINDS"):
        parse_kinds("month,year")


def test_the_scheduler_writes_what_is_missing_then_each_report_when_due(tmp_path, monkeypatch):
    import threading
    from datetime import timedelta

    from cityops.settings import Settings
    from dashboard.reports import files, scheduler

    now = [local(2026, 11, 29, 12)]  # a Sunday: W47 and October are due; W48 on Monday, November on the 1st
    calls: list[str] = []
    stop = threading.Event()

    def fake_generate(period, lang, out_dir, settings, now_=None):  # noqa: ANN001, ANN202
        calls.append(f"{period.label}:{lang}")
        made = files.files_for(period, lang, out_dir)
        made.folder.mkdir(parents=True, exist_ok=True)
        for kind in files.KINDS:
            made.path(kind).write_text("x")
        if len(calls) >= 4:
            stop.set()
        return made

    class Waiter(threading.Event):
        def wait(self, timeout=None):  # noqa: ANN001, ANN202 - advance the clock instead of sleeping
            now[0] += timedelta(seconds=timeout or 0)
            return stop.is_set()

        def is_set(self) -> bool:
            return stop.is_set()

    already = files.files_for(files.parse_period("month", "2026-10"), "zh", tmp_path)  # written before: kept
    already.folder.mkdir(parents=True)
    for kind in files.KINDS:
        already.path(kind).write_text("x")
    monkeypatch.setattr(files, "generate", fake_generate)
    settings = Settings(timezone="Asia/Shanghai", report_time="08:00", report_kinds="week,month")
    scheduler.run_forever(settings, tmp_path, ["zh"], stop=Waiter(), clock=lambda: now[0])
    assert calls == ["2026-W47:zh", "2026-W48:zh", "2026-11:zh", "2026-W49:zh"]
    assert now[0] >= local(2026, 12, 7, 8)
