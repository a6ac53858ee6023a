"""Read API of the Redis read model: the query functions the console and the briefing use.

Readers never spell Redis keys themselves: they call these functions, which use :mod:`cityops.keys`.
A member whose key has the wrong type or whose data does not parse is left out with a log line
(:mod:`cityops.bad_member`): one bad member never fails a whole list.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import orjson
from redis import Redis
from redis.client import Pipeline

from cityops import bad_member, keys
from cityops.metrics import Rates, mean_handling_hours, rank, score
from cityops.settings import Settings, get_settings


def connect(settings: Settings | None = None) -> Redis:
    settings = settings or get_settings()
    return Redis.from_url(settings.redis_url, decode_responses=True, socket_timeout=2, socket_connect_timeout=2)


def _replies(pipe: Pipeline, members: Sequence[object], where: str) -> list:
    """The pipeline's replies, one per member; a member whose command failed (its key is of another type)
    gets None, logged once."""
    out = []
    for member, reply in zip(members, pipe.execute(raise_on_error=False), strict=True):
        if isinstance(reply, Exception):
            bad_member.skip(where, str(member), reply)
            reply = None
        out.append(reply)
    return out


def _json_entries(entries: Sequence[tuple[str, Mapping[str, str]]], where: str) -> list[tuple[str, dict]]:
    """(entry id, its JSON object) of stream entries; an entry without a JSON object is left out, logged once."""
    out = []
    for entry_id, fields in entries:
        try:
            value = orjson.loads(fields["json"])
            if not isinstance(value, dict):
                raise TypeError(f"a JSON {type(value).__name__}, not an object")
        except (KeyError, TypeError, orjson.JSONDecodeError) as err:
            bad_member.skip(where, entry_id, f"entry unreadable: {err!r}")
            continue
        out.append((entry_id, value))
    return out


def _ints(data: dict[str, str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for k, v in data.items():
        try:
            out[k] = int(float(v))
        except ValueError:
            continue
    return out


def day_counters(r: Redis, day: datetime, scope: str = "city", scope_id: str = "350200") -> dict[str, int]:
    """Counters of one local day for one scope (``received``, ``registered``, ``closed``, …)."""
    return _ints(r.hgetall(keys.kpi_daily(keys.day_bucket(day), scope, scope_id)))


def day_counters_many(r: Redis, day: datetime, scope: str, scope_ids: list[str]) -> dict[str, dict[str, int]]:
    pipe = r.pipeline(transaction=False)
    for sid in scope_ids:
        pipe.hgetall(keys.kpi_daily(keys.day_bucket(day), scope, sid))
    return {sid: _ints(d) for sid, d in zip(scope_ids, pipe.execute(), strict=True)}


def hourly_counters(r: Redis, day: datetime, scope: str = "city", scope_id: str = "350200") -> list[dict[str, int]]:
    """24 dicts of counters for the hours of ``day`` (local)."""
    pipe = r.pipeline(transaction=False)
    for h in range(24):
        pipe.hgetall(keys.kpi_hourly(f"{keys.day_bucket(day)}{h:02d}", scope, scope_id))
    return [_ints(d) for d in pipe.execute()]


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
    for sid, d in zip(ids, _replies(pipe, ids, "latest sensors"), strict=True):
        if d:
            try:
                value = float(d.get("value", "nan"))
            except ValueError as err:
                bad_member.skip("latest sensors", sid, err)
                continue
            out.append(SensorState(sid, d.get("kind", ""), d.get("metric", ""), value, d.get("unit", ""),
                                   d.get("time", "")))
    return out


def recent_captures(r: Redis, count: int = 20) -> list[dict]:
    return [value for _id, value in _json_entries(r.xrevrange(keys.captures(), count=count), "captures")]


def recent_dead_letters(r: Redis, count: int = 50) -> list[dict]:
    return [value for _id, value in _json_entries(r.xrevrange(keys.dlq_recent(), count=count), "dead letters")]


def case(r: Redis, case_id: str) -> dict[str, str]:
    return r.hgetall(keys.case(case_id))


@dataclass(frozen=True)
class WorkersAlive:
    """The stream processors as the console sees them: how many processes beat lately, and the newest beat."""

    alive: int
    newest: float | None


def workers_alive(r: Redis, within_s: float = 30.0, group: str | None = None,
                  now: float | None = None) -> WorkersAlive:
    """Worker processes of the consumer group that beat within ``within_s`` (they beat every 5 s, busy or idle)."""
    beats = [float(v) for v in r.hvals(keys.heartbeats(group or get_settings().worker_id))]
    now = time.time() if now is None else now
    return WorkersAlive(sum(1 for b in beats if now - b <= within_s), max(beats, default=None))


# ------------------------------------------------------------------------------------------- KPIs


def overdue_open(r: Redis, scope: str, scope_id: str) -> tuple[int, float]:
    """(count, weighted count) of open cases past their deadline *now* in one scope."""
    members = r.zrange(keys.overdue(scope, scope_id), 0, -1, withscores=True)
    return len(members), float(sum(score for _, score in members))


def kpis(r: Redis, day: datetime, scope: str = "city", scope_id: str = "350200") -> dict:
    """Counters, overdue gauge, rates (plain and weighted), mean handling time and score of one scope.

    ``overdue_open`` is the gauge now, whatever ``day`` is: it counts cases still open past their
    deadline, which belong to no single day.
    """
    return kpis_many(r, day, scope, [scope_id])[scope_id]


# (count, sum of weights) of an overdue set, summed inside Redis: returning thousands of members with
# their scores only to add them up cost the big screen ≈ 20 ms per refresh at 30 days of Xiamen data.
_OVERDUE_GAUGE = """
local z = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
local total = 0
for i = 2, #z, 2 do total = total + tonumber(z[i]) end
return {#z / 2, tostring(total)}
"""


def kpis_many(r: Redis, day: datetime, scope: str, scope_ids: list[str]) -> dict[str, dict]:
    pipe = r.pipeline(transaction=False)
    for sid in scope_ids:
        pipe.hgetall(keys.kpi_daily(keys.day_bucket(day), scope, sid))
        pipe.eval(_OVERDUE_GAUGE, 1, keys.overdue(scope, sid))
    raw = pipe.execute()
    out: dict[str, dict] = {}
    for i, sid in enumerate(scope_ids):
        counters: dict[str, float] = dict(_ints(raw[2 * i]))
        count, weight = raw[2 * i + 1]
        counters["overdue_open"] = int(count)
        counters["w_overdue_open"] = float(weight)
        rates = Rates.from_counters(counters)
        weighted = Rates.from_counters(counters, prefix="w_")
        out[sid] = {
            "counters": counters,
            "closure_rate": rates.closure_rate,
            "on_time_rate": rates.on_time_rate,
            "handling_rate": rates.handling_rate,
            "rework_rate": rates.rework_rate,
            "weighted_closure_rate": weighted.closure_rate,
            "weighted_on_time_rate": weighted.on_time_rate,
            "weighted_rework_rate": weighted.rework_rate,
            "mean_handling_hours": mean_handling_hours(counters),
            "score": score(weighted),
        }
    return out


def ranking(r: Redis, day: datetime, scope: str, scope_ids: list[str]) -> list[dict]:
    """Scopes with any activity ranked by 综合指标值 (best first), ties sharing a rank.

    A scope with no case that day and nothing overdue is left out: it has nothing to be ranked on.
    """
    table = {sid: t for sid, t in kpis_many(r, day, scope, scope_ids).items() if any(t["counters"].values())}
    return [{"rank": position, "id": sid, "score": value, **{k: v for k, v in table[sid].items() if k != "score"}}
            for position, sid, value in rank({sid: t["score"] for sid, t in table.items()})]


def alert_feed(r: Redis, count: int = 100) -> list[dict]:
    """The newest alerts first."""
    return [value for _id, value in _json_entries(r.xrevrange(keys.alerts(), count=count), "alert feed")]


def case_timeline(r: Redis, case_id: str) -> list[dict]:
    """The case's steps, oldest first (the report's text, source and evidence are in :func:`case`)."""
    out = []
    for i, entry in enumerate(r.lrange(keys.case_timeline(case_id), 0, -1)):
        try:
            out.append(orjson.loads(entry))
        except orjson.JSONDecodeError as err:
            bad_member.skip("case timeline", f"{case_id}#{i}", err)
    return out


def open_case_positions(r: Redis, limit: int = 20000) -> list[tuple[str, float, float]]:
    """(case id, lon, lat) of open located cases, for the hotspot map."""
    members = r.zrange(keys.open_cases(), 0, limit - 1)
    if not members:
        return []
    positions = r.geopos(keys.open_cases(), *members)
    return [(m, p[0], p[1]) for m, p in zip(members, positions, strict=True) if p is not None]


def overdue_cases(r: Redis, scope: str = "city", scope_id: str = "350200", limit: int = 50) -> list[dict[str, str]]:
    """Open cases past their deadline *now* in one scope, longest overdue first (earliest deadline).

    Each is the case's hash plus ``case_id`` and ``weight`` (its score in the overdue set); the
    briefing lists them. Cases whose hash has gone (retention) are left out.
    """
    ids = r.zrange(keys.overdue(scope, scope_id), 0, -1)
    pipe = r.pipeline(transaction=False)
    for case_id in ids:
        pipe.hgetall(keys.case(case_id))
    rows = [{"case_id": cid, **data} for cid, data in zip(ids, _replies(pipe, ids, "overdue cases"), strict=True)
            if data]
    rows.sort(key=lambda row: (row.get("deadline", "") or "9999", row["case_id"]))
    return rows[:limit]


def alerts_of_day(r: Redis, day: datetime, count: int = keys.ALERTS_MAXLEN) -> list[dict]:
    """Alerts of the feed whose own time (``since``, ``at`` or ``silent_since``) falls on ``day`` (local), oldest
    first. Reads at most ``count`` newest entries of the feed, so a day older than the feed holds is partial."""
    start = day.replace(hour=0, minute=0, second=0, microsecond=0)
    lo, hi = start.timestamp(), (start + timedelta(days=1)).timestamp()
    out = []
    for _id, alert in reversed(_json_entries(r.xrevrange(keys.alerts(), count=count), "alert feed")):
        t = alert_time(alert)
        if t is not None and lo <= t < hi:
            out.append(alert)
    return out


def alert_time(alert: Mapping) -> float | None:
    """When an alert happened (epoch seconds): its ``since``, ``at`` or ``silent_since``, as the writers put it
    (epoch numbers, ISO text or numbers in text); None when it carries none of them."""
    for name in ("since", "at", "silent_since"):
        value = alert.get(name)
        if isinstance(value, int | float):
            return float(value)
        if isinstance(value, str) and value:
            try:
                return datetime.fromisoformat(value).timestamp()
            except ValueError:
                try:
                    return float(value)
                except ValueError:
                    continue
    return None


# ------------------------------------------------------------------------------------ console reads


def counters_until(r: Redis, at: datetime, scope: str = "city", scope_id: str = "350200",
                   fields: Sequence[str] | None = None) -> dict[str, float]:
    """Counters of ``at``'s local day from midnight up to ``at`` (whole hours, the running hour pro rata).

    Why: the big screen compares today so far with *the same time yesterday*, not with all of
    yesterday. Daily hashes hold whole days, so this sums yesterday's hourly hashes (kept 14 days); the
    hour ``at`` falls in counts by the fraction of it that has passed, which is exact for even flows
    and off by at most one hour's share otherwise. ``fields`` limits the read to those counters (the
    big screen needs five of the thirty, and reply parsing is most of the cost).
    """
    day = keys.day_bucket(at)
    pipe = r.pipeline(transaction=False)
    for h in range(at.hour + 1):
        if fields:
            pipe.hmget(keys.kpi_hourly(f"{day}{h:02d}", scope, scope_id), list(fields))
        else:
            pipe.hgetall(keys.kpi_hourly(f"{day}{h:02d}", scope, scope_id))
    out: dict[str, float] = {}
    rows = [dict(zip(fields, row, strict=True)) if fields else row for row in pipe.execute()]
    rows = [{k: v for k, v in row.items() if v is not None} for row in rows]
    fraction = (at.minute * 60 + at.second) / 3600.0
    for h, data in enumerate(rows):
        share = fraction if h == at.hour else 1.0
        for k, v in _ints(data).items():
            out[k] = out.get(k, 0.0) + v * share
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


OPEN_SCORES = """
local z = redis.call('ZRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1, 'WITHSCORES')
local out = {}
for i = 2, #z, 2 do out[#out + 1] = z[i] end
return table.concat(out, ',')
"""
# The same string, also kept under KEYS[2] for ARGV[2] seconds: the workers' hotspot timer runs this.
SNAPSHOT_OPEN_SCORES = """
local z = redis.call('ZRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1, 'WITHSCORES')
local out = {}
for i = 2, #z, 2 do out[#out + 1] = z[i] end
redis.call('SET', KEYS[2], table.concat(out, ','), 'EX', ARGV[2])
return #out
"""
MAX_HOTSPOT_POSITIONS = 20000
GEO_STEP = 26  # Redis geohash precision: 26 bits per coordinate, interleaved into a 52-bit score
GEO_LAT_LIMIT = 85.05112878


def _even_bits(x: np.ndarray) -> np.ndarray:
    """The even-position bits of each 64-bit value packed together (de-interleaving a geohash)."""
    x = x & np.uint64(0x5555555555555555)
    for shift, mask in ((1, 0x3333333333333333), (2, 0x0F0F0F0F0F0F0F0F), (4, 0x00FF00FF00FF00FF),
                        (8, 0x0000FFFF0000FFFF), (16, 0x00000000FFFFFFFF)):
        x = (x | (x >> np.uint64(shift))) & np.uint64(mask)
    return x


def open_case_lonlat(r: Redis, limit: int = 20000) -> np.ndarray:
    """(n, 2) array of lon, lat of open located cases, for the hotspot layer (no ids needed there).

    Why not GEOPOS: for thousands of members its reply costs tens of ms to build and parse. The geo
    set's scores *are* the positions (Redis' 52-bit interleaved geohash), so one string of scores is
    read and decoded with numpy to the centre of each cell, exactly as GEOPOS would (tested).

    Why a snapshot: even that string took Redis 22–24 ms to build for 11,600 open cases (a Monday
    morning after a weekend), half the big screen's budget on every refresh of every screen. The
    workers rebuild it every few seconds (``keys.open_cases_snapshot``), so the screens only read it;
    when it is missing (no worker running), it is built here as before.
    """
    raw = r.get(keys.open_cases_snapshot())
    if raw is None:
        raw = r.eval(OPEN_SCORES, 1, keys.open_cases(), min(limit, MAX_HOTSPOT_POSITIONS))
    if not raw:
        return np.zeros((0, 2))
    bits = np.fromstring(raw, dtype=np.float64, sep=",")[:limit].astype(np.uint64)  # 52 bits: exact in a double
    lat_i, lon_i = _even_bits(bits), _even_bits(bits >> np.uint64(1))
    cells = float(1 << GEO_STEP)
    lon = -180.0 + (lon_i.astype(np.float64) + 0.5) * (360.0 / cells)
    lat = -GEO_LAT_LIMIT + (lat_i.astype(np.float64) + 0.5) * (2 * GEO_LAT_LIMIT / cells)
    return np.column_stack([lon, lat])


_SENSOR_OVERVIEW = """
local ids = redis.call('ZRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1)
local active = redis.call('ZRANGE', KEYS[2], 0, -1)
local alarm, offline = {}, {}
for _, a in ipairs(active) do
  if string.sub(a, 1, 7) == 'sensor:' then
    local sid = string.match(a, '^sensor:(.*):%d+$')
    if sid then
      local v = redis.pcall('HMGET', ARGV[2] .. sid, 'value', 'metric', 'unit')
      if v.err then v = {} end  -- a key of another type: no value shown
      alarm[#alarm + 1] = table.concat({sid, v[1] or '', v[2] or '', v[3] or ''}, string.char(31))
    end
  elseif string.sub(a, 1, 8) == 'offline:' then
    local sid = string.match(a, '^offline:(.*):%d+$')
    if sid then offline[#offline + 1] = sid end
  end
end
local rs = string.char(30)
return {table.concat(ids, rs), table.concat(alarm, rs), table.concat(offline, rs)}
"""


def sensor_overview(r: Redis, limit: int = 20000) -> dict[str, dict[str, str]]:
    """Every reporting sensor's alert state for the big screen, without reading 2,000 sensor hashes.

    The state comes from the active alerts: a sensor with an active exceedance alert is in alarm
    (``phase: active``, with its latest value), one with an active device-offline alert is offline
    (``offline: "1"``), every other sensor in the index is ``phase: normal``. Sensors exceeding but
    not yet for the sustain time (phase ``pending``) show as normal here; :func:`sensor_states` has
    that detail at about ten times the cost.
    """
    ids, alarm, offline = r.eval(_SENSOR_OVERVIEW, 2, keys.sensors_index(), keys.active_alerts(), limit,
                                 keys.sensor(""))
    out: dict[str, dict[str, str]] = {sid: {"phase": "normal"} for sid in ids.split("\x1e")} if ids else {}
    for sid in offline.split("\x1e") if offline else ():
        if sid in out:
            out[sid] = {"offline": "1"}
    for line in alarm.split("\x1e") if alarm else ():
        sid, value, metric, unit = line.split("\x1f")
        if sid in out:
            out[sid] = {"phase": "active", "value": value, "metric": metric, "unit": unit}
    return out


def day_metric_many(r: Redis, day: datetime, scope: str, scope_ids: Sequence[str], metric: str) -> dict[str, int]:
    """One counter of one day for many scopes (e.g. ``received`` per category), without the other fields."""
    pipe = r.pipeline(transaction=False)
    for sid in scope_ids:
        pipe.hget(keys.kpi_daily(keys.day_bucket(day), scope, sid), metric)
    return {sid: int(float(v)) for sid, v in zip(scope_ids, pipe.execute(), strict=True) if v}


def hourly_metric(r: Redis, day: datetime, metric: str, scope: str = "city", scope_id: str = "350200") -> list[int]:
    """One counter for each of the 24 hours of ``day`` (the big screen's hourly chart)."""
    pipe = r.pipeline(transaction=False)
    for h in range(24):
        pipe.hget(keys.kpi_hourly(f"{keys.day_bucket(day)}{h:02d}", scope, scope_id), metric)
    return [int(float(v)) if v else 0 for v in pipe.execute()]


ALERT_CASE_FIELDS = ("state", "acknowledged", "acknowledged_by", "escalated", "escalated_by", "department",
                     "district", "street", "grid", "category")


def alerts_current(r: Redis, count: int = 300, active_beyond: int = 200) -> list[dict]:
    """The alerts of the newest ``count`` feed entries, one row per alert, newest first, in their state now,
    and the alerts still active that were raised before them.

    The feed is an append-only stream (raised, cleared, commands); the duty console needs each alert
    once, with what happened to it since: entries of one id are merged oldest to newest, then the
    alert's hash (``co:alert:{id}``, changed by commands) wins. Alerts that have no hash (AI captures)
    take acknowledgement and escalation from their case. Command echoes (type ``command``) are left
    out; ``feed_ts`` is when the newest entry arrived (epoch seconds).

    Why the active ones beyond the window: a flood of newer entries (a gateway outage taking hundreds
    of sensors offline at once) would otherwise push an overdue case's alert out of the window and off
    the officer's screen while it is still open. The newest ``active_beyond`` active alerts other than
    device-offline ones are added from their hashes, with ``feed_ts`` when they were raised.
    """
    merged: dict[str, dict] = {}
    for entry_id, alert in reversed(_json_entries(r.xrevrange(keys.alerts(), count=count), "alert feed")):
        if alert.get("type") == "command" or not alert.get("id") or not isinstance(alert["id"], str):
            continue
        row = merged.setdefault(alert["id"], {})
        kind = row.get("type")
        row.update(alert)
        if kind and alert.get("type", "").endswith("_cleared"):
            row["type"] = kind  # a clearing entry keeps the type it was raised with
        row["feed_ts"] = int(entry_id.split("-", 1)[0]) / 1000.0
    older = [(alert_id, raised) for alert_id, raised in r.zrevrange(keys.active_alerts(), 0, -1, withscores=True)
             if alert_id not in merged and not alert_id.startswith("offline:")][:active_beyond]
    if older:
        pipe = r.pipeline(transaction=False)
        for alert_id, _ in older:
            pipe.hgetall(keys.alert(alert_id))
        for (alert_id, raised), state in zip(older, _replies(pipe, [a for a, _ in older], "active alerts"),
                                             strict=True):
            if state:  # an alert whose hash has expired has nothing left to show
                merged[alert_id] = state | {"id": alert_id, "feed_ts": raised}
    rows = sorted(merged.values(), key=lambda a: a["feed_ts"], reverse=True)
    pipe = r.pipeline(transaction=False)
    for row in rows:
        pipe.hgetall(keys.alert(row["id"]))
        if row.get("case_id"):
            pipe.hmget(keys.case(row["case_id"]), ALERT_CASE_FIELDS)
        else:
            pipe.echo("")  # keeps the replies two per row
    raw = _replies(pipe, [m for row in rows for m in (row["id"], row.get("case_id") or "")], "current alerts")
    for i, row in enumerate(rows):
        state, case_fields = raw[2 * i] or {}, raw[2 * i + 1]
        row["has_hash"] = bool(state)
        row.update(state)
        if isinstance(case_fields, list):
            case = {k: v for k, v in zip(ALERT_CASE_FIELDS, case_fields, strict=True) if v is not None}
            row["case_state"] = case.get("state", "")
            for k in ("district", "street", "grid", "category", "department"):
                if not row.get(k) and case.get(k):
                    row[k] = case[k]
            if not state:
                if case.get("acknowledged") == "1":
                    row.update(acknowledged="1", acknowledged_by=case.get("acknowledged_by", ""))
                if case.get("escalated") == "1":
                    row.update(escalated="1", severity="critical")
                if case.get("state") in ("voided", "closed", "rejected"):
                    row["state"] = "cleared"
        if row.get("state") == "active" and str(row.get("acknowledged", "0")) == "1":
            row["state"] = "acknowledged"
    return rows


def sla_due(r: Redis, now_ts: float, within_s: float, limit: int = 50) -> list[dict]:
    """Open cases whose running SLA clock runs out in the next ``within_s`` seconds, soonest first, each
    with ``due_ts`` (epoch seconds): the duty console's about-to-breach countdowns."""
    due = r.zrangebyscore(keys.sla_clock(), now_ts, now_ts + within_s, start=0, num=limit, withscores=True)
    pipe = r.pipeline(transaction=False)
    for case_id, _ in due:
        pipe.hgetall(keys.case(case_id))
    return [{"case_id": cid, "due_ts": score, **data}
            for (cid, score), data in zip(due, _replies(pipe, [cid for cid, _ in due], "SLA due"), strict=True)
            if data]


def audit_trail(r: Redis, count: int = 50) -> list[dict]:
    """The newest operator commands first (who, when, what, before/after)."""
    return [value for _id, value in _json_entries(r.xrevrange(keys.audit(), count=count), "audit trail")]


def alert_state(r: Redis, alert_id: str) -> dict[str, str]:
    """One alert's current hash (empty for alerts kept only in the feed, such as AI captures)."""
    return r.hgetall(keys.alert(alert_id))


# -------------------------------------------------------------------------------- repeated problems


def repeated_problems(r: Redis, day: datetime, scope: str = "city", scope_id: str = "350200",
                      limit: int = 500) -> list[dict]:
    """Cases reported on ``day`` that repeat a problem (same category within R m within N days), newest first.

    ``scope`` is one of :data:`cityops.keys.REPEAT_SCOPES`.
    """
    members = r.zrevrange(keys.repeats_daily(keys.day_bucket(day), scope, scope_id), 0, limit - 1)
    fields = ("category", "district", "street", "grid", "state", "t_report", "lon", "lat", "address")
    pipe = r.pipeline(transaction=False)
    for cid in members:
        pipe.hmget(keys.case(cid), fields)
    return [{"case_id": cid, **dict(zip(fields, row, strict=True))}
            for cid, row in zip(members, _replies(pipe, members, "repeated problems"), strict=True) if row is not None]
