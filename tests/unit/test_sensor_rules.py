"""Sensor judgement: energy averaging, limits by time and zone, sustained rules with hysteresis."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from streams.sensor_rules import (
    ACTIVE,
    NORMAL,
    RuleState,
    energy,
    laeq,
    laeq_from_energy,
    limit_for,
    step,
)

TZ = ZoneInfo("Asia/Shanghai")


def test_laeq_is_an_energy_average_not_an_arithmetic_one():
    assert laeq([60.0, 60.0]) == pytest.approx(60.0)
    assert laeq([50.0, 70.0]) == pytest.approx(67.0, abs=0.05)  # arithmetic mean would say 60
    assert laeq([40.0] * 59 + [80.0]) == pytest.approx(62.3, abs=0.1)
    values = [55.5, 61.2, 70.3, 48.0]
    assert laeq_from_energy(sum(energy(v) for v in values), len(values)) == pytest.approx(laeq(values))
    with pytest.raises(ValueError):
        laeq([])


def test_limits_by_site_zone_and_time_of_day():
    day, night = datetime(2026, 11, 24, 14, 0, tzinfo=TZ), datetime(2026, 11, 24, 23, 0, tzinfo=TZ)
    early = datetime(2026, 11, 24, 5, 59, tzinfo=TZ)
    assert limit_for("noise", "laeq", "construction", "2", day) == 70.0
    assert limit_for("noise", "laeq", "construction", "2", night) == 55.0
    assert limit_for("noise", "laeq", "construction", "2", early) == 55.0
    assert limit_for("noise", "laeq", "road", "4a", day) == 70.0
    assert limit_for("noise", "laeq", "residential", "1", night) == 45.0
    assert limit_for("dust", "pm10", "construction", "2", day) == 80.0
    assert limit_for("noise", "lamax", "construction", "2", day) is None


def test_pm10_limit_is_configurable(monkeypatch):
    monkeypatch.setenv("CITYOPS_PM10_LIMIT", "150")
    assert limit_for("dust", "pm10", "construction", "2", datetime(2026, 11, 24, 9, tzinfo=TZ)) == 150.0


def run(values, limit=70.0, sustain=300, clear=300, hyst=3.0, dt=60):
    state, changes = RuleState(), []
    for i, v in enumerate(values):
        ch = step(state, i * dt, v, limit, sustain, clear, hyst)
        if ch:
            changes.append((ch.kind, ch.at, ch.episode))
    return state, changes


def test_rule_fires_only_when_sustained():
    _, changes = run([75, 75, 75, 75, 60, 60])  # 3 minutes above: not sustained for 5
    assert changes == []
    state, changes = run([75] * 7)
    assert changes == [("fired", 300, 1)] and state.phase == ACTIVE


def test_rule_clears_with_hysteresis_and_counts_episodes():
    # above for 6 min → fires; hovering just under the limit (69) does not clear (needs < 67)
    values = [75] * 6 + [69] * 10 + [60] * 6 + [75] * 6
    state, changes = run(values)
    assert changes[0] == ("fired", 300, 1)
    assert changes[1][0] == "cleared" and changes[1][1] == (16 + 5) * 60
    assert changes[2] == ("fired", (22 + 5) * 60, 2)
    assert state.episode == 2


def test_brief_dip_does_not_clear():
    _, changes = run([75] * 6 + [60, 60, 75, 75] + [60] * 6)
    assert [c[0] for c in changes] == ["fired", "cleared"]


def test_smoke_alarm_fires_immediately():
    state, changes = run([0, 0, 1, 1, 0, 0], limit=0.5, sustain=0, clear=0, hyst=0.0)
    assert [c[0] for c in changes] == ["fired", "cleared"] and state.phase == NORMAL
