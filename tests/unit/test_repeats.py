"""Repeated problems: the pure rule (the real worker finding them is ``tests/integration/test_repeats_worker.py``)."""

from __future__ import annotations

from streams.repeats import Report, repeated_cases, stale_before

DAY = 86_400.0


def test_a_later_report_nearby_within_the_window_is_a_repeat_whichever_is_checked():
    a, b = Report(1000.0, "A"), Report(1000.0 + 3 * DAY, "B")
    assert repeated_cases(b, [a, b], 7 * DAY) == {"B"}
    assert repeated_cases(a, [a, b], 7 * DAY) == {"B"}  # checked from the earlier side, the later is marked


def test_outside_the_window_or_alone_is_no_repeat():
    a, b = Report(0.0, "A"), Report(7 * DAY + 1, "B")
    assert repeated_cases(b, [a, b], 7 * DAY) == set()
    assert repeated_cases(a, [a], 7 * DAY) == set()


def test_same_time_reports_break_the_tie_by_case_id():
    a, b = Report(5.0, "A"), Report(5.0, "B")
    assert repeated_cases(a, [b], DAY) == repeated_cases(b, [a], DAY) == {"B"}


def test_staleness_follows_the_newest_report_not_the_wall_clock():
    assert stale_before(latest_t=100 * DAY, window_s=7 * DAY, lateness_s=7200) == 93 * DAY - 7200
