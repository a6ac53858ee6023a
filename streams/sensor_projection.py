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

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

import orjson

from cityops import keys
from cityops.catalogue import Catalogue
from cityops.city import CityModel
from cityops.devices import Sensor
from cityops.schemas import CaseAction, CaseEvent, CaseSource, SensorReading, derived_id
from cityops.settings import env_number
from streams.effects import Effects
from streams.sensor_rules import RuleState, energy, limit_for, step

MINUTE_TTL, QUARTER_TTL, HOUR_TTL = 2 * 3600, 3 * keys.DAY, 14 * keys.DAY
HYSTERESIS = {"noise": 3.0, "dust": 10.0, "smoke": 0.0}
# The catalogue class an episode's case is filed under, by sensor kind.
CASE_CATEGORY = {"noise": "E0303", "dust": "E0304", "smoke": "E0506"}
SEVERITY = {"noise": "major", "dust": "major", "smoke": "critical"}


def sustain_s(kind: str) -> float:
    return 0.0 if kind == "smoke" else env_number("CITYOPS_RULE_SUSTAIN_S", 300)


def clear_s(kind: str) -> float:
    return 0.0 if kind == "smoke" else env_number("CITYOPS_RULE_CLEAR_S", 300)


@dataclass
class SensorState:
    """What the projection keeps of a sensor between readings; mirrors ``co:sensor:{id}``."""

    sensor_id: str
    stored_time: str = ""  # ISO time of the newest reading, as stored
    rule: RuleState = field(default_factory=RuleState)
    quarter: str = ""  # the 15-minute bucket the dust mean below belongs to
    quarter_n: int = 0
    quarter_s: float = 0.0
    offline_alert: str = ""  # the device-offline alert raised while the sensor was silent, if any
    _time: datetime | None = field(default=None, repr=False, compare=False)  # ``time`` parsed, once

    def last_time(self) -> datetime | None:
        """The newest reading's time as a datetime (parsed once per batch, not once per reading)."""
        if self._time is None and self.stored_time:
            self._time = datetime.fromisoformat(self.stored_time)
        return self._time

    def set_time(self, t: datetime) -> None:
        self._time = t  # formatted only when asked (``time``): the hot path never needs the text

    @property
    def time(self) -> str:
        """ISO time of the newest reading."""
        t = self.last_time()
        return t.isoformat() if t is not None else ""

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
    return project_envelopes([(envelope_id, readings)], states, ctx)


def project_envelopes(envelopes: Sequence[tuple[str, list[SensorReading]]], states: dict[str, SensorState],
                      ctx: SensorContext, remembered_since: float | None = None) -> SensorOutcome:
    """Apply several envelopes as one unit of exactly-once: one set of writes that claims every envelope id.

    This is where the hot path's speed comes from: a batch holds many readings of each sensor, so its
    windows, latest value and rule state are written once per sensor and bucket instead of once per
    reading (pre-aggregation), in one script. ``envelopes`` must not be empty; ``states`` is updated.

    ``remembered_since`` (epoch seconds) is how far back applied envelope ids are remembered
    (``CITYOPS_ENVELOPE_DEDUPE_TTL_S``, less the allowed lateness). A reading older than that which is
    not its sensor's newest could be a re-send whose mark has expired, so it goes to the dead letter as
    late instead of being counted a second time; a sensor's newest readings (a replay of an old file, in
    order) are never in doubt and always count.
    """
    first, *others = [eid for eid, _ in envelopes]
    out = SensorOutcome(Effects(first, claims=others))
    batch = _Batch(out, states, ctx, remembered_since)
    for _envelope_id, readings in envelopes:
        for r in sorted(readings, key=lambda r: (r.sensor_id, r.time)):
            batch.reading(r)
    batch.flush()
    return out


class _Batch:
    """The running pre-aggregation of one batch of readings, and the caches that keep a reading cheap.

    Readings of one gateway tick share a time, so local time, bucket names and the day/night limit
    are worked out once per distinct time, window keys once per sensor and hour.

    Window sums are floating point, and float addition depends on its order: adding a batch's
    pre-summed amounts would make the stored sums depend on where batches happened to split (a crash,
    a rebalance), and the exactly-once promise is about identical aggregates. So each window keeps its
    amounts in reading order and the script folds them one by one onto the stored sum (``HFOLD``): the
    same readings give the same bits, however they were batched.
    """

    MINUTES = [f"{m:02d}" for m in range(60)]

    def __init__(self, out: SensorOutcome, states: dict[str, SensorState], ctx: SensorContext,
                 remembered_since: float | None = None) -> None:
        self.out, self.states, self.ctx, self.remembered_since = out, states, ctx, remembered_since
        self.windows: dict[tuple[str, str], list] = {}  # (window key, bucket) → [n, amounts in order, max]
        self._keys: dict[tuple[str, str], tuple[str, str, str]] = {}  # (sensor, hour) → m, q, h window keys
        self.newest: dict[str, tuple[SensorReading, datetime]] = {}
        self.touched: set[str] = set()
        self._times: dict[datetime, tuple[datetime, str, str, str, str, str, float]] = {}
        self._limits: dict[tuple[str, str], float | None] = {}  # (sensor, local hour) → limit
        self._timing = {kind: (sustain_s(kind), clear_s(kind), HYSTERESIS[kind]) for kind in HYSTERESIS}

    def _local(self, t: datetime) -> tuple[datetime, str, str, str, str, str, float]:
        """(local time, day, hour, HH, MM, quarter HHMM, epoch seconds) of a reading time, once per time."""
        got = self._times.get(t)
        if got is None:
            local = t.astimezone(self.ctx.tz)
            hh, mm = self.MINUTES[local.hour], self.MINUTES[local.minute]
            got = self._times[t] = (local, keys.day_bucket(local), keys.hour_bucket(local), hh, mm,
                                    hh + self.MINUTES[local.minute // 15 * 15], t.timestamp())
        return got

    def reading(self, r: SensorReading) -> None:
        """One reading: lateness, the minute accumulator, newest value, the rule and any episode."""
        out, ctx = self.out, self.ctx
        sensor = ctx.sensors.get(r.sensor_id)
        if sensor is None:
            out.unknown.append(r)
            return
        self.touched.add(r.sensor_id)
        state = self.states.get(r.sensor_id)
        if state is None:
            state = self.states[r.sensor_id] = SensorState(r.sensor_id)
        last = state.last_time()
        if last is not None and (last - r.time).total_seconds() > ctx.max_lateness_s:
            behind = (last - r.time).total_seconds()
            out.late.append((r, f"reading of {r.sensor_id} at {r.time.isoformat()} is {behind / 3600:.1f} h "
                                f"behind its newest (allowed {ctx.max_lateness_s / 3600:g} h)"))
            return
        if state.offline_alert:  # it speaks again: the offline alert clears
            _clear(out.effects, state.offline_alert, r.time, {"type": "device_online", "sensor_id": r.sensor_id})
            out.effects.hset(keys.sensor(r.sensor_id), {"offline_alert": ""})
            state.offline_alert = ""
        local, day, hour, hh, minute, quarter, epoch = self._local(r.time)
        is_newest = last is None or r.time >= last
        if not is_newest and self.remembered_since is not None and epoch < self.remembered_since:
            out.late.append((r, f"reading of {r.sensor_id} at {r.time.isoformat()} is older than its newest and "
                                f"than the envelope dedupe window, so it may be a re-send: not counted again"))
            return
        value = r.value
        amount = energy(value) if sensor.kind == "noise" else value
        window_keys = self._keys.get((r.sensor_id, hour))
        if window_keys is None:
            window_keys = self._keys[(r.sensor_id, hour)] = (keys.sensor_window("m", r.sensor_id, hour),
                                                             keys.sensor_window("q", r.sensor_id, day),
                                                             keys.sensor_window("h", r.sensor_id, day))
        windows = self.windows
        for window in ((window_keys[0], minute), (window_keys[1], quarter), (window_keys[2], hh)):
            acc = windows.get(window)
            if acc is None:
                windows[window] = [1, [amount], value]
            else:
                acc[0] += 1
                acc[1].append(amount)
                if value > acc[2]:
                    acc[2] = value
        if is_newest:
            state.set_time(r.time)
            self.newest[r.sensor_id] = (r, local)
        judged = value
        if sensor.kind == "dust":
            bucket_id = day + quarter
            if state.quarter != bucket_id:
                state.quarter, state.quarter_n, state.quarter_s = bucket_id, 0, 0.0
            state.quarter_n += 1
            state.quarter_s += value
            judged = state.quarter_s / state.quarter_n
        if not is_newest:
            return
        limit_key = (sensor.id, hour)
        if limit_key in self._limits:
            limit = self._limits[limit_key]
        else:  # day and night limits change on the hour
            limit = self._limits[limit_key] = limit_for(sensor.kind, sensor.metric, sensor.site_kind,
                                                        sensor.zone_class, local)
        if limit is None:
            return
        change = step(state.rule, epoch, judged, limit, *self._timing[sensor.kind])
        if change is not None:
            _episode(out, sensor, change.kind, change.episode, judged, limit, r.time, ctx)

    def flush(self) -> None:
        """Write the batch: newest values, windows rolled up from the minutes, rule states."""
        eff = self.out.effects
        for sid, (r, local) in self.newest.items():
            eff.hset(keys.sensor(sid), {"value": r.value, "kind": r.kind.value, "metric": r.metric, "unit": r.unit,
                                        "time": local.isoformat(), "offline": 0})
            eff.zadd(keys.sensors_index(), r.time.timestamp(), sid)
        ttl = {"m": MINUTE_TTL, "q": QUARTER_TTL, "h": HOUR_TTL}
        expiring: dict[str, int] = {}
        for (key, bucket), (n, amounts, x) in self.windows.items():
            eff.hincrby(key, f"{bucket}:n", n).hfold(key, f"{bucket}:s", amounts).hmax(key, f"{bucket}:x", x)
            expiring[key] = ttl[key.split(":", 3)[2]]
        for key, seconds in expiring.items():
            eff.expire(key, seconds)
        for sid in sorted(self.touched):
            state = self.states[sid]
            eff.hset(keys.sensor(sid), {"phase": state.rule.phase, "since": state.rule.since,
                                        "episode": state.rule.episode, "peak": state.rule.peak,
                                        "quarter": state.quarter, "quarter_n": state.quarter_n,
                                        "quarter_s": state.quarter_s})
            eff.expire(keys.sensor(sid), keys.DAY * 7)


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
        CaseEvent(event_id=derived_id(case_id, "report"), action=CaseAction.REPORT, source=CaseSource.IOT_SENSOR,
                  category_code=category.code, lon=sensor.lon, lat=sensor.lat, grid_id=sensor.grid_code,
                  urgent=sensor.kind == "smoke", description=text, origin_ref=alert_id, **common),
        CaseEvent(event_id=derived_id(case_id, "register"), action=CaseAction.REGISTER, **common),
        CaseEvent(event_id=derived_id(case_id, "dispatch"), action=CaseAction.DISPATCH, department_id=department,
                  **common),
    ]
