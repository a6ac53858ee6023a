"""The notification outbox in Redis (``co:notify:*``, written only by the notify process): one hash per
(subject, route, channel), created at most once, and the sorted sets of what is due, held and logged.

Why an outbox: a receiver that is down must delay a message, not lose it, and a restart must not send it again.
A message is claimed once (``claim`` refuses an id that exists); it is marked ``sending`` before each attempt and
``sent`` after, so a process stopped in between finds it ``sending`` and marks it failed ("interrupted") instead of
sending it twice. States: ``pending`` (due at ``next_at``), ``sending``, ``sent``, ``failed``, ``held`` (waiting for
its flood window's summary), ``summarised``.
"""

from __future__ import annotations

import time
from typing import Any

import orjson
from redis import Redis
from redis.exceptions import WatchError

from cityops import keys
from notify.messages import Message

STATES = ("pending", "sending", "sent", "failed", "held", "summarised")


def message_id(route_id: str, channel_id: str, subject_id: str) -> str:
    """Route and channel ids hold no ``:`` (the routes file checks), so the id names one triple only."""
    return f"{route_id}:{channel_id}:{subject_id}"


def claim(r: Redis, mid: str, *, route: str, channel: str, subject: str, message: Message, now: float,
          held_until: float | None = None, extra: dict[str, str] | None = None) -> bool:
    """Create message ``mid`` unless it exists (True when created): due now, or held until a window closes."""
    key = keys.notification(mid)
    with r.pipeline() as pipe:
        try:
            pipe.watch(key)
            if pipe.exists(key):
                return False
            pipe.multi()
            pipe.hset(key, mapping={"route": route, "channel": channel, "subject": subject, "kind": message.kind,
                                    "title": message.title, "state": "held" if held_until else "pending",
                                    "attempts": 0, "created": now, "next_at": held_until or now,
                                    "body": orjson.dumps(message.to_stored()).decode(), **(extra or {})})
            pipe.expire(key, keys.NOTIFY_RETENTION_S)
            pipe.zadd(keys.notifications_log(), {mid: now})
            pipe.zremrangebyrank(keys.notifications_log(), 0, -keys.NOTIFY_LOG_CAP - 1)
            pipe.zadd(keys.notifications_held() if held_until else keys.notifications_due(), {mid: held_until or now})
            pipe.execute()
        except WatchError:  # the one writer is this process; a second one raced us: it has the message
            return False
    return True


def due(r: Redis, now: float, limit: int = 50) -> list[str]:
    return r.zrangebyscore(keys.notifications_due(), "-inf", now, start=0, num=limit)


def load(r: Redis, mid: str) -> dict[str, str]:
    return r.hgetall(keys.notification(mid))


def body_of(state: dict[str, str]) -> Message:
    return Message.from_stored(orjson.loads(state["body"]))


def mark_sending(r: Redis, mid: str) -> int:
    """Before an attempt: the attempt number it is."""
    key = keys.notification(mid)
    pipe = r.pipeline()
    pipe.hset(key, "state", "sending")
    pipe.hincrby(key, "attempts", 1)
    return int(pipe.execute()[1])


def mark_sent(r: Redis, mid: str, now: float) -> None:
    pipe = r.pipeline()
    pipe.hset(keys.notification(mid), mapping={"state": "sent", "sent_at": now})
    pipe.zrem(keys.notifications_due(), mid)
    pipe.execute()


def mark_retry(r: Redis, mid: str, next_at: float, error: str) -> None:
    pipe = r.pipeline()
    pipe.hset(keys.notification(mid), mapping={"state": "pending", "next_at": next_at, "last_error": error[:500]})
    pipe.zadd(keys.notifications_due(), {mid: next_at})
    pipe.execute()


def mark_failed(r: Redis, mid: str, error: str) -> None:
    pipe = r.pipeline()
    pipe.hset(keys.notification(mid), mapping={"state": "failed", "last_error": error[:500]})
    pipe.zrem(keys.notifications_due(), mid)
    pipe.execute()


def recover_interrupted(r: Redis) -> int:
    """On start: messages a stopped process left ``sending`` may have arrived; they fail instead of going twice."""
    n = 0
    for mid in r.zrange(keys.notifications_due(), 0, -1):
        if r.hget(keys.notification(mid), "state") == "sending":
            mark_failed(r, mid, "interrupted while sending (process stopped): not resent, so nothing doubles")
            n += 1
    return n


def held_due(r: Redis, now: float) -> list[tuple[str, float]]:
    """(message id, window end) of held messages whose window has closed."""
    return [(m, s) for m, s in r.zrangebyscore(keys.notifications_held(), "-inf", now, withscores=True)]


def mark_summarised(r: Redis, mids: list[str], summary_id: str) -> None:
    pipe = r.pipeline()
    for mid in mids:
        pipe.hset(keys.notification(mid), mapping={"state": "summarised", "summary": summary_id})
        pipe.zrem(keys.notifications_held(), mid)
    pipe.execute()


def subject_fields(state: dict[str, str]) -> dict[str, Any]:
    """What a summary needs of a held message: its subject id, kind and sensor."""
    return {"id": state.get("subject"), "kind": state.get("alert_kind"), "sensor_id": state.get("sensor_id")}


def backoff(attempt: int, base_s: float, cap_s: float) -> float:
    """Seconds before attempt ``attempt + 1``: base · 2^(attempt-1), at most ``cap_s``."""
    return min(cap_s, base_s * 2 ** max(0, attempt - 1))


def now_s() -> float:
    return time.time()
