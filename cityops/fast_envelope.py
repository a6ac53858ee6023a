"""A fast decoder for the canonical form of a gateway envelope, in front of the pydantic contract.

Why: sensor envelopes are the platform's hot path (hundreds of thousands of readings a second), and
building a validated pydantic model per reading costs more than everything else the worker does
with it. Gateways send one canonical form, so this decoder checks exactly that form with plain
Python in one loop per envelope (sharing each time string's parse across a batch's readings) and
returns the readings as columns (:class:`ReadingColumns`), or as light :class:`Reading` objects.

The JSON is read by ``msgspec`` into two typed structs (:class:`_WireEnvelope`, :class:`_WireReading`),
which checks the field names and JSON types in C without building a dict per reading; what depends on
the platform's tables (kinds, metrics, units, bounds from the kinds' specs, ids, times) is checked here in one loop.

Why it cannot weaken the contract: it accepts a *subset* of what :func:`cityops.schemas.
decode_sensor_envelope` accepts — every check here is at least as strict as the model's — and
answers ``None`` for anything else, which then goes through the pydantic path for the authoritative
verdict and the per-reading reasons. ``tests/unit/test_fast_envelope.py`` checks the two agree.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import msgspec

from cityops import sensor_kinds
from cityops.schemas import (
    EARLIEST_EVENT_TIME,
    MAX_CLOCK_SKEW,
    MAX_MESSAGE_BYTES,
    SensorKind,
)

_ID = re.compile(r"[A-Za-z0-9_.:@/+-]{1,128}")
_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}:\d{2})")


class _WireReading(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    """A reading as JSON carries it: these fields and no others, each of its JSON type (``value`` a number,
    not a boolean); a missing metric or unit reads as null."""

    sensor_id: str
    kind: str
    value: float
    time: str
    metric: str | None = None
    unit: str | None = None


class _WireEnvelope(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    envelope_id: str
    gateway_id: str
    sent_at: str
    readings: list[_WireReading]
    v: int = 1


_WIRE = msgspec.json.Decoder(_WireEnvelope)


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


def _spec_table() -> dict[tuple[object, object, object], tuple[Spec, float, float, frozenset[float] | None]]:
    """(kind, metric as sent, unit) → (spec, lowest, highest, the only values allowed or None) for every valid
    combination, from the kinds' specs (:mod:`cityops.sensor_kinds`): built once, so a kind added as a file
    needs nothing here.

    A metric left out (or null) means the kind's default metric, as in the contract.
    """
    table: dict[tuple[object, object, object], tuple[Spec, float, float, frozenset[float] | None]] = {}
    for kind in SensorKind:
        spec = sensor_kinds.spec(kind.value)
        states = None if spec.states is None else frozenset(spec.states)
        for sent in (*spec.metrics, None):
            metric = spec.metrics[sent or spec.default_metric]
            for unit in metric.units:
                table[(kind.value, sent, unit)] = ((kind, metric.name, unit), metric.lo, metric.hi, states)
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
        data = _WIRE.decode(raw)
    except msgspec.DecodeError:  # not JSON, an unknown field, a wrong type: the contract path says why
        return None
    readings, envelope_id, gateway_id = data.readings, data.envelope_id, data.gateway_id
    if data.v != 1 or not 1 <= len(readings) <= 1000 or not _is_id(envelope_id) or not _is_id(gateway_id):
        return None
    latest = datetime.now(UTC) + MAX_CLOCK_SKEW
    if times is None:
        times = {}
    sent_at = _time(data.sent_at, times, latest)
    if sent_at is None:
        return None
    columns = _columns(readings, times, latest)
    if columns is None:
        return None
    return FastEnvelope(envelope_id, gateway_id, sent_at), columns


def _columns(items: list[_WireReading], times: dict[str, datetime | None], latest: datetime,
             ) -> ReadingColumns | None:
    """All readings of an envelope as columns, or None as soon as one is not canonical and valid.

    Column by column, mostly in C (comprehensions, ``map``, set operations): the (kind, metric, unit)
    triple is checked by one lookup in the table of valid triples (:data:`_SPECS`), sensor ids by a set
    of ids already matched, times by the shared parse cache. Each check is at least as strict as the
    contract's (SensorReading).
    """
    sensor_ids = [item.sensor_id for item in items]
    if not _KNOWN_IDS.issuperset(sensor_ids):
        for sensor_id in set(sensor_ids).difference(_KNOWN_IDS):
            if _ID.fullmatch(sensor_id) is None:
                return None
            if len(_KNOWN_IDS) < _KNOWN_IDS_MAX:
                _KNOWN_IDS.add(sensor_id)
    rules = [_SPECS.get((item.kind, item.metric, item.unit)) for item in items]
    if None in rules:
        return None
    values = [item.value for item in items]
    for (_, lo, hi, states), value in zip(rules, values, strict=True):
        if not lo <= value <= hi or (states is not None and value not in states):  # bounds are finite: NaN, ±inf fail
            return None
    stamps = list(map(times.get, [item.time for item in items]))
    if None in stamps:
        for i, t in enumerate(stamps):
            if t is None:
                t = stamps[i] = _time(items[i].time, times, latest)
                if t is None:
                    return None
    return ReadingColumns(sensor_ids, values, stamps, [rule[0] for rule in rules])  # type: ignore[arg-type]


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
