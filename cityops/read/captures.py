"""Capture review reads: the captures waiting for a duty officer's 确认立案 / 误报, the day's review counts (false
alarm rates per camera and type) and the capture → dispatch samples (median, p90 against the 5-minute target).

Why read by hour: the queue is kept in hourly sorted sets that expire by themselves (``keys.capture_queue``), so
what nobody reviewed within the window (``CITYOPS_CAPTURE_REVIEW_S``) leaves the queue without a timer; a capture
whose record has gone or that was decided meanwhile is left out.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo

import orjson
from redis import Redis

from cityops import bad_member, keys
from cityops.read.replies import ints, replies


def _hours(now: datetime, window_s: float, tz: tzinfo) -> list[str]:
    """The local hour buckets a capture seen within ``window_s`` before ``now`` can be queued in."""
    start = (now - timedelta(seconds=window_s)).astimezone(tz).replace(minute=0, second=0, microsecond=0)
    out, t, end = [], start, now.astimezone(tz)
    while t <= end:
        out.append(keys.hour_bucket(t))
        t += timedelta(hours=1)
    return out


@dataclass
class ReviewQueue:
    """Captures waiting for review, oldest first (``rows``, at most the limit), and how many wait in all."""

    rows: list[dict] = field(default_factory=list)
    waiting: int = 0


def review_queue(r: Redis, now: datetime, window_s: float, tz: tzinfo, limit: int = 50) -> ReviewQueue:
    """The pending captures last seen within ``window_s`` before ``now``: each the capture's fields
    (``Detection``) plus ``case_id``, ``camera_name``, ``grid``, ``district`` and ``waiting_s``."""
    hours = _hours(now, window_s, tz)
    low = now.timestamp() - window_s
    pipe = r.pipeline(transaction=False)
    for hour in hours:
        pipe.zrangebyscore(keys.capture_queue(hour), low, "+inf", withscores=True)
    members = sorted((score, eid) for reply in replies(pipe, hours, "capture queue") for eid, score in reply or [])
    pipe = r.pipeline(transaction=False)
    for _, eid in members:
        pipe.hgetall(keys.capture_review(eid))
    out = ReviewQueue()
    for (score, eid), data in zip(members, replies(pipe, [e for _, e in members], "capture reviews"), strict=True):
        if not data or data.get("status") != "pending":
            continue
        out.waiting += 1
        if len(out.rows) >= limit:
            continue
        try:
            det = orjson.loads(data["detection"])
            if not isinstance(det, dict):
                raise TypeError(f"a JSON {type(det).__name__}")
        except (KeyError, TypeError, orjson.JSONDecodeError) as err:
            bad_member.skip("capture reviews", eid, f"record unreadable: {err!r}")
            out.waiting -= 1
            continue
        out.rows.append(det | {k: data.get(k, "") for k in ("case_id", "camera_name", "grid", "district")}
                        | {"waiting_s": max(0.0, now.timestamp() - score)})
    return out


def capture_review(r: Redis, event_id: str) -> dict[str, str]:
    """One capture's review record (status ``pending``, ``confirmed``, ``false_alarm`` or ``auto``)."""
    return r.hgetall(keys.capture_review(event_id))


@dataclass
class ReviewStats:
    """Review counts over some days: totals and, per camera and per type, ``reviewed`` and ``false_alarm``."""

    totals: dict[str, int] = field(default_factory=dict)  # queued, auto, reviewed, confirmed, false_alarm
    by_camera: dict[str, dict[str, int]] = field(default_factory=dict)
    by_type: dict[str, dict[str, int]] = field(default_factory=dict)


def review_stats(r: Redis, days: Sequence[str]) -> ReviewStats:
    """The review counters of these local days (``YYYYMMDD``) summed."""
    pipe = r.pipeline(transaction=False)
    for day in days:
        pipe.hgetall(keys.capture_stats_daily(day))
    out = ReviewStats()
    for data in replies(pipe, list(days), "capture review stats"):
        for name, n in ints(data or {}).items():
            outcome, _, rest = name.partition(":")
            if not rest:
                out.totals[outcome] = out.totals.get(outcome, 0) + n
                continue
            scope, _, scope_id = rest.partition(":")
            table = out.by_camera if scope == "camera" else out.by_type if scope == "type" else None
            if table is not None:
                counts = table.setdefault(scope_id, {})
                counts[outcome] = counts.get(outcome, 0) + n
    return out


def dispatch_lags(r: Redis, days: Iterable[str]) -> list[float]:
    """Capture → dispatch seconds of the AI cases dispatched on these days (unreadable samples left out)."""
    days = list(days)
    pipe = r.pipeline(transaction=False)
    for day in days:
        pipe.lrange(keys.capture_lag_daily(day), 0, -1)
    out: list[float] = []
    for day, values in zip(days, replies(pipe, days, "capture dispatch times"), strict=True):
        for value in values or []:
            try:
                lag = float(value)
            except ValueError:
                bad_member.skip("capture dispatch times", day, f"sample {value!r} is no number")
                continue
            if math.isfinite(lag):
                out.append(lag)
    return out
