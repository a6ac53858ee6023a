"""A fast decoder for the canonical form of a gateway envelope, in front of the pydantic contract.

Why: sensor envelopes are the platform's hot path (hundreds of thousands of readings a second), and
building a validated pydantic model per reading costs more than everything else the worker does
with it. Gateways send one canonical form, so this decoder checks exactly that form with plain
Python in one loop per envelope (sharing each time string's parse across a batch's readings) and
returns the readings as columns (:class:`ReadingColumns`), or as light :class:`Reading` objects.

Why it cannot weaken the contract: it accepts a *subset* of what :func:`cityops.schemas.
decode_sensor_envelope` accepts — every check here is at least as strict as the model's — and
answers ``None`` for anything else, which then goes through the pydantic path for the authoritative
verdict and the per-reading reasons. ``tests/test_fast_envelope.py`` checks the two agree.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from cityops.schemas import (
    EARLIEST_EVENT_TIME,
    MAX_CLOCK_SKEW,
    MAX_MESSAGE_BYTES,
    SENSOR_RULES,
    SensorKind,
)

_ID = re.compile(r"[A-Za-z0-9_.:@/+-]{1,128}")
_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}:\d{2})")
_ENVELOPE_KEYS = frozenset({"v", "envelope_id", "gateway_id", "sent_at", "readings"})
_READING_KEYS = frozenset({"sensor_id", "kind", "metric", "value", "unit", "time"})


@dataclass(slots=True, frozen=True)
class Reading:
    """One validated reading: the attributes of :class:`cityops.schemas.SensorReading`, without the model."""

    sensor_id: str
    kind: SensorKind
    metric: str
    value: float
    unit: str
    time: datetime

    def model_dump(self, mode: str = "json") -> dict[str, Any]:
        """The reading as JSON-ready data (for dead letters), like the pydantic model's."""
        return {"sensor_id": self.sensor_id, "kind": self.kind.value, "metric": self.metric, "value": self.value,
                "unit": self.unit, "time": self.time.isoformat()}


@dataclass(slots=True, frozen=True)
class FastEnvelope:
    envelope_id: str
    gateway_id: str
    sent_at: datetime


Spec = tuple[SensorKind, str, str]  # (kind, metric, unit) of a reading, the metric's default filled in


@dataclass(slots=True)
class ReadingColumns:
    """An envelope's valid readings as parallel lists, one entry per reading.

    Why columns: the projection reads a reading's sensor, value and time, and only a sensor's newest
    reading (or a refused one) is ever needed whole, so building an object per reading would be most
    of the decoding cost. ``specs`` holds one shared tuple per (kind, metric, unit) combination.
    ``source``, when the columns were built from reading objects, keeps those objects so that a
    refused reading is handed back as the very object that came in.
    """

    sensor_ids: list[str]
    values: list[float]
    times: list[datetime]
    specs: list[Spec]
    source: list[Any] | None = None

    def __len__(self) -> int:
        return len(self.sensor_ids)

    def reading(self, i: int) -> Any:  # noqa: ANN401 - a Reading, or the SensorReading it was built from
        """Reading ``i`` as an object with the attributes of :class:`cityops.schemas.SensorReading`."""
        if self.source is not None:
            return self.source[i]
        kind, metric, unit = self.specs[i]
        return Reading(self.sensor_ids[i], kind, metric, self.values[i], unit, self.times[i])

    def readings(self) -> list[Any]:
        return [self.reading(i) for i in range(len(self.sensor_ids))]

    @classmethod
    def from_readings(cls, readings: Sequence[Any]) -> ReadingColumns:
        """Columns of already validated reading objects (the pydantic path, tests)."""
        return cls([r.sensor_id for r in readings], [r.value for r in readings], [r.time for r in readings],
                   [(r.kind, r.metric, r.unit) for r in readings], list(readings))


def _spec_table() -> dict[tuple[object, object, object], tuple[Spec, float, float, bool]]:
    """(kind, metric as sent, unit) → (spec, lowest, highest, smoke) for every valid combination.

    A metric left out (or null) means the kind's default metric, as in the contract.
    """
    table: dict[tuple[object, object, object], tuple[Spec, float, float, bool]] = {}
    for kind, (metrics, default_metric, units, lo, hi) in SENSOR_RULES.items():
        for metric in (*metrics, None):
            for unit in units:
                table[(kind.value, metric, unit)] = ((kind, metric or default_metric, unit), lo, hi,
                                                     kind is SensorKind.SMOKE)
    return table


_SPECS = _spec_table()
# Sensor ids that already matched _ID: a set lookup instead of a regex per reading. Bounded, so that a
# stream of made-up ids cannot grow it without limit (past the bound, ids are matched every time).
_KNOWN_IDS: set[str] = set()
_KNOWN_IDS_MAX = 100_000


def decode_canonical(raw: bytes) -> tuple[FastEnvelope, list[Reading]] | None:
    """The envelope and its readings when ``raw`` is a fully valid canonical envelope; otherwise None."""
    decoded = decode_columns(raw)
    return None if decoded is None else (decoded[0], decoded[1].readings())


def decode_columns(raw: bytes, times: dict[str, datetime | None] | None = None,
                   ) -> tuple[FastEnvelope, ReadingColumns] | None:
    """Like :func:`decode_canonical`, with the readings as columns (no object per reading).

    ``times`` caches time strings → parsed times; the agent shares one across a batch, so the readings
    of one gateway tick share one parse (and one datetime object, whose hash is then computed once).
    Sharing it across envelopes decoded a moment apart is safe: a time accepted against an earlier
    clock is still acceptable later, and a refused one only sends its envelope down the pydantic path.
    """
    if len(raw) > MAX_MESSAGE_BYTES:
        return None
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    if type(data) is not dict or not data.keys() <= _ENVELOPE_KEYS:
        return None
    version = data.get("v", 1)
    readings = data.get("readings")
    envelope_id, gateway_id = data.get("envelope_id"), data.get("gateway_id")
    if (type(version) is not int or version != 1 or type(readings) is not list or not 1 <= len(readings) <= 1000
            or not _is_id(envelope_id) or not _is_id(gateway_id)):
        return None
    latest = datetime.now(UTC) + MAX_CLOCK_SKEW
    if times is None:
        times = {}
    sent_at = _time(data.get("sent_at"), times, latest)
    if sent_at is None:
        return None
    columns = _columns(readings, times, latest)
    if columns is None:
        return None
    return FastEnvelope(envelope_id, gateway_id, sent_at), columns


def _columns(items: list, times: dict[str, datetime | None], latest: datetime) -> ReadingColumns | None:
    """All readings of an envelope as columns, or None as soon as one is not canonical and valid.

    One loop, no call per reading: the (kind, metric, unit) triple is checked by one lookup in the
    table of valid triples (:data:`_SPECS`), sensor ids by a set of ids already matched, times by the
    shared parse cache. Each check is at least as strict as the contract's (SensorReading).
    """
    sensor_ids: list[str] = []
    values: list[float] = []
    stamps: list[datetime] = []
    specs: list[Spec] = []
    for item in items:
        if type(item) is not dict or not item.keys() <= _READING_KEYS:
            return None
        try:
            rule = _SPECS.get((item.get("kind"), item.get("metric"), item.get("unit")))
        except TypeError:  # a list or an object where a string belongs: not hashable, not canonical
            return None
        value, sensor_id = item.get("value"), item.get("sensor_id")
        if rule is None or type(value) not in (float, int) or type(sensor_id) is not str:
            return None
        if sensor_id not in _KNOWN_IDS:
            if _ID.fullmatch(sensor_id) is None:
                return None
            if len(_KNOWN_IDS) < _KNOWN_IDS_MAX:
                _KNOWN_IDS.add(sensor_id)
        spec, lo, hi, smoke = rule
        value = float(value)
        if not lo <= value <= hi or (smoke and value != 0.0 and value != 1.0):  # bounds are finite: NaN, ±inf fail
            return None
        stamp = item.get("time")
        t = times.get(stamp) if type(stamp) is str else None
        if t is None:
            t = _time(stamp, times, latest)
            if t is None:
                return None
        sensor_ids.append(sensor_id)
        values.append(value)
        stamps.append(t)
        specs.append(spec)
    return ReadingColumns(sensor_ids, values, stamps, specs)


def _is_id(value: object) -> bool:
    return type(value) is str and _ID.fullmatch(value) is not None


def _time(value: object, cache: dict[str, datetime | None], latest: datetime) -> datetime | None:
    if type(value) is not str:
        return None
    if value in cache:
        return cache[value]
    parsed = None
    if _TIME.fullmatch(value):
        try:
            t = datetime.fromisoformat(value)
        except ValueError:  # hour 25, February 30th, offset +99:00: the pydantic path says why
            t = None
        if t is not None and t.tzinfo is not None and EARLIEST_EVENT_TIME <= t <= latest:
            parsed = t
    cache[value] = parsed
    return parsed
