"""Notification reads for the admin page: the newest messages of the outbox (``co:notify:*``, written only by the
notify process) with their delivery state, attempts and last error, and the count per state."""

from __future__ import annotations

from redis import Redis

from cityops import keys
from cityops.read.replies import replies

FIELDS = ("route", "channel", "subject", "kind", "title", "state", "attempts", "created", "next_at", "sent_at",
          "last_error", "summary")


def recent_notifications(r: Redis, count: int = 200) -> list[dict[str, str]]:
    """The newest ``count`` notifications, newest first, each with ``id`` and its :data:`FIELDS` (absent: '')."""
    ids = r.zrevrange(keys.notifications_log(), 0, count - 1)
    pipe = r.pipeline(transaction=False)
    for mid in ids:
        pipe.hmget(keys.notification(mid), FIELDS)
    out = []
    for mid, values in zip(ids, replies(pipe, ids, "notifications"), strict=True):
        if isinstance(values, list) and any(v is not None for v in values):  # an expired hash has nothing to show
            out.append({"id": mid, **{k: v or "" for k, v in zip(FIELDS, values, strict=True)}})
    return out


def notification_states(rows: list[dict[str, str]]) -> dict[str, int]:
    """How many of ``rows`` are in each state (pending, sending, sent, failed, held, summarised)."""
    out: dict[str, int] = {}
    for row in rows:
        out[row["state"]] = out.get(row["state"], 0) + 1
    return out
