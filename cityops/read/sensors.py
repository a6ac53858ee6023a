"""Sensor reads: latest readings, every sensor's alert state (map colours), the big screen's overview."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from redis import Redis

from cityops import bad_member, keys
from cityops.alerts import AlertKind, id_prefix
from cityops.lua import source
from cityops.read.replies import replies


@dataclass(frozen=True)
class SensorState:
    sensor_id: str
    kind: str
    metric: str
    value: float
    unit: str
    time: str


def latest_sensors(r: Redis, since_ts: float, limit: int = 5000) -> list[SensorState]:
    """Sensors that reported since ``since_ts`` (epoch seconds), with their latest reading."""
    ids = r.zrangebyscore(keys.sensors_index(), since_ts, "+inf", start=0, num=limit)
    pipe = r.pipeline(transaction=False)
    for sid in ids:
        pipe.hgetall(keys.sensor(sid))
    out = []
    for sid, d in zip(ids, replies(pipe, ids, "latest sensors"), strict=True):
        if d:
            try:
                value = float(d.get("value", "nan"))
            except ValueError as err:
                bad_member.skip("latest sensors", sid, err)
                continue
            out.append(SensorState(sid, d.get("kind", ""), d.get("metric", ""), value, d.get("unit", ""),
                                   d.get("time", "")))
    return out


SENSOR_STATE_FIELDS = ("kind", "metric", "value", "unit", "time", "phase", "offline", "offline_alert")


# One round trip and one reply for every sensor: parsing thousands of HMGET replies (or one JSON reply)
# in redis-py costs far more than the reads; one delimited string (fields by \x1f, sensors by \x1e:
# characters no id, metric or value can hold) is cheap to split.
_SENSOR_STATES = source("sensor_states")


def sensor_states(r: Redis, limit: int = 20000,
                  fields: Sequence[str] = SENSOR_STATE_FIELDS) -> dict[str, dict[str, str]]:
    """Every known sensor's latest reading and alert state (``phase``: normal/pending/active/clearing,
    ``offline``: "1" while silent), by sensor id, for the map's colours and the alarm count. The first
    of ``fields`` must be one every sensor hash has (``kind`` or ``value``); fewer fields, faster."""
    prefix = keys.sensor("")
    raw = r.eval(_SENSOR_STATES, 1, keys.sensors_index(), limit, prefix, *fields)
    out: dict[str, dict[str, str]] = {}
    for line in raw.split("\x1e") if raw else ():
        row = line.split("\x1f")
        out[row[0]] = {k: v for k, v in zip(fields, row[1:], strict=True) if v != ""}
    return out


# What an active alert is comes from its own hash (type and sensor), never from the shape of its id in a script.
# Only sensors' alerts are read: their ids are picked out of the active ones in Python by the prefixes of
# cityops.alerts (thousands of SLA alerts may be open; reading every active alert's hash is what made this slow).
# ARGV: sensor key prefix, alert key prefix, the offline alert's type, then the alert ids; every other alert of a
# sensor is in alarm.
_OVERVIEW_ALERTS = source("sensor_overview")
_SENSOR_ALERT_PREFIXES = tuple(id_prefix(kind) for kind in (AlertKind.SENSOR_EXCEEDANCE, AlertKind.DEVICE_OFFLINE))


def sensor_overview(r: Redis, limit: int = 20000) -> dict[str, dict[str, str]]:
    """Every reporting sensor's alert state for the big screen, without reading 2,000 sensor hashes.

    The state comes from the active alerts' hashes: a sensor with an active exceedance alert is in alarm
    (``phase: active``, with its latest value), one with an active device-offline alert is offline
    (``offline: "1"``), every other sensor in the index is ``phase: normal``. Sensors exceeding but
    not yet for the sustain time (phase ``pending``) show as normal here; :func:`sensor_states` has
    that detail at about ten times the cost.
    """
    pipe = r.pipeline(transaction=False)
    pipe.zrange(keys.sensors_index(), 0, limit - 1)
    pipe.zrange(keys.active_alerts(), 0, -1)
    ids, active = replies(pipe, (keys.sensors_index(), keys.active_alerts()), "sensor overview")  # None: wrong type
    out: dict[str, dict[str, str]] = {sid: {"phase": "normal"} for sid in ids or ()}
    candidates = [alert_id for alert_id in active or () if alert_id.startswith(_SENSOR_ALERT_PREFIXES)] if out else []
    if not candidates:
        return out
    alarm, offline = r.eval(_OVERVIEW_ALERTS, 0, keys.sensor(""), keys.alert(""), AlertKind.DEVICE_OFFLINE.value,
                            *candidates)
    for sid in offline.split("\x1e") if offline else ():
        if sid in out:
            out[sid] = {"offline": "1"}
    for line in alarm.split("\x1e") if alarm else ():
        sid, value, metric, unit = line.split("\x1f")
        if sid in out:
            out[sid] = {"phase": "active", "value": value, "metric": metric, "unit": unit}
    return out
