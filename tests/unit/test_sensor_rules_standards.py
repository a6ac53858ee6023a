"""Sensor rules as the standards define them (issue 16, points 8 and 9).

Noise: the rolling 20-minute LAeq against GB 12523-2011 / GB 3096-2008 limits, kept inside its day or night
period, and the night maximum (night limit + 15 dB(A)) as a rule of its own; the category an episode opens by
site and zone class. Dust: PM10 on a rolling 15-minute (or hourly) mean, PM2.5 never judged on a short window.
"""

from __future__ import annotations

import dataclasses
import math
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from cityops import keys
from cityops.catalogue import get_catalogue
from cityops.schemas import CaseAction, SensorKind, SensorReading
from fixtures.xiamen import load_city, load_sensors
from streams.sensor_projection import SensorContext, SensorState, project_envelope, project_envelopes
from streams.sensor_rules import Rolling, RuleState, energy, laeq, step

TZ = ZoneInfo("Asia/Shanghai")


@pytest.fixture(scope="module")
def ctx():
    return SensorContext({s.id: s for s in load_sensors()}, load_city(), get_catalogue(), TZ)


def first(ctx, **match):
    return next(s for s in ctx.sensors.values() if all(getattr(s, k) == v for k, v in match.items()))


def feed(ctx, states, sensor, t0: datetime, values, step_s: int = 60, tag: str = "r"):
    """One envelope per reading, ``step_s`` apart from ``t0``; every case event the readings opened."""
    cases = []
    for i, value in enumerate(values):
        reading = SensorReading(sensor_id=sensor.id, kind=SensorKind(sensor.kind), metric=sensor.metric,
                                value=value, unit=sensor.unit, time=t0 + timedelta(seconds=i * step_s))
        cases += project_envelope(f"{tag}{i}", [reading], states, ctx).cases
    return cases


def reports(cases):
    return [c for c in cases if c.action == CaseAction.REPORT]


# ------------------------------------------------------------------------------------------------- noise


def test_alternating_80_60_fires_on_the_20_minute_laeq(ctx):
    """80/60 dB(A) minute by minute for 30 minutes (LAeq 77). By day (limit 70) each 60 reset the per-reading
    rule's count, so it never fired; the rolling LAeq is over the limit throughout: it fires, by day and at
    23:00 (limit 55), once each, as 施工噪声."""
    site = first(ctx, kind="noise", site_kind="construction")
    values = [80.0 if i % 2 == 0 else 60.0 for i in range(30)]
    assert laeq(values) == pytest.approx(77.0, abs=0.05)
    old = RuleState()  # the old rule, each reading against the day limit: never sustained 5 minutes
    assert not any(step(old, i * 60.0, v, 70.0, 300, 300, 3.0) for i, v in enumerate(values))
    # over once even the full window's LAeq would be (night: from the first 80; day, limit 70: from the third
    # minute, 10·log10((2·10^8 + 10^6)/20) = 70.02), then the 5-minute sustain
    for start, over in ((datetime(2026, 11, 24, 23, 0, tzinfo=TZ), 0), (datetime(2026, 11, 24, 14, 0, tzinfo=TZ), 2)):
        states: dict[str, SensorState] = {}
        got = reports(feed(ctx, states, site, start, values))
        (laeq_case,) = [r for r in got if "LAEQ,20min" in r.description]  # at night the maximum fires too
        assert laeq_case.category_code == "E0303"  # 施工噪声
        assert laeq_case.event_time == start + timedelta(minutes=over + 5)
        assert states[site.id].rule.phase == "active"


def test_a_day_level_does_not_count_against_the_night_limit(ctx):
    """65 dB(A) until 22:00 is within the day limit 70; the window then starts again at 22:00 (it stays inside
    its period), so the quiet night that follows does not fire on the evening's energy."""
    site = first(ctx, kind="noise", site_kind="construction")
    states: dict[str, SensorState] = {}
    cases = feed(ctx, states, site, datetime(2026, 11, 24, 21, 30, tzinfo=TZ), [65.0] * 30 + [40.0] * 30)
    assert cases == []


def test_quiet_day_with_loud_moments_under_the_limit_does_not_fire(ctx):
    """By day (limit 70) a few readings at 78 among 60s: the 20-minute LAeq (≈ 69) stays under the limit."""
    site = first(ctx, kind="noise", site_kind="construction")
    values = [78.0 if i % 10 == 0 else 60.0 for i in range(40)]
    assert reports(feed(ctx, {}, site, datetime(2026, 11, 24, 9, 0, tzinfo=TZ), values)) == []


def test_night_maximum_is_a_rule_of_its_own(ctx):
    """GB 12523-2011 表1 注1: at night the maximum may exceed the limit by at most 15 dB(A). An LAmax sensor at
    a construction site: 72 > 55 + 15 fires at once, with its own alert and case; the same by day does not."""
    site = first(ctx, kind="noise", site_kind="construction")
    lamax = dataclasses.replace(site, id="NS-TEST-LAMAX", metric="lamax")
    local = SensorContext({lamax.id: lamax}, ctx.city, ctx.catalogue, TZ)
    states: dict[str, SensorState] = {}
    night = feed(local, states, lamax, datetime(2026, 11, 25, 1, 0, tzinfo=TZ), [50.0, 72.0, 50.0], tag="n")
    (report,) = reports(night)
    assert report.event_time == datetime(2026, 11, 25, 1, 1, tzinfo=TZ)
    assert report.case_id == "IOT-NS-TEST-LAMAX-1" and "LAMAX 72.0 dB(A) 超过限值 70" in report.description
    assert report.category_code == "E0303" and states[lamax.id].night.phase == "clearing"  # 50: back under
    assert states[lamax.id].rule.phase == "normal"  # the LAeq rule is not involved
    day = feed(local, {}, lamax, datetime(2026, 11, 25, 10, 0, tzinfo=TZ), [50.0, 72.0, 50.0], tag="d")
    assert day == []


def test_night_maximum_and_laeq_episodes_never_share_an_id(ctx):
    """An LAeq sensor at night: a 90 dB(A) burst fires the night-maximum rule at once (episode 1) and the
    20-minute LAeq rule after its sustain (episode 2): two alerts, two cases, distinct ids."""
    site = first(ctx, kind="noise", site_kind="construction")
    states: dict[str, SensorState] = {}
    cases = feed(ctx, states, site, datetime(2026, 11, 24, 23, 30, tzinfo=TZ), [90.0] * 8)
    ids = [c.case_id for c in reports(cases)]
    assert ids == [f"IOT-{site.id}-1", f"IOT-{site.id}-2"]
    assert "LAMAX" in reports(cases)[0].description and "LAEQ,20min" in reports(cases)[1].description
    assert states[site.id].night.episode == 1 and states[site.id].rule.episode == 2


def test_road_side_4a_sensor_opens_road_noise_not_construction_noise(ctx):
    """GB 3096-2008 class 4a (交通干线两侧), night limit 55: the episode opens 交通噪声 (E0118)."""
    road = first(ctx, kind="noise", site_kind="road", zone_class="4a")
    (report,) = reports(feed(ctx, {}, road, datetime(2026, 11, 24, 23, 0, tzinfo=TZ), [62.0] * 25))
    assert report.category_code == "E0118" and ctx.catalogue.get("E0118").name("zh").endswith("交通噪声")
    ambient = dataclasses.replace(road, id="NS-TEST-ZONE1", site_kind="residential", zone_class="1")
    local = SensorContext({ambient.id: ambient}, ctx.city, ctx.catalogue, TZ)
    (report,) = reports(feed(local, {}, ambient, datetime(2026, 11, 24, 23, 0, tzinfo=TZ), [52.0] * 25))
    assert report.category_code == "E0119"  # 区域环境噪声: class 1 night limit 45


# -------------------------------------------------------------------------------------------------- dust


def test_a_5_minute_pm10_spike_under_the_15_minute_mean_does_not_fire(ctx):
    """15 minutes at 40, then 150 for 5 minutes from 10:00, then 40: the rolling 15-minute mean peaks at
    (10·40 + 5·150)/15 = 76.7 < 80. The old quarter-hour mean restarted at 10:00 and read the spike as 150."""
    pm10 = first(ctx, metric="pm10")
    values = [40.0] * 15 + [150.0] * 5 + [40.0] * 15
    states: dict[str, SensorState] = {}
    assert feed(ctx, states, pm10, datetime(2026, 11, 24, 9, 45, tzinfo=TZ), values) == []
    assert states[pm10.id].rule.phase == "normal"


def test_a_sustained_15_minute_mean_above_the_limit_fires(ctx):
    """40 for 15 minutes, then 120: the 15-minute mean passes 80 after 8 minutes at 120 (10:07: (7·40 + 8·120)/15
    = 82.7), and fires after the 5-minute sustain, once, as 扬尘污染."""
    pm10 = first(ctx, metric="pm10")
    got = reports(feed(ctx, {}, pm10, datetime(2026, 11, 24, 9, 45, tzinfo=TZ), [40.0] * 15 + [120.0] * 20))
    assert len(got) == 1 and got[0].category_code == "E0302"
    assert got[0].event_time == datetime(2026, 11, 24, 10, 12, tzinfo=TZ)
    assert "PM10,15min" in got[0].description


def test_the_city_can_judge_dust_on_an_hourly_mean(ctx, monkeypatch):
    """CITYOPS_DUST_WINDOW_MIN=60: 20 minutes at 120 among 40s is over 80 for a 15-minute mean, not for the hour."""
    pm10 = first(ctx, metric="pm10")
    values = [40.0] * 40 + [120.0] * 20
    t0 = datetime(2026, 11, 24, 9, 0, tzinfo=TZ)
    monkeypatch.setenv("CITYOPS_DUST_WINDOW_MIN", "60")
    assert feed(ctx, {}, pm10, t0, values) == []
    monkeypatch.setenv("CITYOPS_DUST_WINDOW_MIN", "15")
    assert len(reports(feed(ctx, {}, pm10, t0, values))) == 1
    monkeypatch.setenv("CITYOPS_DUST_WINDOW_MIN", "1440")
    with pytest.raises(ValueError, match="CITYOPS_DUST_WINDOW_MIN must be a whole number of minutes in 1..60"):
        feed(ctx, {}, pm10, t0, values[:1])


def test_pm25_is_never_judged_on_a_short_window(ctx):
    """GB 3095-2012's PM2.5 limit (75) is a 24-hour mean: an hour at 300 on a 15-minute window opens nothing."""
    pm25 = first(ctx, metric="pm25")
    assert feed(ctx, {}, pm25, datetime(2026, 11, 24, 9, 0, tzinfo=TZ), [300.0] * 60) == []


# ------------------------------------------------------------------------------------- window and state


def test_rolling_window_is_exact_per_minute_and_takes_late_readings():
    roll = Rolling()
    for minute, level in ((100, 60.0), (100, 70.0), (101, 80.0), (99, 50.0)):  # 99: late, still in the window
        roll.add(minute, energy(level), 101, 3)
    roll.add(90, energy(99.0), 101, 3)  # older than the window: not kept
    value, complete = roll.level(101, 3, 0, 3, 1.0, True)
    minutes = [energy(50.0), (energy(60.0) + energy(70.0)) / 2, energy(80.0)]  # each minute counts once
    assert complete and value == pytest.approx(10 * math.log10(sum(minutes) / 3))
    lower, complete = roll.level(101, 20, 0, 15, 1.0, True)  # 3 of 20 minutes: a lower bound only
    assert not complete and lower == pytest.approx(10 * math.log10(sum(minutes) / 20))
    assert roll.level(101, 3, 101, 1, 1.0, True)[0] == pytest.approx(80.0)  # from the period's first minute
    roll.trim(102, 3)
    assert sorted(roll.buckets) == [100, 101]
    again = Rolling.from_text(roll.to_text())
    assert {m: b[:2] for m, b in again.buckets.items()} == {m: b[:2] for m, b in roll.buckets.items()}
    assert again.to_text() == roll.to_text() == f"100:2:{energy(60.0) + energy(70.0)!r};101:1:{energy(80.0)!r}"
    with pytest.raises(ValueError, match="roll bucket 'x' is not minute:count:sum"):
        Rolling.from_text("1:1:2.0;x")


def test_old_stored_state_loads_and_carries_its_episodes(ctx):
    """A hash written by the quarter-hour rule (quarter fields, an active third episode) loads: the rule and its
    episode count carry on, the old mean is dropped, and the next episode of either rule is number 4."""
    site = first(ctx, kind="noise", site_kind="construction")
    old = {"time": datetime(2026, 11, 24, 22, 59, tzinfo=TZ).isoformat(), "phase": "active", "since": "1.0",
           "episode": "3", "peak": "71.5", "quarter": "202611242245", "quarter_n": "14", "quarter_s": "980.0",
           "offline_alert": "", "kind": "noise", "metric": "laeq", "unit": "dB(A)", "offline": "0"}
    state = SensorState.from_hash(site.id, old)
    assert (state.rule.phase, state.rule.episode, state.night.phase, state.roll.buckets) == ("active", 3, "normal", {})
    reading = SensorReading(sensor_id=site.id, kind=SensorKind.NOISE, metric="laeq", value=75.0, unit="dB(A)",
                            time=datetime(2026, 11, 24, 23, 0, tzinfo=TZ))
    out = project_envelope("after-upgrade", [reading], {site.id: state}, ctx)
    (report,) = reports(out.cases)
    assert report.case_id == f"IOT-{site.id}-4"  # the night maximum (75 > 70), numbered after the old episodes
    flat = next(op[2] for op in out.effects.ops if op[0] == "HSETEX" and op[1] == keys.sensor(site.id))
    written = dict(zip(flat[::2], flat[1::2], strict=True))
    assert written["mx_episode"] == "4" and written["roll"].endswith(f":1:{energy(75.0)!r}")


def test_the_projection_judges_exactly_the_rolling_laeq_a_plain_model_does(ctx):
    """Readings every 20 s for 3 hours by day, loud and quiet spells around the limit 70: the projection (its
    per-minute buckets, the shortcut that skips a window whose minutes are all within the band, batching) fires
    and clears at the moments, and ends with the state, that a plain model of the rule gives."""
    import random

    site = first(ctx, kind="noise", site_kind="construction")
    rng, t0 = random.Random(7), datetime(2026, 11, 24, 8, 0, tzinfo=TZ)
    values = [round((74.0 if (i // 90) % 3 == 1 else 64.0) + rng.uniform(-8, 8), 1) for i in range(540)]
    times = [t0 + timedelta(seconds=20 * i) for i in range(540)]

    model, minutes, expected = RuleState(), {}, []
    for t, v in zip(times, values, strict=True):
        m = int(t.timestamp()) // 60
        minutes.setdefault(m, []).append(energy(v))
        means = [sum(e) / len(e) for k, e in minutes.items() if m - 20 < k <= m]
        complete = len(means) >= 15
        level = 10 * math.log10(math.fsum(means) / (len(means) if complete else 20))
        if complete or level > 70.0:
            change = step(model, t.timestamp(), level, 70.0, 300, 300, 3.0)
            if change is not None:
                expected.append((change.kind, t))

    states: dict[str, SensorState] = {}
    got = []
    for start in range(0, 540, 27):  # envelopes of 9 readings, batches of 3 envelopes
        batch = [(f"x{start}-{k}", [SensorReading(sensor_id=site.id, kind=SensorKind.NOISE, metric="laeq",
                                                  value=values[i], unit="dB(A)", time=times[i])
                                    for i in range(start + 9 * k, start + 9 * k + 9)]) for k in range(3)]
        out = project_envelopes(batch, states, ctx)
        got += [("fired", c.event_time) for c in out.cases if c.action == CaseAction.REPORT]
        got += [("cleared", datetime.fromisoformat(op[3]))
                for op in out.effects.ops if op[0] == "HSET" and op[2] == "cleared_at"]
    assert len(expected) >= 4 and sorted(got) == sorted(expected)
    rule = states[site.id].rule
    assert (rule.phase, rule.since, rule.episode, rule.peak) == (model.phase, model.since, model.episode, model.peak)
