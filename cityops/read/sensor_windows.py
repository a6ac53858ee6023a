"""One sensor: its latest reading and alert state, and its window buckets (1-minute, 15-minute, hourly) as rows
with the value each summarises.

Why here: the sensor projection stores a window as one hash per sensor and hour or day, three fields per
bucket (``{bucket}:n`` readings, ``:s`` sum, ``:x`` maximum; ``streams/sensor_projection.py``); readers must
not spell those keys nor know that the noise sum is of energies. The value is the kind's aggregation
(``cityops/sensor_kinds``): the energy mean in dB (LAeq), the arithmetic mean, or the maximum.
"""

from __future__ import annotations

import math
from datetime import datetime

from redis import Redis

from cityops import bad_member, keys, sensor_kinds
from cityops.read.replies import replies
from cityops.read.sensors import SENSOR_STATE_FIELDS

RESOLUTIONS = {"m": "1-minute buckets of one hour", "q": "15-minute buckets of one day",
               "h": "hourly buckets of one day"}


def sensor_latest(r: Redis, sensor_id: str) -> dict[str, str] | None:
    """The fields of :data:`SENSOR_STATE_FIELDS` that one sensor's hash holds, as :func:`read.sensor_states` gives
    them for every sensor; None when it never reported (or its key is of another type, logged once)."""
    pipe = r.pipeline(transaction=False)
    pipe.hmget(keys.sensor(sensor_id), SENSOR_STATE_FIELDS)
    (values,) = replies(pipe, [sensor_id], "sensor state")
    if not values or values[0] is None:
        return None
    return {k: v for k, v in zip(SENSOR_STATE_FIELDS, values, strict=True) if v is not None and v != ""}


def window_period(resolution: str, at: datetime) -> str:
    """The hour (``m``) or day (``q``, ``h``) bucket of the window hash that holds ``at`` (local time)."""
    return keys.hour_bucket(at) if resolution == "m" else keys.day_bucket(at)


def summarise(aggregation: str, n: int, total: float, top: float) -> float:
    """The bucket's value: energy mean in dB, arithmetic mean or maximum."""
    if aggregation == "energy":
        return 10.0 * math.log10(total / n) if total > 0 else 0.0
    if aggregation == "max":
        return top
    return total / n


def sensor_windows(r: Redis, sensor_id: str, kind: str, resolution: str, at: datetime) -> list[dict[str, object]]:
    """The buckets of ``sensor_id``'s ``resolution`` window that holds ``at``, oldest first: ``bucket`` (minute
    ``MM``, quarter ``HHMM`` or hour ``HH``), ``n``, ``sum``, ``max`` and ``value``. A bucket whose fields do
    not parse is left out, logged once."""
    if resolution not in RESOLUTIONS:
        raise ValueError(f"resolution must be one of {', '.join(RESOLUTIONS)}, not {resolution!r}")
    aggregation = sensor_kinds.spec(kind).aggregation if kind in sensor_kinds.kinds() else "mean"
    raw = r.hgetall(keys.sensor_window(resolution, sensor_id, window_period(resolution, at)))
    buckets: dict[str, dict[str, str]] = {}
    for name, value in raw.items():
        bucket, _, part = name.rpartition(":")
        buckets.setdefault(bucket, {})[part] = value
    out: list[dict[str, object]] = []
    for bucket in sorted(buckets):
        parts = buckets[bucket]
        try:
            n, total, top = int(parts["n"]), float(parts["s"]), float(parts["x"])
            if n <= 0:
                raise ValueError(f"count {n}")
        except (KeyError, ValueError) as err:
            bad_member.skip("sensor windows", f"{sensor_id}/{resolution}/{bucket}", err)
            continue
        out.append({"bucket": bucket, "n": n, "sum": total, "max": top, "value": summarise(aggregation, n, total, top)})
    return out
