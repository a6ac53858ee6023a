"""How far the sensors topic has been read, and which sensors that makes silent (streams/sensor_silence.py)."""

from __future__ import annotations

import math

from streams.sensor_silence import PartitionRead, is_silent, last_published, read_until

NOW = 1_800_000_000.0
WINDOW = 180.0


def test_a_topic_with_nothing_waiting_is_read_up_to_when_the_broker_was_asked():
    parts = [PartitionRead(committed=10, begin=0, end=10), PartitionRead(committed=None, begin=0, end=0)]
    assert read_until(parts, NOW) == NOW


def test_a_backlog_holds_the_topic_at_its_oldest_waiting_envelope():
    # the worker stalled three minutes: what the devices sent since waits from NOW - 185 on
    parts = [PartitionRead(10, 0, 90, oldest_unread_ts=NOW - 185), PartitionRead(5, 0, 40, oldest_unread_ts=NOW - 2)]
    horizon = read_until(parts, NOW)
    assert horizon == NOW - 185
    # a sensor read just before the stall is not silent, however old it is on the wall clock
    assert not is_silent(NOW - 190, horizon, WINDOW)
    assert is_silent(NOW - 190, NOW, WINDOW)  # what the wall clock said: the false alert


def test_under_live_load_a_second_unread_delays_silence_by_a_second_only():
    parts = [PartitionRead(100, 0, 103, oldest_unread_ts=NOW - 1.0), PartitionRead(50, 0, 50)]
    horizon = read_until(parts, NOW)
    assert horizon == NOW - 1.0
    assert is_silent(NOW - 181.0, horizon, WINDOW)
    assert not is_silent(NOW - 180.5, horizon, WINDOW)


def test_nothing_committed_starts_at_the_partition_start():
    assert PartitionRead(None, 7, 9).position == 7 and PartitionRead(None, 7, 9).waiting
    assert PartitionRead(3, 7, 9).position == 7  # committed before retention removed them
    assert not PartitionRead(None, 7, 7).waiting


def test_envelopes_waiting_whose_time_is_unknown_hold_everything():
    assert read_until([PartitionRead(1, 0, 5, None)], NOW) == -math.inf
    assert not is_silent(0.0, -math.inf, WINDOW)


def test_a_sensor_is_dated_by_its_newest_envelope_never_after_now():
    stamps = [(["A", "B"], NOW - 30), (["A"], NOW - 10), (["B"], NOW - 50), (["C"], NOW + 60), (["D"], None),
              (["E"], -1.0)]
    assert last_published(stamps, NOW) == {"A": NOW - 10, "B": NOW - 30, "C": NOW, "D": NOW, "E": NOW}


def test_nothing_is_silent_within_its_window():
    assert not is_silent(NOW - WINDOW + 0.001, NOW, WINDOW)
    assert is_silent(NOW - WINDOW, NOW, WINDOW)
