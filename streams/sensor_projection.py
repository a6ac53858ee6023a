"""Sensor readings → latest value, 1-min/15-min/hourly windows, rule state, alerts and IoT cases.

Pure: readings of one envelope plus the current state of their sensors in, effects and the cases to
open out. The unit of exactly-once is the envelope (its id is claimed with its writes), and readings
of one sensor always arrive on one partition (envelopes are keyed by gateway), so the rule state
read at the start of a batch is the state to continue from.

Windows keep, per bucket, the reading count ``n``, the sum ``s`` (of the values; for a kind whose spec
aggregates as ``energy``, noise, the *energy* sum Σ10^(L/10), so LAeq = 10·log10(s/n)) and the maximum ``x``
(noise: LAmax):

- ``co:win:m:{YYYYMMDDHH}:{sensor}``: 1-minute buckets of the last hours (kept 2 hours)
- ``co:win:q:{YYYYMMDD}:{sensor}``: 15-minute buckets (kept 3 days)
- ``co:win:h:{YYYYMMDD}:{sensor}``: hourly buckets (kept 14 days)

Rules (see :mod:`streams.sensor_rules`): what a kind judges (each reading, or the rolling mean of its last
``window_min`` minutes: noise's 20-minute LAeq, dust's 15-minute or hourly PM10 mean), its limits by site,
zone class and hour, its sustain, clear and hysteresis, the case category and severity of its episodes (by
the limit that applies: a construction site's 施工噪声, a road-side zone's 交通噪声) and the night-maximum
rule (noise) all come from the kind's spec (:mod:`cityops.sensor_kinds`), looked up once per batch and
sensor, never per reading. The rolling window's per-minute buckets and both rules' states are kept in the
sensor's hash (``roll``; ``phase``…; ``mx_phase``…). Each firing is an *episode*: one alert and one case
(source 物联感知) dispatched by the responsibility map; its id derives from the sensor and the episode
number (shared by the sensor's rules), so a re-sent envelope can never open a second case.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache, reduce
from operator import add
from zoneinfo import ZoneInfo

from cityops import keys, sensor_kinds
from cityops.alerts import Alert, Severity, cleared_fields
from cityops.catalogue import Catalogue
from cityops.city import CityModel
from cityops.devices import Sensor
from cityops.fast_envelope import ReadingColumns
from cityops.schemas import CaseAction, CaseEvent, CaseSource, SensorReading, derived_id
from streams.effects import Effects, Window
from streams.sensor_rules import NORMAL, PENDING, Rolling, RuleState, is_low, shared_episode, step

MINUTE_TTL, QUARTER_TTL, HOUR_TTL = 2 * 3600, 3 * keys.DAY, 14 * keys.DAY

WINDOW_KINDS = ("m", "q", "h")  # minute, quarter-hour, hour
#: Sensor hash fields that point at the bucket of the newest reading in each window, as "key bucket".
POINTER_FIELDS = {kind: f"win_{kind}" for kind in WINDOW_KINDS}


@dataclass(slots=True)
class Running:
    """A window's bucket of a sensor's newest reading, and what it holds.

    Why: readings come in time order, so nearly all of a batch's readings go to these buckets or to
    newer ones, which are empty (nothing is ever written after the newest reading's bucket). Knowing
    the stored count, sum and maximum, the projection folds the amounts itself, in reading order, and
    writes the results; only readings for older buckets (late ones) are folded by the script.
    """

    key: str
    bucket: str
    order: str  # the key's hour or day and the bucket: compares as time does
    n: int = 0
    s: float = 0.0
    x: float | None = None

    @classmethod
    def from_stored(cls, pointer: str, stored: Sequence[str | None]) -> Running:
        """From a pointer ("key bucket") and the bucket's stored n, s and x (None where missing)."""
        key, bucket = pointer.split(" ")
        n, s, x = stored
        return cls(key, bucket, keys.window_period(key) + bucket, int(n or 0), float(s or 0.0),
                   None if x is None else float(x))


@dataclass
class SensorState:
    """What the projection keeps of a sensor between readings; mirrors ``co:sensor:{id}``."""

    sensor_id: str
    stored_time: str = ""  # ISO time of the newest reading, as stored
    rule: RuleState = field(default_factory=RuleState)
    roll: Rolling = field(default_factory=Rolling)  # the rolling window's per-minute buckets (judged = "window")
    night: RuleState = field(default_factory=RuleState)  # the night-maximum rule (noise)
    offline_alert: str = ""  # the device-offline alert raised while the sensor was silent, if any
    # Per window kind, the newest reading's bucket with what it holds; None: not known (a new sensor, or
    # state kept before pointers existed), and then the script folds every amount (see Running).
    running: dict[str, Running | None] = field(default_factory=lambda: dict.fromkeys(WINDOW_KINDS))
    # What the hash holds, so that a write leaves out what has not changed: its fields as text, the rule
    # and the rolling window as values (None: not stored yet), the minute the window pointers name.
    stored: dict[str, str] = field(default_factory=dict, repr=False, compare=False)
    stored_rule: tuple | None = field(default=None, repr=False, compare=False)
    stored_night: tuple | None = field(default=None, repr=False, compare=False)
    stored_roll: str | None = field(default=None, repr=False, compare=False)
    pointed: str = field(default="", repr=False, compare=False)
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
    def from_hash(cls, sensor_id: str, data: Mapping[str, str],
                  buckets: Mapping[str, Sequence[str | None]] | None = None) -> SensorState:
        """From the sensor hash and, per window kind, the stored (n, s, x) of the bucket its pointer names.

        A hash written before rolling windows (with ``quarter``, ``quarter_n``, ``quarter_s``: the old
        restarted quarter-hour mean) loads as well: its rule state and episode count carry on, the old mean is
        not read (it cannot be split into minutes) and the window fills again from the next readings.
        """
        rule = RuleState(data.get("phase", "normal"), float(data.get("since", 0) or 0),
                         int(data.get("episode", 0) or 0), float(data.get("peak", 0) or 0))
        night = RuleState(data.get("mx_phase", "normal"), float(data.get("mx_since", 0) or 0),
                          int(data.get("mx_episode", 0) or 0), float(data.get("mx_peak", 0) or 0))
        running: dict[str, Running | None] = dict.fromkeys(WINDOW_KINDS)
        for kind, name in POINTER_FIELDS.items():
            pointer = data.get(name)
            if pointer and buckets is not None and kind in buckets:
                running[kind] = Running.from_stored(pointer, buckets[kind])
        state = cls(sensor_id, data.get("time", ""), rule, Rolling.from_text(data.get("roll", "")), night,
                    data.get("offline_alert", ""), running, dict(data))
        if "phase" in data:
            state.stored_rule = (rule.phase, rule.since, rule.episode, rule.peak)
        if "mx_phase" in data:
            state.stored_night = (night.phase, night.since, night.episode, night.peak)
        if "roll" in data:
            state.stored_roll = data["roll"]
        return state


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
    # per window kind (m, q, h): the key's period, the bucket and its place in time (Running.order)
    buckets: tuple[tuple[str, str, str], tuple[str, str, str], tuple[str, str, str]]


@dataclass(slots=True, frozen=True)
class _Time:
    """A reading time worked out once per distinct time: readings of a gateway tick share it."""

    micros: int  # exact microseconds since the epoch: lateness and "is it the newest" without rounding
    minute_no: int  # whole minutes since the epoch: the rolling window's bucket
    epoch: float  # epoch seconds as ``datetime.timestamp()`` gives them (rules, dedupe memory)
    local: datetime
    minute: _Minute


class _Slot:
    """One registered sensor in a batch: its static data looked up once and its running state.

    The readings' amounts and values are kept in order in two lists, and ``runs`` marks where each
    run of consecutive readings in one local minute starts, so that a reading costs two appends
    and the windows are rolled up from the runs at the end (see ``_Batch.windows``).
    """

    __slots__ = ("sensor", "spec", "limits", "state", "rule", "energy", "width", "need", "span", "category",
                 "night_max", "timing", "last", "newest", "amounts", "values", "runs", "minute", "limit_hour", "low",
                 "limit", "start", "night_limit", "amount_band")

    def __init__(self, sensor: Sensor, state: SensorState, spec: sensor_kinds.KindSpec,
                 timing: tuple[float, float, float], judging: tuple[sensor_kinds.Limit | None, int, str]) -> None:
        self.sensor, self.spec, self.state, self.rule, self.timing = sensor, spec, state, state.rule, timing
        # from the kind's spec, once per sensor and batch: windows sum energy (dB); the limit that applies, its
        # rolling window (minutes; 0: each reading is judged) and the category its episodes open (_Batch.judging)
        self.energy = spec.aggregation == "energy"
        self.limits, self.width, self.category = judging
        self.span = max(1.0, sensor.interval_s / 60.0)  # minutes one reading stands for
        self.need = spec.min_coverage * self.width  # minutes of data before the window's mean counts
        self.night_max = spec.night_max
        self.start, self.night_limit = 0, math.inf  # the window's first minute (its period's), the night-max limit
        self.amount_band = (-math.inf, math.inf)  # the band in window amounts (noise: energies), a hair narrower
        last = state.last_time()
        self.last: int | None = None if last is None else (last - _EPOCH) // _MICROSECOND
        self.newest: tuple[ReadingColumns, int, _Time] | None = None  # the newest reading of this batch
        self.amounts: list[float] = []  # window amounts (noise: energy) in reading order
        self.values: list[float] = []
        self.runs: list[tuple[_Minute, int]] = []  # (minute, index in amounts where its run starts)
        self.minute: _Minute | None = None
        self.limit_hour, self.low, self.limit = "", -math.inf, math.inf  # limits apply by local hour (day, night)

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
    amounts in reading order and they are added one by one onto the stored sum: here for the buckets
    whose stored sums the state carries (:class:`Running`), by the script for the others (``WINDOWS``).
    The same readings give the same bits, however they were batched.
    """

    MINUTES = [f"{m:02d}" for m in range(60)]

    def __init__(self, out: SensorOutcome, states: dict[str, SensorState], ctx: SensorContext,
                 remembered_since: float | None = None) -> None:
        self.out, self.states, self.ctx, self.remembered_since = out, states, ctx, remembered_since
        self.slots: dict[str, _Slot | None] = {}  # None: not a registered sensor
        self.newest: list[_Slot] = []  # sensors with a newest reading, in the order they got one
        self._times: dict[datetime, _Time] = {}
        self._minutes: dict[str, _Minute] = {}
        self._specs = sensor_kinds.kinds()
        self._timing = {kind: spec.timing() for kind, spec in self._specs.items()}
        self._judged: dict[tuple[str, str, str, str], tuple[sensor_kinds.Limit | None, int, str]] = {}
        # With summer time, a local bucket can come round twice, and "newer than the newest reading's
        # bucket" no longer means "empty": then every bucket is folded by the script (see windows).
        self.running_known = _no_summer_time(ctx.tz)

    def _slot(self, sensor_id: str) -> _Slot | None:
        """The sensor's slot, made on its first reading in the batch; None for an unknown sensor."""
        sensor = self.ctx.sensors.get(sensor_id)
        slot = None
        if sensor is not None:
            state = self.states.get(sensor_id)
            if state is None:
                state = self.states[sensor_id] = SensorState(sensor_id)
            slot = _Slot(sensor, state, self._specs[sensor.kind], self._timing[sensor.kind], self._judging(sensor))
        self.slots[sensor_id] = slot
        return slot

    def _judging(self, sensor: Sensor) -> tuple[sensor_kinds.Limit | None, int, str]:
        """The limit that applies to the sensor, its window's minutes (0: none; no limit: nothing to judge) and
        the category its episodes open, once per batch and (kind, metric, site kind, zone class)."""
        key = (sensor.kind, sensor.metric, sensor.site_kind, sensor.zone_class)
        got = self._judged.get(key)
        if got is None:
            spec = self._specs[sensor.kind]
            limits = spec.rule(sensor.metric, sensor.site_kind, sensor.zone_class)
            code = spec.category_of(limits)  # a city whose catalogue lacks the zone's category: the kind's
            got = self._judged[key] = (limits, spec.window_of(limits) if limits is not None else 0,
                                       code if code in self.ctx.catalogue else spec.case_category)
        return got

    def _time(self, t: datetime) -> _Time:
        """Local time, epoch and buckets of a reading time, worked out once per distinct time."""
        local = t.astimezone(self.ctx.tz)
        hour = keys.hour_bucket(local)
        hh, mm = self.MINUTES[local.hour], self.MINUTES[local.minute]
        minute = self._minutes.get(hour + mm)
        if minute is None:
            day, quarter = keys.day_bucket(local), hh + self.MINUTES[local.minute // 15 * 15]
            minute = self._minutes[hour + mm] = _Minute(day, hour, hh, mm, quarter, (
                (hour, mm, hour + mm), (day, quarter, day + quarter), (day, hh, day + hh)))
        micros = (t - _EPOCH) // _MICROSECOND
        got = self._times[t] = _Time(micros, micros // 60_000_000, t.timestamp(), local, minute)
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
            amount = 10.0 ** (value / 10.0) if slot.energy else value  # noise: energy(value)
            slot.amounts.append(amount)
            slot.values.append(value)
            if slot.width:  # the rolling window takes late readings too, while their minute is in it
                roll = state.roll
                bucket = roll.buckets.get(at.minute_no) if is_newest else None
                if bucket is None:
                    roll.add(at.minute_no, amount, at.minute_no if is_newest else last // 60_000_000, slot.width)
                else:  # the newest minute again (Rolling.add, inline: the common case of frequent readings)
                    bucket[0] += 1
                    bucket[1] += amount
                    mean = bucket[2] = bucket[1] / bucket[0]
                    bucket[3] = None
                    if mean > roll.hi:
                        roll.hi = mean
                    if mean < roll.lo:
                        roll.lo = mean
            if not is_newest:
                continue
            if slot.newest is None:
                self.newest.append(slot)
            slot.newest, slot.last = (columns, i, at), at.micros
            if minute.hour != slot.limit_hour:  # day and night limits (and periods) change on the hour
                self._limits(slot, minute.hour, at.local)
            judged = value
            if slot.width and slot.rule.phase == NORMAL and slot.amount_band[0] <= state.roll.lo \
                    and state.roll.hi <= slot.amount_band[1]:  # Rolling's bounds
                judged = math.nan  # every minute of the window is within the band: so is its mean
            elif slot.width:
                judged, complete = state.roll.level(at.minute_no, slot.width, slot.start, slot.need, slot.span,
                                                    slot.energy)  # type: ignore[misc]
                if not complete and not judged > slot.limit:  # too little data to say it is inside: wait
                    judged = math.nan
            if slot.night_max is not None and (state.night.phase != NORMAL or value > slot.night_limit):
                self._night_max(slot, value, at, t)
            if judged != judged or (slot.rule.phase == NORMAL and slot.low <= judged <= slot.limit):
                continue  # undetermined (nan), or step would change nothing
            if slot.night_max is not None and slot.rule.phase in (NORMAL, PENDING):
                slot.rule.episode = shared_episode((slot.rule, state.night))
            change = step(slot.rule, at.epoch, judged, slot.limit, *slot.timing, slot.low)
            if change is not None:
                low = is_low(slot.rule, slot.low)
                metric = f"{slot.sensor.metric.upper()},{slot.width}min" if slot.width else slot.sensor.metric.upper()
                _episode(self.out, slot.sensor, change.kind, change.episode, judged,
                         slot.low if low else slot.limit, low, t, self.ctx, slot.category, metric)

    def _limits(self, slot: _Slot, hour: str, local: datetime) -> None:
        """The sensor's band, night-maximum limit and window start for this local hour (once per sensor and hour)."""
        slot.limit_hour = hour
        slot.low, slot.limit = slot.spec.band_of(slot.limits, local)
        sensor = slot.sensor
        slot.night_limit = slot.spec.night_max_limit(sensor.site_kind, sensor.zone_class, local)
        if slot.width and slot.spec.window_in_period:
            slot.start = int(slot.spec.period_start(local).timestamp()) // 60
        if slot.width:  # a hair inside, so that rounding in the dB conversion can never make "within" wrong
            low, high = (10.0 ** (b / 10.0) for b in (slot.low, slot.limit)) if slot.energy else (slot.low, slot.limit)
            slot.amount_band = (low + abs(low) * 1e-9 if math.isfinite(low) else low,
                                high - abs(high) * 1e-9 if math.isfinite(high) else high)

    def _night_max(self, slot: _Slot, value: float, at: _Time, t: datetime) -> None:
        """The night-maximum rule on one (newest) reading: above the night limit plus its margin, at night."""
        night, nm = slot.state.night, slot.night_max
        if night.phase in (NORMAL, PENDING):
            night.episode = shared_episode((slot.rule, night))
        change = step(night, at.epoch, value, slot.night_limit, nm.sustain_s, nm.clear_s,  # type: ignore[union-attr]
                      slot.spec.hysteresis)
        if change is not None:
            _episode(self.out, slot.sensor, change.kind, change.episode, value, slot.night_limit, False, t, self.ctx,
                     slot.category, nm.metric_label.upper(), alert_metric=nm.metric_label)  # type: ignore[union-attr]

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
        _clear(self.out.effects, Alert.device_online(alert_id=state.offline_alert, sensor_id=state.sensor_id, at=t))
        self.out.effects.hset(keys.sensor(state.sensor_id), {"offline_alert": ""})
        state.offline_alert = ""

    def windows(self, slot: _Slot) -> tuple[dict[str, list[str]], list[tuple[str, list[Window]]]]:
        """A sensor's window writes: (fields to set per key, buckets to fold per key).

        Its readings are in ``slot.amounts`` in reading order, cut into runs of one local minute. A
        bucket that is the newest reading's stored bucket (``state.running``) or newer gets its count,
        sum and maximum worked out here, the amounts added one by one in reading order onto the stored
        sum, and written as they are. Any other bucket (a late reading's, or any bucket of a window
        whose newest bucket is not known) is left to the script's fold, as (bucket, count, runs,
        maximum), runs being (first, last) positions in ``amounts`` from 1. Either way a sum takes the
        same amounts in the same order, so it has the same bits however batches split. The state's
        running buckets move on to the newest reading's.
        """
        state, runs = slot.state, slot.runs
        ends = [start for _, start in runs[1:]] + [len(slot.values)]
        tops = [max(slot.values[start:end]) for (_, start), end in zip(runs, ends, strict=True)]
        running = state.running if self.running_known else dict.fromkeys(WINDOW_KINDS)
        minutes = [minute.buckets[0][2] for minute, _ in runs]  # their places in time
        if (all(r is not None for r in running.values()) and minutes[0] >= running["m"].order  # type: ignore[union-attr]
                and all(a < b for a, b in zip(minutes, minutes[1:], strict=False))):
            return self._windows_in_order(slot, ends, tops), []
        return self._windows_any_order(slot, ends, tops, running)

    def _windows_in_order(self, slot: _Slot, ends: list[int], tops: list[float]) -> dict[str, list[str]]:
        """The common case: every run in a later minute than the one before, none before the newest bucket.

        Then each window's buckets come one after the other: fold each run onto the current bucket,
        start a new (empty) one when the bucket changes, and the last one is the new running bucket.
        """
        sid, amounts, state = slot.sensor.id, slot.amounts, slot.state
        fields: dict[str, list[str]] = {}
        for k, kind in enumerate(WINDOW_KINDS):
            current: Running = state.running[kind]  # type: ignore[assignment]
            touched = False
            for ((minute, start), end, top) in zip(slot.runs, ends, tops, strict=True):
                period, bucket, order = minute.buckets[k]
                if order != current.order:
                    if touched:
                        _emit(fields, current)
                    current = Running(keys.sensor_window(kind, sid, period), bucket, order)
                current.n += end - start
                current.s = reduce(add, amounts[start:end], current.s)  # a left fold, like the script's
                if current.x is None or top > current.x:
                    current.x = top
                touched = True
            _emit(fields, current)
            state.running[kind] = current
        return fields

    def _windows_any_order(self, slot: _Slot, ends: list[int], tops: list[float], running: dict[str, Running | None],
                           ) -> tuple[dict[str, list[str]], list[tuple[str, list[Window]]]]:
        """Readings out of order or a window's newest bucket not known: each bucket on its own (see windows)."""
        sid, amounts, state = slot.sensor.id, slot.amounts, slot.state
        fields: dict[str, list[str]] = {}
        folds: dict[str, list[Window]] = {}
        newest = slot.newest[2].minute if slot.newest is not None else None
        for k, kind in enumerate(WINDOW_KINDS):
            buckets: dict[str, list] = {}  # order → [key, bucket, count, runs, maximum]
            for ((minute, start), end, top) in zip(slot.runs, ends, tops, strict=True):
                period, bucket, order = minute.buckets[k]
                acc = buckets.get(order)
                if acc is None:
                    buckets[order] = [keys.sensor_window(kind, sid, period), bucket, end - start, [start + 1, end], top]
                    continue
                acc[2] += end - start
                runs = acc[3]
                if runs[-1] == start:  # continues the previous run
                    runs[-1] = end
                else:
                    runs += (start + 1, end)
                if top > acc[4]:  # the first of equal maxima stays, as reading by reading
                    acc[4] = top
            current = running[kind]
            totals: dict[str, Running] = {}
            for order, (key, bucket, n, runs, top) in buckets.items():
                if current is None or order < current.order:
                    folds.setdefault(key, []).append((bucket, n, runs, top))
                    continue
                base = current if order == current.order else Running(key, bucket, order)
                total = Running(key, bucket, order, base.n + n, base.s, base.x)
                for first, last in zip(runs[::2], runs[1::2], strict=True):
                    total.s = reduce(add, amounts[first - 1:last], total.s)
                if total.x is None or top > total.x:
                    total.x = top
                totals[order] = total
                _emit(fields, total)
            if current is not None:  # the newest reading's bucket, or the same one with what came in now
                state.running[kind] = totals.get(newest.buckets[k][2] if newest is not None else current.order,
                                                 current)
        return fields, list(folds.items())

    def flush(self) -> None:
        """Write the batch: newest values, windows, rule states; one hash write per sensor and window key,
        each with only the fields that changed."""
        eff = self.out.effects
        scores: list[str] = []
        for slot in self.newest:
            columns, i, at = slot.newest  # type: ignore[misc]
            slot.state.set_time(columns.times[i])
            scores += (repr(at.epoch), slot.sensor.id)
        if scores:
            eff.zadd_many(keys.sensors_index(), scores)
        ttl = {"m": MINUTE_TTL, "q": QUARTER_TTL, "h": HOUR_TTL}
        for slot in self.slots.values():
            if slot is None or not slot.runs:
                continue
            fields, folds = self.windows(slot)
            for key, flat in fields.items():
                eff.hset_flat(key, flat, ttl[key.split(":", 3)[2]])
            if folds:
                eff.windows(slot.amounts, folds)
                for key, _ in folds:
                    eff.expire(key, ttl[key.split(":", 3)[2]])
        for sid in sorted(sid for sid, slot in self.slots.items() if slot is not None):
            slot = self.slots[sid]
            eff.hset_flat(keys.sensor(sid), _changed_fields(slot), keys.DAY * 7)  # type: ignore[arg-type]


def _emit(fields: dict[str, list[str]], bucket: Running) -> None:
    """A bucket's count, sum and maximum as fields to set (sums as the script writes them: %.17g)."""
    fields.setdefault(bucket.key, []).extend((f"{bucket.bucket}:n", str(bucket.n), f"{bucket.bucket}:s",
                                              f"{bucket.s:.17g}", f"{bucket.bucket}:x", repr(bucket.x)))


def _changed_fields(slot: _Slot) -> list[str]:
    """The sensor hash's fields to write after a batch, as [field, value, ...]: the newest reading's, the
    rules' and the rolling window's, each left out when it is what the hash already holds."""
    state, stored = slot.state, slot.state.stored
    flat: list[str] = []
    if slot.newest is not None:
        columns, i, at = slot.newest
        flat += ("value", repr(columns.values[i]), "time", at.local.isoformat())
        kind, metric, unit = columns.specs[i]
        for name, value in (("kind", kind.value), ("metric", metric), ("unit", unit), ("offline", "0")):
            if stored.get(name) != value:
                flat += (name, value)
                stored[name] = value
        if at.minute.buckets[0][2] != state.pointed:  # the newest reading is in another minute
            state.pointed = at.minute.buckets[0][2]
            for name, value in _pointers(slot.sensor.id, at.minute).items():
                if stored.get(name) != value:
                    flat += (name, value)
                    stored[name] = value
    rule = state.rule
    now = (rule.phase, rule.since, rule.episode, rule.peak)
    if now != state.stored_rule:
        state.stored_rule = now
        flat += ("phase", rule.phase, "since", repr(rule.since), "episode", str(rule.episode), "peak", repr(rule.peak))
    night = state.night
    now = (night.phase, night.since, night.episode, night.peak)
    if slot.night_max is not None and now != state.stored_night:
        state.stored_night = now
        flat += ("mx_phase", night.phase, "mx_since", repr(night.since), "mx_episode", str(night.episode),
                 "mx_peak", repr(night.peak))
    if slot.width and slot.last is not None:
        state.roll.trim(slot.last // 60_000_000, slot.width)
        roll = state.roll.to_text()
        if roll != state.stored_roll:
            state.stored_roll = roll
            flat += ("roll", roll)
    return flat


@lru_cache(maxsize=8)
def _no_summer_time(tz: ZoneInfo) -> bool:
    """Whether local time keeps one offset all year (China's does), so local buckets follow real time."""
    year = datetime.now(UTC).year
    return datetime(year, 1, 1, tzinfo=tz).utcoffset() == datetime(year, 7, 1, tzinfo=tz).utcoffset()


def _pointers(sensor_id: str, minute: _Minute) -> dict[str, str]:
    """The sensor hash's pointers ("key bucket") to the buckets of a newest reading in that minute."""
    return {POINTER_FIELDS["m"]: f"{keys.sensor_window('m', sensor_id, minute.hour)} {minute.mm}",
            POINTER_FIELDS["q"]: f"{keys.sensor_window('q', sensor_id, minute.day)} {minute.quarter}",
            POINTER_FIELDS["h"]: f"{keys.sensor_window('h', sensor_id, minute.day)} {minute.hh}"}


def _episode(out: SensorOutcome, sensor: Sensor, kind: str, episode: int, value: float, limit: float, low: bool,
             at: datetime, ctx: SensorContext, category: str, label: str, alert_metric: str | None = None) -> None:
    """An episode fired or cleared: its alert and, when it fires, its case, filed under ``category``; ``limit``
    is the one crossed (``low``: the lower one), ``label`` what was judged (as the case text shows it)."""
    spec = sensor_kinds.spec(sensor.kind)
    case_id = f"IOT-{sensor.id}-{episode}"
    eff = out.effects
    if kind == "fired":
        alert = Alert.sensor_exceedance(
            sensor_id=sensor.id, sensor_kind=sensor.kind, episode=episode, severity=Severity(spec.severity),
            metric=alert_metric or sensor.metric, value=value, limit=limit, unit=sensor.unit, at=at, case_id=case_id,
            grid=sensor.grid_code, district=ctx.city.grids[sensor.grid_code].district_code, lon=sensor.lon,
            lat=sensor.lat, name_zh=sensor.name_zh)
        eff.hset(keys.alert(alert.id), alert.to_hash())
        eff.expire(keys.alert(alert.id), 400 * keys.DAY)
        eff.zadd(keys.active_alerts(), at.timestamp(), alert.id)
        eff.xadd(keys.alerts(), keys.ALERTS_MAXLEN, alert.to_json())
        out.cases.extend(_case_events(sensor, spec, case_id, alert.id, value, limit, low, at, ctx, category, label))
    else:
        _clear(eff, Alert.sensor_cleared(sensor_id=sensor.id, sensor_kind=sensor.kind, episode=episode,
                                         case_id=case_id, at=at))


def _clear(eff: Effects, clearing: Alert) -> None:
    """Write a clearing entry and end the alert it names (its hash and its place among the active ones)."""
    eff.hset(keys.alert(clearing.id), cleared_fields(clearing.at.isoformat()))
    eff.zrem(keys.active_alerts(), clearing.id)
    eff.xadd(keys.alerts(), keys.ALERTS_MAXLEN, clearing.to_json())


def _case_events(sensor: Sensor, spec: sensor_kinds.KindSpec, case_id: str, alert_id: str, value: float,
                 limit: float, low: bool, at: datetime, ctx: SensorContext, code: str, label: str) -> list[CaseEvent]:
    """Report, register and dispatch of the one case an episode opens (ids fixed by the episode), filed under
    the category of the limit that applies (:meth:`cityops.sensor_kinds.KindSpec.category_of`)."""
    category = ctx.catalogue.get(code)
    department = ctx.city.responsible_department(category.owner_role, sensor.grid_code)
    crossed = "低于限值" if low else "超过限值"
    text = f"{sensor.name_zh}: {label} {value:.1f} {sensor.unit} {crossed} {limit:g}"
    common = {"case_id": case_id, "event_time": at, "actor": "物联感知平台"}
    return [
        CaseEvent(event_id=derived_id(case_id, "report"), action=CaseAction.REPORT, source=CaseSource.IOT_SENSOR,
                  category_code=category.code, lon=sensor.lon, lat=sensor.lat, grid_id=sensor.grid_code,
                  urgent=spec.urgent, description=text, origin_ref=alert_id, **common),
        CaseEvent(event_id=derived_id(case_id, "register"), action=CaseAction.REGISTER, **common),
        CaseEvent(event_id=derived_id(case_id, "dispatch"), action=CaseAction.DISPATCH, department_id=department,
                  **common),
    ]
