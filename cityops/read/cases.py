"""Case reads: one case and its timeline, overdue cases, repeated problems, captures, dead letters, audit."""

from __future__ import annotations

from datetime import datetime

import orjson
from redis import Redis

from cityops import bad_member, keys
from cityops.read.replies import json_entries, replies


def case(r: Redis, case_id: str) -> dict[str, str]:
    return r.hgetall(keys.case(case_id))


def case_timeline(r: Redis, case_id: str) -> list[dict]:
    """The case's steps, oldest first (the report's text, source and evidence are in :func:`case`)."""
    out = []
    for i, entry in enumerate(r.lrange(keys.case_timeline(case_id), 0, -1)):
        try:
            out.append(orjson.loads(entry))
        except orjson.JSONDecodeError as err:
            bad_member.skip("case timeline", f"{case_id}#{i}", err)
    return out


def overdue_cases(r: Redis, scope: str, scope_id: str, limit: int = 50) -> list[dict[str, str]]:
    """Open cases past their deadline *now* in one scope, longest overdue first (earliest deadline).

    Each is the case's hash plus ``case_id``; the briefing lists them. Cases whose hash has gone
    (retention) are left out.
    """
    ids = r.zrange(keys.overdue(scope, scope_id), 0, -1)
    pipe = r.pipeline(transaction=False)
    for case_id in ids:
        pipe.hgetall(keys.case(case_id))
    rows = [{"case_id": cid, **data} for cid, data in zip(ids, replies(pipe, ids, "overdue cases"), strict=True)
            if data]
    rows.sort(key=lambda row: (row.get("deadline", "") or "9999", row["case_id"]))
    return rows[:limit]


def repeated_problems(r: Redis, day: datetime, scope: str, scope_id: str,
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
            for cid, row in zip(members, replies(pipe, members, "repeated problems"), strict=True) if row is not None]


def recent_captures(r: Redis, count: int = 20) -> list[dict]:
    return [value for _id, value in json_entries(r.xrevrange(keys.captures(), count=count), "captures")]


def recent_dead_letters(r: Redis, count: int = 50) -> list[dict]:
    return [value for _id, value in json_entries(r.xrevrange(keys.dlq_recent(), count=count), "dead letters")]


def dead_letter_counts(r: Redis, hours: list[str]) -> dict[str, dict[tuple[str, str, str], int]]:
    """Refusals per local hour bucket (``YYYYMMDDHH``) by (topic, stage, reason class), one round trip."""
    pipe = r.pipeline(transaction=False)
    for hour in hours:
        pipe.hgetall(keys.dlq_hourly(hour))
    out: dict[str, dict[tuple[str, str, str], int]] = {}
    for hour, fields in zip(hours, pipe.execute(), strict=True):
        counts: dict[tuple[str, str, str], int] = {}
        for name, value in fields.items():
            topic, stage, reason = ([*name.split(":", 2), "", ""])[:3]
            try:
                counts[(topic, stage, reason)] = counts.get((topic, stage, reason), 0) + int(value)
            except ValueError as err:
                bad_member.skip("dead letter counts", f"{hour}#{name}", err)
        out[hour] = counts
    return out


def audit_trail(r: Redis, count: int = 50) -> list[dict]:
    """The newest operator commands first (who, when, what, before/after)."""
    return [value for _id, value in json_entries(r.xrevrange(keys.audit(), count=count), "audit trail")]
