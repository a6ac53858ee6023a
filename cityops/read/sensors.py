"""Sensor reads: latest readings, every sensor's alert state (map colours), the big screen's overview."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from redis import Redis

from cityops import bad_member, keys
from cityops.alerts import AlertKind
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


# One round trip and one reply for every sensor: 2,000 HMGETs in a pipeline cost ≈ 100 ms of reply
# parsing in redis-py, and even one JSON reply ≈ 20 ms; the same reads inside Redis returned as one
# delimited string (fields by \x1f, sensors by \x1e: characters no id, metric or value can hold) cost
# a few ms.
_SENSOR_STATES = """
local ids = redis.call('ZRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1)
local out = {}
for i, id in ipairs(ids) do
  local v = redis.pcall('HMGET', ARGV[2] .. id, unpack(ARGV, 3))  -- a key of another type: left out
  if v[1] and not v.err then
    local row = {id}
    for j = 1, #v do row[j + 1] = v[j] or '' end
    out[#out + 1] = table.concat(row, string.char(31))
  end
end
return table.concat(out, string.char(30))
"""


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


# What an active alert is comes from its own hash (type and sensor), never from the shape of its id. ARGV: limit,
# sensor key prefix, alert key prefix, the offline alert's type; every other active alert of a sensor is in alarm.
_SENSOR_OVERVIEW = """
local ids = redis.call('ZRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1)
local active = redis.call('ZRANGE', KEYS[2], 0, -1)
local alarm, offline = {}, {}
for _, a in ipairs(active) do
  local h = redis.pcall('HMGET', ARGV[3] .. a, 'type', 'sensor_id')
  local sid = (not h.err) and h[2]
  if sid and sid ~= '' then
    if h[1] == ARGV[4] then
      offline[#offline + 1] = sid
    else
      local v = redis.pcall('HMGET', ARGV[2] .. sid, 'value', 'metric', 'unit')
      if v.err then v = {} end  -- a key of another type: no value shown
      alarm[#alarm + 1] = table.concat({sid, v[1] or '', v[2] or '', v[3] or ''}, string.char(31))
    end
  end
end
local rs = string.char(30)
return {table.concat(ids, rs), table.concat(alarm, rs), table.concat(offline, rs)}
"""


def sensor_overview(r: Redis, limit: int = 20000) -> dict[str, dict[str, str]]:
    """Every reporting sensor's alert state for the big screen, without reading 2,000 sensor hashes.

    The state comes from the active alerts' hashes: a sensor with an active exceedance alert is in alarm
    (``phase: active``, with its latest value), one with an active device-offline alert is offline
    (``offline: "1"``), every other sensor in the index is ``phase: normal``. Sensors exceeding but
    not yet for the sustain time (phase ``pending``) show as normal here; :func:`sensor_states` has
    that detail at about ten times the cost.
    """
    ids, alarm, offline = r.eval(_SENSOR_OVERVIEW, 2, keys.sensors_index(), keys.active_alerts(), limit,
                                 keys.sensor(""), keys.alert(""), AlertKind.DEVICE_OFFLINE.value)
    out: dict[str, dict[str, str]] = {sid: {"phase": "normal"} for sid in ids.split("\x1e")} if ids else {}
    for sid in offline.split("\x1e") if offline else ():
        if sid in out:
            out[sid] = {"offline": "1"}
    for line in alarm.split("\x1e") if alarm else ():
        sid, value, metric, unit = line.split("\x1f")
        if sid in out:
            out[sid] = {"phase": "active", "value": value, "metric": metric, "unit": unit}
    return out
