"""Sensor kinds as data: the spec loader, limits above and below with hysteresis, and the two kinds added by
file alone (gas pipeline pressure, drain water level) through contract, decoder, projection and simulator."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import orjson
import pytest

from cityops import sensor_kinds
from cityops.catalogue import get_catalogue
from cityops.fast_envelope import decode_columns
from cityops.schemas import CaseAction, ContractError, SensorKind, decode_sensor_envelope
from cityops.sensor_kinds import SpecError, load_dir, parse_spec
from fixtures.simulator.profiles import ProfileModel, profile_sensors
from fixtures.simulator.sensors import SensorModel
from fixtures.xiamen import load_city, load_sensors
from streams.sensor_projection import SensorContext, SensorState, project_envelope
from streams.sensor_rules import ACTIVE, NORMAL, RuleState, band_for, is_low, limit_for, step

TZ = ZoneInfo("Asia/Shanghai")
DAY, NIGHT = datetime(2026, 11, 24, 14, tzinfo=TZ), datetime(2026, 11, 24, 23, tzinfo=TZ)


# ------------------------------------------------------------------------------------------- loader


def test_every_kind_loads_in_order_and_the_contract_names_them():
    assert list(sensor_kinds.kinds()) == ["noise", "dust", "smoke", "gas_pressure", "water_level"]
    assert [k.value for k in SensorKind] == list(sensor_kinds.kinds())
    assert SensorKind.GAS_PRESSURE == "gas_pressure" and SensorKind.WATER_LEVEL == "water_level"


def test_the_specs_hold_what_the_code_used_to():
    noise, dust, smoke = (sensor_kinds.spec(k) for k in ("noise", "dust", "smoke"))
    assert noise.aggregation == "energy" and noise.hysteresis == 3.0 and noise.case_category == "E0303"
    assert dust.judged == "window" and dust.window_min == 15 and dust.hysteresis == 10.0 \
        and dust.case_category == "E0302"
    assert noise.judged == "window" and noise.window_min == 20 and noise.window_in_period
    assert smoke.timing() == (0.0, 0.0, 0.0) and smoke.states == {0.0: "normal", 1.0: "alarm"} and smoke.urgent
    assert (noise.severity, dust.severity, smoke.severity) == ("major", "major", "critical")
    assert noise.units == ("dB(A)", "dBA") and dust.units == ("ug/m3", "µg/m³") and smoke.units == ("state", "")
    # GB 3096 classes by day and night, construction by GB 12523, an unknown class as class 2
    classes = ("0", "1", "2", "3", "4a", "4b", "9")
    assert [limit_for("noise", "laeq", "road", z, t) for z in classes for t in (DAY, NIGHT)] \
        == [50, 40, 55, 45, 60, 50, 65, 55, 70, 55, 70, 60, 60, 50]
    assert limit_for("dust", "pm25", "construction", "2", DAY) is None  # a 24-hour limit: never on short windows
    assert limit_for("smoke", "alarm", "building", "2", NIGHT) == 0.5
    assert limit_for("nosuchkind", "x", "", "", DAY) is None


def test_new_kinds_bands_and_categories():
    gas, water = sensor_kinds.spec("gas_pressure"), sensor_kinds.spec("water_level")
    assert band_for("gas_pressure", "pressure", "gas_network", "low", NIGHT) == (1.5, 3.0)
    assert band_for("water_level", "fill", "drainage_network", "", DAY) == (-math.inf, 80.0)
    assert gas.case_category == "E0403" and water.case_category == "E0406"
    catalogue = get_catalogue()
    assert catalogue.get("E0403").owner_role == "gas" and catalogue.get("E0406").name("zh").endswith("道路积水")
    assert gas.severity == "critical" and gas.urgent and gas.timing() == (60.0, 300.0, 0.1)


def minimal(**over: object) -> dict:
    data = {"kind": "k", "order": 9, "label": {"zh": "甲", "en": "K"}, "alert": {"zh": "甲超标", "en": "k high"},
            "colour": [1, 2, 3, 255], "default_metric": "m", "aggregation": "mean", "hysteresis": 1.0,
            "case_category": "E0601", "severity": "minor", "metrics": {"m": {"units": ["u"], "range": [0, 10]}},
            "limits": [{"above": 5.0}]}
    return data | over


@pytest.mark.parametrize(("over", "reason"), [
    ({"default_metric": "nope"}, "default_metric 'nope'"),
    ({"aggregation": "median"}, "aggregation must be"),
    ({"severity": "loud"}, "severity must be"),
    ({"limits": [{"metric": "other", "above": 1}]}, "names metric 'other'"),
    ({"limits": [{"metric": "m"}]}, "needs above, below or both"),
    ({"limits": [{"below": 4.5, "above": 5.0}]}, "could never clear"),
    ({"metrics": {"m": {"units": ["u"], "range": [10, 0]}}}, "low ≤ high"),
    ({"colour": [1, 2, 3]}, "colour"),
])
def test_a_bad_spec_is_refused_with_its_reason(over, reason):
    with pytest.raises(SpecError, match=reason):
        parse_spec(minimal(**over), "k.toml")


def test_a_missing_field_names_the_file(tmp_path: Path):
    data = minimal()
    del data["case_category"]
    with pytest.raises(SpecError, match="k.toml: missing or malformed 'case_category'"):
        parse_spec(data, "k.toml")
    (tmp_path / "a.toml").write_text('kind = "k"\norder = [', encoding="utf-8")
    with pytest.raises(SpecError, match="a.toml: not valid TOML"):
        load_dir(tmp_path)


def test_a_folder_loads_in_order_and_refuses_a_kind_twice(tmp_path: Path):
    src = sensor_kinds.SPEC_DIR
    for name in ("water_level.toml", "noise.toml"):
        (tmp_path / name).write_bytes((src / name).read_bytes())
    assert list(load_dir(tmp_path)) == ["noise", "water_level"]
    (tmp_path / "again.toml").write_bytes((src / "noise.toml").read_bytes())
    with pytest.raises(SpecError, match="kind 'noise' is defined twice"):
        load_dir(tmp_path)


# -------------------------------------------------------------------------------------------- rules


def run(values, low=1.5, high=3.0, sustain=60, clear=300, hyst=0.1, dt=30):
    state, changes = RuleState(), []
    for i, v in enumerate(values):
        ch = step(state, i * dt, v, high, sustain, clear, hyst, low)
        if ch:
            changes.append((ch.kind, ch.at, ch.episode))
    return state, changes


def test_a_low_limit_fires_when_sustained_and_its_peak_is_the_lowest_value():
    state, changes = run([2.4, 1.2, 1.3, 1.0, 1.1])  # below 1.5 from t=30 s; sustained 60 s at t=90
    assert changes == [("fired", 90, 1)] and state.phase == ACTIVE
    assert state.peak == 1.0 and is_low(state, 1.5)
    _, changes = run([2.4, 1.2, 2.4, 1.2, 2.4])  # never 60 s below
    assert changes == []


def test_a_low_limit_clears_only_above_the_limit_plus_hysteresis():
    # below from 0 s, fired at 60 s; 1.55 is above the limit but not above 1.6 (limit + hysteresis): no clearing
    values = [1.0] * 4 + [1.55] * 20 + [2.0] * 11
    state, changes = run(values)
    assert changes[0] == ("fired", 60, 1)
    assert changes[1] == ("cleared", (24 + 10) * 30, 1) and state.phase == NORMAL


def test_a_band_fires_above_too_with_a_peak_that_is_the_highest():
    state, changes = run([2.4, 3.4, 3.6, 3.5])
    assert changes == [("fired", 90, 1)] and state.peak == 3.6 and not is_low(state, 1.5)


def test_a_high_only_limit_keeps_the_old_rule():
    """Water level: no lower bound; hysteresis 5 % under the 80 % limit."""
    state = RuleState()
    out = [step(state, i * 60, v, 80.0, 300, 300, 5.0) for i, v in enumerate([90.0] * 6 + [77.0] * 8 + [70.0] * 6)]
    kinds = [(c.kind, c.at) for c in out if c]
    assert kinds == [("fired", 300), ("cleared", (14 + 5) * 60)]


# ----------------------------------------------------------------------------- contract and decoder


def envelope(readings: list[dict]) -> bytes:
    t = datetime(2026, 5, 1, 9, tzinfo=UTC).isoformat()
    return orjson.dumps({"envelope_id": "e1", "gateway_id": "GW-1", "sent_at": t,
                         "readings": [{"time": t, **r} for r in readings]})


def test_the_contract_and_the_fast_decoder_take_new_kinds_from_their_specs():
    good = envelope([{"sensor_id": "GP-0001", "kind": "gas_pressure", "value": 1.2, "unit": "kPa"},
                     {"sensor_id": "WL-0001", "kind": "water_level", "metric": "fill", "value": 91.0, "unit": "%"}])
    fast = decode_columns(good)
    assert fast is not None and [s[1:] for s in fast[1].specs] == [("pressure", "kPa"), ("fill", "%")]
    _, readings, bad = decode_sensor_envelope(good)
    assert bad == [] and readings[0].metric == "pressure" and readings[0].kind is SensorKind.GAS_PRESSURE
    for reading, reason in [
        ({"kind": "gas_pressure", "value": 1.2, "unit": "bar"}, "unit 'bar' is not valid for gas_pressure (use 'kPa')"),
        ({"kind": "gas_pressure", "value": -1.0, "unit": "kPa"}, "gas_pressure value -1.0 is outside 0..1600"),
        ({"kind": "water_level", "value": 101.0, "unit": "%"}, "water_level value 101.0 is outside 0..100"),
        ({"kind": "water_level", "metric": "pressure", "value": 1.0, "unit": "%"}, "metric 'pressure' is not valid"),
        ({"kind": "smoke", "value": 0.5, "unit": "state"}, "smoke value must be 0 (normal) or 1 (alarm)"),
    ]:
        raw = envelope([{"sensor_id": "S-1", **reading}])
        assert decode_columns(raw) is None
        _, _, bad = decode_sensor_envelope(raw)
        assert len(bad) == 1 and reason in bad[0][2]
    with pytest.raises(ContractError):
        decode_sensor_envelope(b"{}")


# ------------------------------------------------------------------------------------------ projection


@pytest.fixture(scope="module")
def ctx():
    city = load_city()
    sensors = {s.id: s for s in (*load_sensors(), *profile_sensors(city))}
    return SensorContext(sensors, city, get_catalogue(), TZ)


def readings_of(sensor, values, start, dt=timedelta(seconds=30)):
    from cityops.schemas import SensorReading

    return [SensorReading(sensor_id=sensor.id, kind=SensorKind(sensor.kind), metric=sensor.metric, value=v,
                          unit=sensor.unit, time=start + i * dt) for i, v in enumerate(values)]


def test_low_gas_pressure_opens_an_urgent_gas_leak_case(ctx):
    gas = ctx.sensors["GP-0001"]
    start = datetime(2026, 11, 24, 10, tzinfo=TZ)
    states: dict[str, SensorState] = {}
    out = project_envelope("g1", readings_of(gas, [2.4, 1.2, 1.1, 0.9, 1.0], start), states, ctx)
    report = next(c for c in out.cases if c.action is CaseAction.REPORT)
    assert report.category_code == "E0403" and report.urgent and report.case_id == "IOT-GP-0001-1"
    assert "低于限值 1.5" in report.description
    alert = orjson.loads(next(op for op in out.effects.ops if op[0] == "XADD")[3])
    assert (alert["type"], alert["severity"], alert["limit"], alert["value"]) == \
        ("gas_pressure_exceedance", "critical", 1.5, 0.9)
    assert states["GP-0001"].rule.phase == ACTIVE and states["GP-0001"].rule.peak == 0.9


def test_a_high_drain_level_opens_a_flooding_case_after_the_sustain_time(ctx):
    water = ctx.sensors["WL-0001"]
    start = datetime(2026, 11, 24, 10, tzinfo=TZ)
    out = project_envelope("w1", readings_of(water, [92.0] * 6, start, timedelta(minutes=1)), {}, ctx)
    report = next(c for c in out.cases if c.action is CaseAction.REPORT)
    assert report.category_code == "E0406" and not report.urgent and "超过限值 80" in report.description
    early = project_envelope("w2", readings_of(water, [92.0] * 5, start, timedelta(minutes=1)), {}, ctx)
    assert early.cases == []  # 4 minutes above: not sustained for 5


# ------------------------------------------------------------------------------------------- simulator


def test_profiled_sensors_are_deterministic_and_the_default_city_has_none():
    city = load_city()
    first, again = profile_sensors(city), profile_sensors(city)
    assert first == again and [s.kind for s in first].count("gas_pressure") == 20
    assert [s.kind for s in first].count("water_level") == 20
    assert all(city.grids[s.grid_code].district_code in s.gateway_id for s in first)
    assert {s.kind for s in load_sensors()} == {"noise", "dust", "smoke"}  # the demo city is unchanged
    # a model over the default sensors draws nothing from profiles
    assert ProfileModel(load_sensors()).groups == []


def test_profiled_values_follow_the_profile_and_cross_the_limits_some_days():
    city = load_city()
    sensors = [*load_sensors()[:50], *profile_sensors(city)]
    model = SensorModel(sensors, seed=7)
    base = SensorModel(list(load_sensors()[:50]), seed=7)
    gas = [i for i, s in enumerate(sensors) if s.kind == "gas_pressure"]
    water = [i for i, s in enumerate(sensors) if s.kind == "water_level"]
    low = high = 0
    for day in range(10):
        for minute in range(0, 24 * 60, 10):
            t = datetime(2026, 11, 1, tzinfo=TZ) + timedelta(days=day, minutes=minute)
            v = model.values_at(t)
            assert all(0.0 <= v[i] <= 1600.0 for i in gas) and all(0.0 <= v[i] <= 100.0 for i in water)
            low += sum(v[i] < 1.5 for i in gas)
            high += sum(v[i] > 80.0 for i in water)
            if day == 0 and minute == 600:
                assert (v[:50] == base.values_at(t)).all(), "the hand-drawn kinds keep their values"
                assert 2.0 < sorted(v[i] for i in gas)[10] < 2.8  # a typical point sits near 2.4 kPa
    assert low > 0 and high > 0
    assert (model.values_at(DAY) == SensorModel(sensors, seed=7).values_at(DAY)).all()
