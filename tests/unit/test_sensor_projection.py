"""Sensor projection: windows with energy sums, sustained rules opening one case per episode, lateness."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from cityops import keys
from cityops.catalogue import get_catalogue
from cityops.schemas import CaseAction, SensorKind, SensorReading
from fixtures.xiamen import load_city, load_sensors
from streams.sensor_projection import SensorContext, SensorState, project_envelope
from streams.sensor_rules import energy

TZ = ZoneInfo("Asia/Shanghai")


@pytest.fixture(scope="module")
def ctx():
    return SensorContext({s.id: s for s in load_sensors()}, load_city(), get_catalogue(), TZ)


@pytest.fixture(scope="module")
def site_noise(ctx):
    return next(s for s in ctx.sensors.values() if s.site_kind == "construction" and s.kind == "noise")


def reading(sensor, t: datetime, value: float) -> SensorReading:
    kind = SensorKind(sensor.kind)
    return SensorReading(sensor_id=sensor.id, kind=kind, metric=sensor.metric, value=value, unit=sensor.unit, time=t)


def windows(ops: list) -> dict[tuple[str, str], tuple[int, list[float], str]]:
    """(window key, bucket) → (count, amounts folded in order, maximum) from the script's WINDOWS operations."""
    out = {}
    for op in ops:
        if op[0] == "WINDOWS":
            amounts = op[2]
            for key, buckets, specs in op[3]:
                for bucket, (n, runs, x) in zip(buckets, specs, strict=True):
                    folded = [a for first, last in zip(runs[::2], runs[1::2], strict=True)
                              for a in amounts[first - 1:last]]
                    assert (key, bucket) not in out and len(folded) == n
                    out[(key, bucket)] = (n, folded, x)
    return out


def test_windows_hold_energy_sums_and_maxima(ctx, site_noise):
    t = datetime(2026, 11, 24, 10, 5, 10, tzinfo=TZ)
    out = project_envelope("e1", [reading(site_noise, t, 50.0), reading(site_noise, t + timedelta(seconds=20), 70.0)],
                           {}, ctx)
    got = windows(out.effects.ops)
    minute = keys.sensor_window("m", site_noise.id, "2026112410")
    n, folded, top = got[(minute, "05")]
    assert n == 2 and folded == [energy(50.0), energy(70.0)]  # in reading order
    assert top == "70.0"
    assert sum(folded) == pytest.approx(energy(50.0) + energy(70.0))
    assert got[(keys.sensor_window("q", site_noise.id, "20261124"), "1000")][0] == 2
    assert got[(keys.sensor_window("h", site_noise.id, "20261124"), "10")][0] == 2
    assert ("EXPIRE", minute, str(2 * 3600), "", "") in out.effects.ops


def test_a_bucket_keeps_its_readings_in_order_when_they_come_back_to_it(ctx, site_noise):
    """Readings of 10:05, 10:06, then 10:05 again (a later envelope): the 10:05 minute folds the first and
    the third in that order, the hour all three, and the maximum is the first of equal ones."""
    t = datetime(2026, 11, 24, 10, 5, 10, tzinfo=TZ)
    envelopes = [("a", [reading(site_noise, t, 60.0), reading(site_noise, t + timedelta(minutes=1), 61.0)]),
                 ("b", [reading(site_noise, t + timedelta(seconds=30), 60.0)])]
    from streams.sensor_projection import project_envelopes

    got = windows(project_envelopes(envelopes, {}, ctx).effects.ops)
    minute = keys.sensor_window("m", site_noise.id, "2026112410")
    assert got[(minute, "05")][:2] == (2, [energy(60.0), energy(60.0)])
    assert got[(minute, "06")][:2] == (1, [energy(61.0)])
    assert got[(keys.sensor_window("h", site_noise.id, "20261124"), "10")] == \
        (3, [energy(60.0), energy(61.0), energy(60.0)], "61.0")


def test_readings_of_a_sensor_in_one_envelope_are_taken_in_time_order(ctx, site_noise):
    t = datetime(2026, 11, 24, 10, 5, 10, tzinfo=TZ)
    states: dict[str, SensorState] = {}
    out = project_envelope("e", [reading(site_noise, t + timedelta(seconds=20), 52.0), reading(site_noise, t, 51.0)],
                           states, ctx)
    minute = keys.sensor_window("m", site_noise.id, "2026112410")
    assert windows(out.effects.ops)[(minute, "05")][1] == [energy(51.0), energy(52.0)]
    assert states[site_noise.id].time == (t + timedelta(seconds=20)).isoformat()
    newest = next(op for op in out.effects.ops if op[0] == "HSETEX" and op[1] == keys.sensor(site_noise.id))[2]
    assert dict(zip(newest[::2], newest[1::2], strict=True))["value"] == "52.0"


def test_columns_and_reading_objects_project_the_same(ctx, site_noise):
    from cityops.fast_envelope import ReadingColumns

    pm10 = next(s for s in ctx.sensors.values() if s.metric == "pm10")
    t = datetime(2026, 11, 24, 23, 0, tzinfo=TZ)
    readings = [reading(sensor, t + timedelta(minutes=m), 90.0 + m) for m in range(8) for sensor in (site_noise, pm10)]
    by_objects = project_envelope("e", readings, {}, ctx)
    columns = ReadingColumns.from_readings(readings)
    columns.source = None  # as the fast decoder gives them
    by_columns = project_envelope("e", columns, {}, ctx)
    assert by_columns.effects.ops == by_objects.effects.ops and by_columns.cases == by_objects.cases


def test_night_exceedance_opens_one_case_per_episode(ctx, site_noise):
    """The rolling 20-minute LAeq at night (limit 55): over it once 3 minutes at 65 put even the full window over
    (65 + 10·log10(3/20) = 56.8), fired after the 5-minute sustain; six quiet minutes do not clear it (the window
    is still loud, as the old per-reading rule wrongly did), a window gone quiet does, and a second loud spell is
    a second episode."""
    states: dict[str, SensorState] = {}
    t0 = datetime(2026, 11, 24, 23, 0, tzinfo=TZ)  # night: construction limit 55 dB(A)
    cases = []
    minute = 0

    def feed(level: float, minutes: int) -> list:
        nonlocal minute
        got = []
        for _ in range(minutes):
            got += project_envelope(f"n{minute}", [reading(site_noise, t0 + timedelta(minutes=minute), level)],
                                    states, ctx).cases
            minute += 1
        return got

    cases = feed(65.0, 12)
    assert [c.action for c in cases] == [CaseAction.REPORT, CaseAction.REGISTER, CaseAction.DISPATCH]
    report, _, dispatch = cases
    assert report.case_id == f"IOT-{site_noise.id}-1" and report.source.value == "iot_sensor"
    assert report.category_code == "E0303" and report.event_time == t0 + timedelta(minutes=7)
    assert "LAEQ,20min" in report.description
    assert dispatch.department_id in ctx.city.departments
    assert states[site_noise.id].rule.phase == "active"
    feed(45.0, 6)
    assert states[site_noise.id].rule.phase == "active"  # the 20-minute LAeq is still 63 dB(A)
    feed(45.0, 30)
    assert states[site_noise.id].rule.phase == "normal"
    again = feed(66.0, 12)
    assert again[0].case_id == f"IOT-{site_noise.id}-2"


def test_daytime_level_is_within_the_limit(ctx, site_noise):
    states: dict[str, SensorState] = {}
    t0 = datetime(2026, 11, 24, 10, 0, tzinfo=TZ)  # day: 70 dB(A)
    cases = []
    for minute in range(15):
        cases += project_envelope(f"d{minute}", [reading(site_noise, t0 + timedelta(minutes=minute), 65.0)],
                                  states, ctx).cases
    assert cases == []


def test_dust_is_judged_on_the_rolling_15_minute_mean(ctx):
    pm10 = next(s for s in ctx.sensors.values() if s.metric == "pm10")
    states: dict[str, SensorState] = {}
    t0 = datetime(2026, 11, 24, 10, 0, tzinfo=TZ)
    # one spike of 300 among 40s keeps the quarter-hour mean under 80: no case
    values = [40.0] * 5 + [300.0] + [40.0] * 9
    cases = []
    for i, v in enumerate(values):
        cases += project_envelope(f"p{i}", [reading(pm10, t0 + timedelta(minutes=i), v)], states, ctx).cases
    assert cases == []
    assert len(states[pm10.id].roll.buckets) == 15  # one bucket per minute of the rolling window


def test_late_and_unknown_readings_are_set_aside(ctx, site_noise):
    newest = datetime(2026, 11, 24, 12, 0, tzinfo=TZ).isoformat()
    states = {site_noise.id: SensorState(site_noise.id, stored_time=newest)}
    late = reading(site_noise, datetime(2026, 11, 24, 9, 59, tzinfo=TZ), 60.0)
    on_time = reading(site_noise, datetime(2026, 11, 24, 10, 30, tzinfo=TZ), 60.0)
    stranger = SensorReading(sensor_id="NOPE", kind=SensorKind.NOISE, value=60.0, unit="dB(A)",
                             time=datetime(2026, 11, 24, 12, 0, tzinfo=TZ))
    out = project_envelope("x", [late, on_time, stranger], states, ctx)
    assert [r for r, _ in out.late] == [late] and "2.0 h behind" in out.late[0][1]
    assert out.unknown == [stranger]
    assert out.origin == {id(late): 0, id(stranger): 0}  # the envelope each came in, for its dead letter
    # the on-time but older reading fills its window and does not replace the newest value
    assert states[site_noise.id].time == datetime(2026, 11, 24, 12, 0, tzinfo=TZ).isoformat()
    assert any(key == keys.sensor_window("q", site_noise.id, "20261124") for key, _ in windows(out.effects.ops))


def test_older_readings_past_the_dedupe_memory_are_not_counted_again(ctx, site_noise):
    """A re-send whose envelope mark has expired must not double a window; a sensor's newest always counts."""
    from streams.sensor_projection import project_envelopes

    newest = datetime(2026, 11, 24, 12, 0, tzinfo=TZ)
    remembered_since = datetime(2026, 11, 24, 11, 0, tzinfo=TZ).timestamp()
    states = {site_noise.id: SensorState(site_noise.id, stored_time=newest.isoformat())}
    resent = reading(site_noise, datetime(2026, 11, 24, 10, 30, tzinfo=TZ), 60.0)  # within lateness, before memory
    out = project_envelopes([("old", [resent])], states, ctx, remembered_since)
    assert [r for r, _ in out.late] == [resent] and "re-send" in out.late[0][1]
    assert not windows(out.effects.ops)
    replayed = reading(site_noise, newest + timedelta(minutes=1), 61.0)  # old by the wall clock, but the newest
    out = project_envelopes([("replay", [replayed])], states, ctx, remembered_since=newest.timestamp() + 10**6)
    assert not out.late and windows(out.effects.ops)
