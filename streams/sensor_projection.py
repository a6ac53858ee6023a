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
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import orjson

from cityops import keys
from cityops.catalogue import Catalogue
from cityops.city import CityModel
from cityops.devices import Sensor
from cityops.fast_envelope import ReadingColumns
from cityops.schemas import CaseAction, CaseEvent, CaseSource, SensorReading, derived_id
from cityops.settings import env_number
from streams.effects import Effects, Window
from streams.sensor_rules import NORMAL, RuleState, limit_for, step

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
    # id() of each set-aside reading (late, unknown) → index of the envelope it came in
    origin: dict[int, int] = field(default_factory=dict)


Readings = list[SensorReading] | ReadingColumns


def project_envelope(envelope_id: str, readings: Readings, states: dict[str, SensorState],
                     ctx: SensorContext) -> SensorOutcome:
    """Apply one envelope's readings (in time order per sensor); ``states`` is updated in place."""
    return project_envelopes([(envelope_id, readings)], states, ctx)


def project_envelopes(envelopes: Sequence[tuple[str, Readings]], states: dict[str, SensorState],
                      ctx: SensorContext, remembered_since: float | None = None) -> SensorOutcome:
    """Apply several envelopes as one unit of exactly-once: one set of writes that claims every envelope id.

    This is where the hot path's speed comes from: a batch holds many readings of each sensor, so its
    windows, latest value and rule state are written once per sensor and bucket instead of once per
    reading (pre-aggregation), in one script. ``envelopes`` must not be empty; ``states`` is updated.
    Readings come as reading objects or as columns (:class:`cityops.fast_envelope.ReadingColumns`).

    Readings are taken envelope by envelope, each envelope's in (sensor, time) order.

    ``remembered_since`` (epoch seconds) is how far back applied envelope ids are remembered
    (``CITYOPS_ENVELOPE_DEDUPE_TTL_S``, less the allowed lateness). A reading older than that which is
    not its sensor's newest could be a re-send whose mark has expired, so it goes to the dead letter as
    late instead of being counted a second time; a sensor's newest readings (a replay of an old file, in
    order) are never in doubt and always count.
    """
    first, *others = [eid for eid, _ in envelopes]
    out = SensorOutcome(Effects(first, claims=others))
    batch = _Batch(out, states, ctx, remembered_since)
    for index, (_envelope_id, readings) in enumerate(envelopes):
        columns = readings if isinstance(readings, ReadingColumns) else ReadingColumns.from_readings(readings)
        batch.envelope(index, columns)
    batch.flush()
    return out


def _order(sensor_ids: list[str], times: list[datetime]) -> list[int]:
    """Positions of an envelope's readings in (sensor, time) order, ties in arrival order.

    Sorting positions by sensor id alone is a C-level sort; the time only matters, and is only
    compared, when a sensor has more than one reading in the envelope.
    """
    positions = range(len(sensor_ids))
    if len(set(sensor_ids)) == len(sensor_ids):
        return sorted(positions, key=sensor_ids.__getitem__)
    return sorted(positions, key=lambda i: (sensor_ids[i], times[i]))


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


@dataclass(slots=True, frozen=True)
class _Minute:
    """One local minute's bucket names, shared by every time that falls in it."""

    day: str  # YYYYMMDD: the quarter-hour and hourly window keys
    hour: str  # YYYYMMDDHH: the minute window key
    hh: str  # hourly bucket
    mm: str  # minute bucket
    quarter: str  # HHMM of the quarter-hour bucket
    quarter_id: str  # day + quarter: which dust quarter-hour mean a reading belongs to


@dataclass(slots=True, frozen=True)
class _Time:
    """A reading time worked out once per distinct time: readings of a gateway tick share it."""

    micros: int  # exact microseconds since the epoch: lateness and "is it the newest" without rounding
    epoch: float  # epoch seconds as ``datetime.timestamp()`` gives them (rules, dedupe memory)
    local: datetime
    minute: _Minute


class _Slot:
    """One registered sensor in a batch: its static data looked up once and its running state.

    The readings' amounts and values are kept in order in two lists, and ``runs`` marks where each
    run of consecutive readings in one local minute starts, so that a reading costs two appends
    and the windows are rolled up from the runs at the end (see ``_Batch.windows``).
    """

    __slots__ = ("sensor", "state", "rule", "noise", "dust", "timing", "last", "newest", "amounts", "values",
                 "runs", "minute", "limit_hour", "limit")

    def __init__(self, sensor: Sensor, state: SensorState, timing: tuple[float, float, float]) -> None:
        self.sensor, self.state, self.rule, self.timing = sensor, state, state.rule, timing
        self.noise, self.dust = sensor.kind == "noise", sensor.kind == "dust"
        last = state.last_time()
        self.last: int | None = None if last is None else (last - _EPOCH) // _MICROSECOND
        self.newest: tuple[ReadingColumns, int, _Time] | None = None  # the newest reading of this batch
        self.amounts: list[float] = []  # window amounts (noise: energy) in reading order
        self.values: list[float] = []
        self.runs: list[tuple[_Minute, int]] = []  # (minute, index in amounts where its run starts)
        self.minute: _Minute | None = None
        self.limit_hour, self.limit = "", None  # the limit applies by local hour (day and night)

    def last_time(self) -> datetime | None:
        """The sensor's newest time so far (for the lateness message)."""
        if self.newest is not None:
            columns, i, _ = self.newest
            return columns.times[i]
        return self.state.last_time()


class _Batch:
    """The running pre-aggregation of one batch of readings, and the caches that keep a reading cheap.

    A sensor's registry data and state are looked up once per batch (:class:`_Slot`); a time's local
    time, epoch and bucket names once per distinct time (:class:`_Time`); the day/night limit once per
    sensor and hour.

    Window sums are floating point, and float addition depends on its order: adding a batch's
    pre-summed amounts would make the stored sums depend on where batches happened to split (a crash,
    a rebalance), and the exactly-once promise is about identical aggregates. So each window keeps its
    amounts in reading order and the script folds them one by one onto the stored sum (``WINDOWS``): the
    same readings give the same bits, however they were batched.
    """

    MINUTES = [f"{m:02d}" for m in range(60)]

    def __init__(self, out: SensorOutcome, states: dict[str, SensorState], ctx: SensorContext,
                 remembered_since: float | None = None) -> None:
        self.out, self.states, self.ctx, self.remembered_since = out, states, ctx, remembered_since
        self.slots: dict[str, _Slot | None] = {}  # None: not a registered sensor
        self.newest: list[_Slot] = []  # sensors with a newest reading, in the order they got one
        self._times: dict[datetime, _Time] = {}
        self._minutes: dict[str, _Minute] = {}
        self._timing = {kind: (sustain_s(kind), clear_s(kind), HYSTERESIS[kind]) for kind in HYSTERESIS}

    def _slot(self, sensor_id: str) -> _Slot | None:
        """The sensor's slot, made on its first reading in the batch; None for an unknown sensor."""
        sensor = self.ctx.sensors.get(sensor_id)
        slot = None
        if sensor is not None:
            state = self.states.get(sensor_id)
            if state is None:
                state = self.states[sensor_id] = SensorState(sensor_id)
            slot = _Slot(sensor, state, self._timing[sensor.kind])
        self.slots[sensor_id] = slot
        return slot

    def _time(self, t: datetime) -> _Time:
        """Local time, epoch and buckets of a reading time, worked out once per distinct time."""
        local = t.astimezone(self.ctx.tz)
        hour = keys.hour_bucket(local)
        hh, mm = self.MINUTES[local.hour], self.MINUTES[local.minute]
        minute = self._minutes.get(hour + mm)
        if minute is None:
            day, quarter = keys.day_bucket(local), hh + self.MINUTES[local.minute // 15 * 15]
            minute = self._minutes[hour + mm] = _Minute(day, hour, hh, mm, quarter, day + quarter)
        got = self._times[t] = _Time((t - _EPOCH) // _MICROSECOND, t.timestamp(), local, minute)
        return got

    def envelope(self, index: int, columns: ReadingColumns) -> None:
        """One envelope's readings: lateness, the window amounts, newest value, the rule and any episode.

        The common case (a registered sensor, a new reading, no rule change) is inline; the rest is in
        the methods it calls.
        """
        sensor_ids, values, times = columns.sensor_ids, columns.values, columns.times
        slots, time_of = self.slots, self._times
        max_lateness, remembered_since = self.ctx.max_lateness_s, self.remembered_since
        for i in _order(sensor_ids, times):
            sid = sensor_ids[i]
            slot = slots[sid] if sid in slots else self._slot(sid)
            if slot is None:
                self._set_aside(index, columns, i, None)
                continue
            t = times[i]
            at = time_of.get(t) or self._time(t)
            last = slot.last
            if last is not None and (last - at.micros) / 1_000_000 > max_lateness:  # as timedelta.total_seconds
                self._too_late(index, columns, i, slot)
                continue
            state = slot.state
            if state.offline_alert:  # it speaks again: the offline alert clears
                self._back_online(state, t)
            is_newest = last is None or at.micros >= last
            if not is_newest and remembered_since is not None and at.epoch < remembered_since:
                self._set_aside(index, columns, i, f"reading of {sid} at {t.isoformat()} is older than its newest "
                                                   f"and than the envelope dedupe window, so it may be a re-send: "
                                                   f"not counted again")
                continue
            value = values[i]
            minute = at.minute
            if minute is not slot.minute:
                slot.runs.append((minute, len(slot.amounts)))
                slot.minute = minute
            slot.amounts.append(10.0 ** (value / 10.0) if slot.noise else value)  # noise: energy(value)
            slot.values.append(value)
            judged = value
            if slot.dust:
                if state.quarter != minute.quarter_id:
                    state.quarter, state.quarter_n, state.quarter_s = minute.quarter_id, 0, 0.0
                state.quarter_n += 1
                state.quarter_s += value
                judged = state.quarter_s / state.quarter_n
            if not is_newest:
                continue
            if slot.newest is None:
                self.newest.append(slot)
            slot.newest, slot.last = (columns, i, at), at.micros
            if minute.hour != slot.limit_hour:  # day and night limits change on the hour
                sensor = slot.sensor
                slot.limit_hour = minute.hour
                slot.limit = limit_for(sensor.kind, sensor.metric, sensor.site_kind, sensor.zone_class, at.local)
            limit = slot.limit
            if limit is None or (slot.rule.phase == NORMAL and not judged > limit):  # step would change nothing
                continue
            change = step(slot.rule, at.epoch, judged, limit, *slot.timing)
            if change is not None:
                _episode(self.out, slot.sensor, change.kind, change.episode, judged, limit, t, self.ctx)

    def _set_aside(self, index: int, columns: ReadingColumns, i: int, reason: str | None) -> None:
        """A reading that is not counted: late (with its reason) or, without one, of an unknown sensor."""
        reading = columns.reading(i)
        self.out.origin[id(reading)] = index
        if reason is None:
            self.out.unknown.append(reading)
        else:
            self.out.late.append((reading, reason))

    def _too_late(self, index: int, columns: ReadingColumns, i: int, slot: _Slot) -> None:
        last, t = slot.last_time(), columns.times[i]
        behind = (last - t).total_seconds()
        self._set_aside(index, columns, i, f"reading of {columns.sensor_ids[i]} at {t.isoformat()} is "
                                           f"{behind / 3600:.1f} h behind its newest "
                                           f"(allowed {self.ctx.max_lateness_s / 3600:g} h)")

    def _back_online(self, state: SensorState, t: datetime) -> None:
        _clear(self.out.effects, state.offline_alert, t, {"type": "device_online", "sensor_id": state.sensor_id})
        self.out.effects.hset(keys.sensor(state.sensor_id), {"offline_alert": ""})
        state.offline_alert = ""

    def windows(self, slot: _Slot) -> list[tuple[str, list[Window]]]:
        """A sensor's window buckets as (key, [(bucket, count, runs, maximum)]), in the order first reached.

        Its readings are in ``slot.amounts`` in reading order, cut into runs of one local minute; a
        bucket's amounts are those of its runs, in order (runs as (first, last) positions from 1, the
        contiguous ones joined, so a bucket is usually one run).
        """
        sid, values = slot.sensor.id, slot.values
        names: dict[str, tuple[str, str, str]] = {}  # hour → minute, quarter-hour and hourly window keys
        buckets: dict[str, dict[str, list]] = {}  # key → bucket → [count, runs, maximum]
        ends = [start for _, start in slot.runs[1:]] + [len(values)]
        for (minute, start), end in zip(slot.runs, ends, strict=True):
            window_keys = names.get(minute.hour)
            if window_keys is None:
                window_keys = names[minute.hour] = (keys.sensor_window("m", sid, minute.hour),
                                                    keys.sensor_window("q", sid, minute.day),
                                                    keys.sensor_window("h", sid, minute.day))
            top = max(values[start:end])
            for key, bucket in zip(window_keys, (minute.mm, minute.quarter, minute.hh), strict=True):
                in_key = buckets.setdefault(key, {})
                acc = in_key.get(bucket)
                if acc is None:
                    in_key[bucket] = [end - start, [start + 1, end], top]
                    continue
                acc[0] += end - start
                runs = acc[1]
                if runs[-1] == start:  # continues the previous run
                    runs[-1] = end
                else:
                    runs += (start + 1, end)
                if top > acc[2]:  # the first of equal maxima stays, as reading by reading
                    acc[2] = top
        return [(key, [(bucket, n, runs, x) for bucket, (n, runs, x) in in_key.items()])
                for key, in_key in buckets.items()]

    def flush(self) -> None:
        """Write the batch: newest values, windows, rule states; one hash write per sensor."""
        eff = self.out.effects
        for slot in self.newest:
            columns, i, at = slot.newest  # type: ignore[misc]
            slot.state.set_time(columns.times[i])
            eff.zadd(keys.sensors_index(), at.epoch, slot.sensor.id)
        ttl = {"m": MINUTE_TTL, "q": QUARTER_TTL, "h": HOUR_TTL}
        for slot in self.slots.values():
            if slot is None or not slot.runs:
                continue
            windows = self.windows(slot)
            eff.windows(slot.amounts, windows)
            for key, _ in windows:
                eff.expire(key, ttl[key.split(":", 3)[2]])
        for sid in sorted(sid for sid, slot in self.slots.items() if slot is not None):
            slot = self.slots[sid]
            state = slot.state  # type: ignore[union-attr]
            fields: dict[str, object] = {}
            if slot.newest is not None:  # type: ignore[union-attr]
                columns, i, at = slot.newest  # type: ignore[union-attr]
                kind, metric, unit = columns.specs[i]
                fields |= {"value": columns.values[i], "kind": kind.value, "metric": metric, "unit": unit,
                           "time": at.local.isoformat(), "offline": 0}
            fields |= {"phase": state.rule.phase, "since": state.rule.since, "episode": state.rule.episode,
                       "peak": state.rule.peak, "quarter": state.quarter, "quarter_n": state.quarter_n,
                       "quarter_s": state.quarter_s}
            eff.hset_fields(keys.sensor(sid), fields)
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
