"""Unknown-device reads for the admin page: per gateway, readings of unregistered devices today and over the
retention, and the latest unknown ids (written by the sensor agent, see ``streams/unknown_devices.py``).

A client with ``decode_responses`` (as ``connect`` makes); a key of the wrong type reads as empty (one bad key
never fails the page)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from redis import Redis

from cityops import keys


@dataclass(frozen=True)
class UnknownDevice:
    device_id: str
    last_seen: float  # epoch seconds of the newest reading's arrival
    readings: int


@dataclass(frozen=True)
class GatewayUnknowns:
    gateway_id: str
    registered: bool  # False: the gateway itself is not in the registry
    last_seen: float
    today: int
    total: int  # over the days kept (keys.UNKNOWN_DEVICES_RETENTION_S)
    devices: list[UnknownDevice]  # newest first


def _days(now: float, tz: ZoneInfo) -> list[str]:
    """The day buckets kept, today first."""
    today = datetime.fromtimestamp(now, tz)
    return [keys.day_bucket(today - timedelta(days=i)) for i in range(keys.UNKNOWN_DEVICES_RETENTION_S // keys.DAY)]


def gateways_with_unknown_devices(r: Redis, now: float, tz: ZoneInfo, limit: int = 50,
                                  devices: int = 10) -> list[GatewayUnknowns]:
    """The ``limit`` gateways that most recently sent readings of unknown devices within the retention, newest first,
    each with its ``devices`` latest unknown ids. One round trip for the indexes and counts, one for the ids."""
    since = now - keys.UNKNOWN_DEVICES_RETENTION_S
    days = _days(now, tz)
    pipe = r.pipeline(transaction=False)
    pipe.zrevrangebyscore(keys.unknown_device_gateways(), "+inf", since, start=0, num=limit, withscores=True)
    pipe.zrevrangebyscore(keys.unknown_device_strangers(), "+inf", since, start=0, num=limit, withscores=True)
    for day in days:
        pipe.hgetall(keys.unknown_devices_daily(day))
    registered, strangers, *daily = pipe.execute(raise_on_error=False)
    registered, strangers, daily = _ok(registered, []), _ok(strangers, []), [_ok(d, {}) for d in daily]
    found = sorted([(gw, score, True) for gw, score in registered] + [(gw, score, False) for gw, score in strangers],
                   key=lambda g: -g[1])[:limit]
    pipe = r.pipeline(transaction=False)
    for gw, _, _ in found:
        pipe.zrevrange(keys.unknown_device_ids(gw), 0, devices - 1, withscores=True)
        pipe.hgetall(keys.unknown_device_counts(gw))
    replies = [_ok(v, None) for v in pipe.execute(raise_on_error=False)]
    out = []
    for i, (gw, score, is_registered) in enumerate(found):
        members, counts = replies[2 * i] or [], replies[2 * i + 1] or {}
        listed = [UnknownDevice(m, float(s), _int(counts.get(m))) for m, s in members]
        out.append(GatewayUnknowns(gw, is_registered, float(score), _int(daily[0].get(gw)),
                                   sum(_int(d.get(gw)) for d in daily), listed))
    return out


def _ok(reply: object, empty: object) -> object:
    """A pipeline reply, or ``empty`` in place of an error (a key of the wrong type)."""
    return empty if isinstance(reply, Exception) else reply


def _int(v: str | None) -> int:
    """A counter as stored (absent: 0; not a number, which no writer stores: 0 rather than a broken page)."""
    try:
        return int(v or 0)
    except ValueError:
        return 0
