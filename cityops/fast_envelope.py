"""A fast decoder for the canonical form of a gateway envelope, in front of the pydantic contract.

Why: sensor envelopes are the platform's hot path (hundreds of thousands of readings a second), and
building a validated pydantic model per reading costs more than everything else the worker does
with it. Gateways send one canonical form, so this decoder checks exactly that form with plain
Python (sharing each time string's parse across an envelope's readings) and returns light
:class:`Reading` objects.

Why it cannot weaken the contract: it accepts a *subset* of what :func:`cityops.schemas.
decode_sensor_envelope` accepts — every check here is at least as strict as the model's — and
answers ``None`` for anything else, which then goes through the pydantic path for the authoritative
verdict and the per-reading reasons. ``tests/test_fast_envelope.py`` checks the two agree.
"""

from __future__ import annotations

import math
import re
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
_KINDS = {k.value: k for k in SensorKind}


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


def decode_canonical(raw: bytes) -> tuple[FastEnvelope, list[Reading]] | None:
    """The envelope and its readings when ``raw`` is a fully valid canonical envelope; otherwise None."""
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
    times: dict[str, datetime | None] = {}
    sent_at = _time(data.get("sent_at"), times, latest)
    if sent_at is None:
        return None
    out: list[Reading] = []
    for item in readings:
        reading = _reading(item, times, latest)
        if reading is None:
            return None
        out.append(reading)
    return FastEnvelope(envelope_id, gateway_id, sent_at), out


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


def _reading(item: object, times: dict[str, datetime | None], latest: datetime) -> Reading | None:
    if type(item) is not dict or not item.keys() <= _READING_KEYS:
        return None
    kind = _KINDS.get(item.get("kind"))  # type: ignore[arg-type]
    value, unit, metric = item.get("value"), item.get("unit"), item.get("metric")
    if kind is None or type(value) not in (float, int) or type(unit) is not str or not _is_id(item.get("sensor_id")):
        return None
    value = float(value)
    metrics, default_metric, units, lo, hi = SENSOR_RULES[kind]
    if metric is None:
        metric = default_metric
    elif type(metric) is not str:
        return None
    if (metric not in metrics or unit not in units or not math.isfinite(value) or not lo <= value <= hi
            or (kind is SensorKind.SMOKE and value not in (0.0, 1.0))):
        return None
    t = _time(item.get("time"), times, latest)
    if t is None:
        return None
    return Reading(item["sensor_id"], kind, metric, value, unit, t)
