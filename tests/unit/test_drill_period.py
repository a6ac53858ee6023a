"""The drill-down's date range (``dashboard/views/drill.py``): what a ``st.date_input`` range stands for."""

from __future__ import annotations

from datetime import date

from dashboard.views.drill import chosen_period, previous_period

TODAY = date(2026, 12, 3)


def test_today_alone_is_the_live_view_and_any_other_range_a_period():
    assert chosen_period((TODAY, TODAY), TODAY, 400) is None
    assert chosen_period((), TODAY, 400) is None
    assert chosen_period((date(2026, 11, 1), date(2026, 11, 30)), TODAY, 400) == (date(2026, 11, 1), date(2026, 11, 30))
    assert chosen_period((date(2026, 12, 2),), TODAY, 400) == (date(2026, 12, 2), date(2026, 12, 2)), "still picking"
    assert chosen_period((date(2026, 11, 27), TODAY), TODAY, 400) == (date(2026, 11, 27), TODAY)


def test_a_range_is_cut_to_today_and_to_what_the_read_model_keeps():
    assert chosen_period((date(2026, 12, 1), date(2027, 1, 5)), TODAY, 400) == (date(2026, 12, 1), TODAY)
    assert chosen_period((date(2020, 1, 1), date(2026, 11, 30)), TODAY, 30) == (date(2026, 11, 1), date(2026, 11, 30))
    assert chosen_period((date(2027, 1, 1), date(2027, 1, 2)), TODAY, 400) is None, "all in the future: today"
    assert chosen_period(("2026-11-01", None), TODAY, 400) is None, "not dates: the live view"


def test_the_previous_period_has_the_same_length_and_ends_the_day_before():
    assert previous_period(date(2026, 11, 1), date(2026, 11, 30)) == (date(2026, 10, 2), date(2026, 10, 31))
    assert previous_period(TODAY, TODAY) == (date(2026, 12, 2), date(2026, 12, 2))
    assert previous_period(date(2026, 3, 1), date(2026, 3, 7)) == (date(2026, 2, 22), date(2026, 2, 28))
