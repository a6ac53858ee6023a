"""The case stream's clock: the wall clock for a caught-up city, the events' time while a backlog is read."""

from __future__ import annotations

from cityops.stream_clock import FRESH_S, QUIET_S, Mark, Settled, advance, decode_all, stream_now

WALL = 1_800_000_000.0
HOURS = 3600.0


def test_a_backlog_runs_on_its_events_time_and_a_caught_up_stream_on_the_wall_clock():
    replay = Mark(WALL - 10 * HOURS, WALL - 1)  # read a second ago: an event ten hours old
    assert stream_now([replay], WALL) == WALL - 10 * HOURS + 1
    live = Mark(WALL - 2, WALL - 1)
    assert stream_now([live], WALL) == WALL - 1
    assert stream_now([], WALL) == WALL


def test_the_slowest_fresh_partition_holds_the_clock_a_quiet_one_not_for_long():
    far, slow = Mark(WALL - 1 * HOURS, WALL), Mark(WALL - 5 * HOURS, WALL)
    assert stream_now([far, slow], WALL) == WALL - 5 * HOURS  # its next steps may not be fetched yet
    assert stream_now([far, slow], WALL + QUIET_S + 1) == WALL + QUIET_S + 1  # nothing came: both left out
    backlog = Mark(WALL - 5 * HOURS, WALL, behind=True)
    assert stream_now([far, backlog], WALL + QUIET_S + 1) == WALL - 5 * HOURS + QUIET_S + 1
    gone = Mark(WALL - 20 * HOURS, WALL - FRESH_S - 1, behind=True)  # not heard from for over five minutes
    far = Mark(WALL - 1 * HOURS, WALL)
    assert stream_now([far, gone, None], WALL) == WALL - 1 * HOURS


def test_a_quiet_partition_s_clock_runs_on_and_never_passes_the_wall_clock():
    assert Mark(WALL - 100, WALL - 60).clock(WALL) == WALL - 40
    assert Mark(WALL - 10, WALL - 60).clock(WALL) == WALL


def test_one_old_case_arriving_alone_is_judged_on_the_wall_clock_once_nothing_more_comes():
    alone = Mark(WALL - 48 * HOURS, WALL - 5)  # read five seconds ago, nothing waiting after it
    assert stream_now([alone], WALL) == WALL - 48 * HOURS + 5
    assert stream_now([alone], WALL + QUIET_S) == WALL + QUIET_S
    stuck = Mark(WALL - 48 * HOURS, WALL - 5, behind=True)  # more was waiting: held for longer
    assert stream_now([stuck], WALL + QUIET_S) < WALL


def test_advance_moves_forward_only_and_a_future_event_counts_as_now():
    first = advance(None, WALL - 50, WALL, behind=True)
    assert first == Mark(WALL - 50, WALL, True)
    assert advance(first, WALL - 80, WALL + 1, behind=True) is None  # a late event does not take the clock back
    assert advance(first, WALL - 80, WALL + 1, behind=False) == Mark(WALL - 50, WALL, False)  # caught up
    assert advance(first, WALL + 3600, WALL + 2, behind=False) == Mark(WALL + 2, WALL + 2)


def test_stored_marks_that_do_not_parse_are_ignored():
    marks = decode_all({"0": Mark(WALL - 30, WALL).encode(), "1": "garbage", "2": "1 2"})
    assert marks[1] is None and marks[2] is None
    assert stream_now(marks, WALL) == WALL - 30


def test_a_jump_of_the_clock_counts_only_once_it_has_settled():
    settled = Settled(window_s=3.0)
    assert settled.update(WALL, WALL - 10 * HOURS) == WALL - 10 * HOURS
    assert settled.update(WALL + 1, WALL - 2 * HOURS) == WALL - 10 * HOURS  # one partition jumped ahead
    assert settled.update(WALL + 2, WALL - 9 * HOURS) == WALL - 10 * HOURS  # another said it is behind
    assert settled.update(WALL + 5, WALL - 9 * HOURS) == WALL - 9 * HOURS


def test_caught_up_needs_a_fresh_mark_past_the_time_and_nothing_waiting():
    from cityops.stream_clock import caught_up

    assert not caught_up([], WALL, WALL - HOURS)  # nothing read yet
    assert caught_up([Mark(WALL - 60, WALL - 1)], WALL, WALL - HOURS)
    assert not caught_up([Mark(WALL - 60, WALL - 1, behind=True)], WALL, WALL - HOURS)
    assert not caught_up([Mark(WALL - 2 * HOURS, WALL - 1)], WALL, WALL - HOURS)
    assert caught_up([Mark(WALL - 60, WALL - 600)], WALL, WALL - HOURS)  # read it all, then a quiet ten minutes
