"""Sensor readings → latest value, 1-min/15-min/hourly windows, rule state, alerts and IoT cases.

Pure: readings of one envelope plus the current state of their sensors in, effects and the cases to
open out. The unit of exactly-once is the envelope (its id is claimed with its writes), and readings
of one sensor always arrive on one partition (envelopes are keyed by gateway), so the rule state
read at the start of a batch is the state to continue from.

Windows keep, per bucket, the reading count ``n``, the sum ``s`` (dust: µg/m³; noise: the *energy*
sum Σ10^(L/10), so LAeq = 10·log10(s/n)) and the maximum ``x`` (noise: LAmax):

- ``co:win:m:{sensor}:{YYYYMMDDHH}``: 1-minute buckets of the last hours (kept 2 hours)
- ``co:win:q:{sensor}:{YYYYMMDD}``: 15-minute buckets (kept 3 days)
- ``co:win:h:{sensor}:{YYYYMMDD}``: hourly buckets (kept 14 days)

Rules (see :mod:`streams.sensor_rules`): noise is judged reading by reading against the limit of its
site and hour, dust on the mean of the current 15-minute window, smoke on the alarm state. A rule
fires when the exceedance lasts ``CITYOPS_RULE_SUSTAIN_S`` (default 300 s; smoke at once) and clears
after ``CITYOPS_RULE_CLEAR_S`` (300 s) below the limit minus the hysteresis (3 dB(A), 10 µg/m³).
Each firing is an *episode*: one alert and one case (source 物联感知) dispatched by the
responsibility map; its id derives from the sensor and the episode number, so a re-sent envelope
can never open a second case.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

import orjson

from cityops import keys
from cityops.catalogue import Catalogue
from cityops.city import CityModel
from cityops.devices import Sensor
from cityops.schemas import CaseAction, CaseEvent, CaseSource, SensorReading
from streams.effects import Effects
from streams.sensor_rules import RuleState, energy, limit_for, step

MINUTE_TTL, QUARTER_TTL, HOUR_TTL = 2 * 3600, 3 * keys.DAY, 14 * keys.DAY
HYSTERESIS = {"noise": 3.0, "dust": 10.0, "smoke": 0.0}
# The catalogue class an episode's case is filed under, by sensor kind.
CASE_CATEGORY = {"noise": "E0303", "dust": "E0304", "smoke": "E0506"}
SEVERITY = {"noise": "major", "dust": "major", "smoke": "critical"}


def sustain_s(kind: str) -> float:
    return 0.0 if kind == "smoke" else float(os.environ.get("CITYOPS_RULE_SUSTAIN_S", "300"))


def clear_s(kind: str) -> float:
    return 0.0 if kind == "smoke" else float(os.environ.get("CITYOPS_RULE_CLEAR_S", "300"))


@dataclass
class SensorState:
    """What the projection keeps of a sensor between readings; mirrors ``co:sensor:{id}``."""

    sensor_id: str
    time: str = ""  # ISO time of the newest reading
    rule: RuleState = field(default_factory=RuleState)
    quarter: str = ""  # the 15-minute bucket the dust mean below belongs to
    quarter_n: int = 0
    quarter_s: float = 0.0
    offline_alert: str = ""  # the device-offline alert raised while the sensor was silent, if any

    @classmethod
    def from_hash(cls, sensor_id: str, data: Mapping[str, str]) -> SensorState:
        rule = RuleState(data.get("phase", "normal"), float(data.get("since", 0) or 0),
                         int(data.get("episode", 0) or 0), float(data.get("peak", 0) or 0))
        return cls(sensor_id, data.get("time", ""), rule, data.get("quarter", ""), int(data.get("quarter_n", 0) or 0),
                   float(data.get("quarter_s", 0) or 0), data.get("offline_alert", ""))


@dataclass(frozen=True)
class SensorContext:
    sensors: Mapping[str, Sensor]
    city: CityModel
    catalogue: Catalogue
    tz: ZoneInfo
    max_lateness_s: float = 7200.0


@dataclass
class SensorOutcome:
    effects: Effects
    cases: list[CaseEvent] = field(default_factory=list)
    late: list[tuple[SensorReading, str]] = field(default_factory=list)
    unknown: list[SensorReading] = field(default_factory=list)


def project_envelope(envelope_id: str, readings: list[SensorReading], states: dict[str, SensorState],
                     ctx: SensorContext) -> SensorOutcome:
    """Apply one envelope's readings (in time order per sensor); ``states`` is updated in place."""
    out = SensorOutcome(Effects(envelope_id))
    eff = out.effects
    windows: dict[tuple[str, str], list[float]] = {}  # (key, bucket) → [n, s, x], pre-aggregated per envelope
    for r in sorted(readings, key=lambda r: (r.sensor_id, r.time)):
        sensor = ctx.sensors.get(r.sensor_id)
        if sensor is None:
            out.unknown.append(r)
            continue
        state = states.setdefault(r.sensor_id, SensorState(r.sensor_id))
        if state.time:
            behind = (datetime.fromisoformat(state.time) - r.time).total_seconds()
            if behind > ctx.max_lateness_s:
                out.late.append((r, f"reading of {r.sensor_id} at {r.time.isoformat()} is {behind / 3600:.1f} h "
                                    f"behind its newest (allowed {ctx.max_lateness_s / 3600:g} h)"))
                continue
        if state.offline_alert:  # it speaks again: the offline alert clears
            _clear(eff, state.offline_alert, r.time, {"type": "device_online", "sensor_id": r.sensor_id})
            eff.hset(keys.sensor(r.sensor_id), {"offline_alert": ""})
            state.offline_alert = ""
        local = r.time.astimezone(ctx.tz)
        amount = energy(r.value) if r.kind.value == "noise" else r.value
        day, hour = keys.day_bucket(local), keys.hour_bucket(local)
        quarter = f"{local:%H}{local.minute // 15 * 15:02d}"
        for key, bucket in ((keys.sensor_window("m", r.sensor_id, hour), f"{local:%M}"),
                            (keys.sensor_window("q", r.sensor_id, day), quarter),
                            (keys.sensor_window("h", r.sensor_id, day), f"{local:%H}")):
            acc = windows.setdefault((key, bucket), [0, 0.0, float("-inf")])
            acc[0] += 1
            acc[1] += amount
            acc[2] = max(acc[2], r.value)
        newest = not state.time or r.time >= datetime.fromisoformat(state.time)
        if newest:
            state.time = r.time.isoformat()
            eff.hset(keys.sensor(r.sensor_id), {"value": r.value, "kind": r.kind.value, "metric": r.metric,
                                                "unit": r.unit, "time": local.isoformat(), "offline": 0})
            eff.zadd(keys.sensors_index(), r.time.timestamp(), r.sensor_id)
        judged = r.value
        if r.kind.value == "dust":
            bucket_id = f"{day}{quarter}"
            if state.quarter != bucket_id:
                state.quarter, state.quarter_n, state.quarter_s = bucket_id, 0, 0.0
            state.quarter_n += 1
            state.quarter_s += r.value
            judged = state.quarter_s / state.quarter_n
        limit = limit_for(sensor.kind, sensor.metric, sensor.site_kind, sensor.zone_class, local)
        if limit is None or not newest:
            continue
        change = step(state.rule, r.time.timestamp(), judged, limit, sustain_s(sensor.kind), clear_s(sensor.kind),
                      HYSTERESIS[sensor.kind])
        if change is not None:
            _episode(out, sensor, change.kind, change.episode, judged, limit, r.time, ctx)
    for (key, bucket), (n, s, x) in windows.items():
        eff.hincrby(key, f"{bucket}:n", int(n)).hincrbyfloat(key, f"{bucket}:s", s).hmax(key, f"{bucket}:x", x)
        eff.expire(key, {"m": MINUTE_TTL, "q": QUARTER_TTL, "h": HOUR_TTL}[key.split(":")[2]])
    touched = {r.sensor_id for r in readings}
    for sid, state in states.items():
        if sid in touched:
            eff.hset(keys.sensor(sid), {"phase": state.rule.phase, "since": state.rule.since,
                                        "episode": state.rule.episode, "peak": state.rule.peak,
                                        "quarter": state.quarter, "quarter_n": state.quarter_n,
                                        "quarter_s": state.quarter_s})
            eff.expire(keys.sensor(sid), keys.DAY * 7)
    return out


def _episode(out: SensorOutcome, sensor: Sensor, kind: str, episode: int, value: float, limit: float,
             at: datetime, ctx: SensorContext) -> None:
    alert_id = f"sensor:{sensor.id}:{episode}"
    case_id = f"IOT-{sensor.id}-{episode}"
    eff = out.effects
    if kind == "fired":
        record = {"id": alert_id, "type": f"{sensor.kind}_exceedance", "severity": SEVERITY[sensor.kind],
                  "state": "active", "sensor_id": sensor.id, "metric": sensor.metric, "value": round(value, 1),
                  "limit": limit, "unit": sensor.unit, "since": at.isoformat(), "case_id": case_id,
                  "grid": sensor.grid_code, "district": ctx.city.grids[sensor.grid_code].district_code,
                  "lon": sensor.lon, "lat": sensor.lat, "name_zh": sensor.name_zh}
        eff.hset(keys.alert(alert_id), record | {"acknowledged": 0})
        eff.expire(keys.alert(alert_id), 400 * keys.DAY)
        eff.zadd(keys.active_alerts(), at.timestamp(), alert_id)
        eff.xadd(keys.alerts(), keys.ALERTS_MAXLEN, orjson.dumps(record).decode())
        out.cases.extend(_case_events(sensor, case_id, alert_id, value, limit, at, ctx))
    else:
        _clear(eff, alert_id, at, {"type": f"{sensor.kind}_cleared", "sensor_id": sensor.id, "case_id": case_id})


def _clear(eff: Effects, alert_id: str, at: datetime, extra: dict) -> None:
    eff.hset(keys.alert(alert_id), {"state": "cleared", "cleared_at": at.isoformat()})
    eff.zrem(keys.active_alerts(), alert_id)
    eff.xadd(keys.alerts(), keys.ALERTS_MAXLEN, orjson.dumps(
        {"id": alert_id, "severity": "info", "state": "cleared", "at": at.isoformat(), **extra}).decode())


def _case_events(sensor: Sensor, case_id: str, alert_id: str, value: float, limit: float, at: datetime,
                 ctx: SensorContext) -> list[CaseEvent]:
    """Report, register and dispatch of the one case an episode opens (ids fixed by the episode)."""
    category = ctx.catalogue.get(CASE_CATEGORY[sensor.kind])
    department = ctx.city.responsible_department(category.owner_role, sensor.grid_code)
    text = f"{sensor.name_zh}: {sensor.metric.upper()} {value:.1f} {sensor.unit} 超过限值 {limit:g}"
    common = {"case_id": case_id, "event_time": at, "actor": "物联感知平台"}
    return [
        CaseEvent(event_id=f"{case_id}-report", action=CaseAction.REPORT, source=CaseSource.IOT_SENSOR,
                  category_code=category.code, lon=sensor.lon, lat=sensor.lat, grid_id=sensor.grid_code,
                  urgent=sensor.kind == "smoke", description=text, origin_ref=alert_id, **common),
        CaseEvent(event_id=f"{case_id}-register", action=CaseAction.REGISTER, **common),
        CaseEvent(event_id=f"{case_id}-dispatch", action=CaseAction.DISPATCH, department_id=department, **common),
    ]
