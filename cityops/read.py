"""Read API of the Redis read model: the query functions the console and the briefing use.

Readers never spell Redis keys themselves: they call these functions, which use :mod:`cityops.keys`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import orjson
from redis import Redis

from cityops import keys
from cityops.settings import Settings, get_settings


def connect(settings: Settings | None = None) -> Redis:
    settings = settings or get_settings()
    return Redis.from_url(settings.redis_url, decode_responses=True, socket_timeout=2, socket_connect_timeout=2)


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
    for sid, d in zip(ids, pipe.execute(), strict=True):
        if d:
            out.append(SensorState(sid, d.get("kind", ""), d.get("metric", ""), float(d.get("value", "nan")),
                                   d.get("unit", ""), d.get("time", "")))
    return out


def recent_captures(r: Redis, count: int = 20) -> list[dict]:
    return [orjson.loads(fields["json"]) for _id, fields in r.xrevrange(keys.captures(), count=count)]


def recent_dead_letters(r: Redis, count: int = 50) -> list[dict]:
    return [orjson.loads(fields["json"]) for _id, fields in r.xrevrange(keys.dlq_recent(), count=count)]


def case(r: Redis, case_id: str) -> dict[str, str]:
    return r.hgetall(keys.case(case_id))


def worker_heartbeat(r: Redis, worker: str | None = None) -> float | None:
    value = r.get(keys.heartbeat(worker or get_settings().worker_id))
    return float(value) if value else None
