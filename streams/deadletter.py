"""The refusal path: a bad message goes to the dead-letter topic with its reason, and is counted.

The count is written through the exactly-once writer keyed by the message's topic/partition/offset,
so a redelivered bad message is not counted twice either.
"""

from __future__ import annotations

import re
from typing import Any

import orjson
from faust.types import EventT

from cityops import keys, observability
from cityops.schemas import dead_letter, encode
from cityops.settings import get_settings
from streams.effects import Effects
from streams.topics import channel

deadletter_topic = channel("deadletter")  # tests put a recorder in its place
DEAD_LETTER_PREFIX = "dlq:"  # the event ids of the effects that count a dead letter

_LOCATION = re.compile(r"^[\w.\[\]-]{1,80}: ")  # "reading.temp_c: ..." (schemas.format_errors)
_WORD = re.compile(r"[^\W\d_]+(?:[-'][^\W\d_]+)*")  # letters only: ids and numbers are not part of a class
REASON_CLASS_WORDS = 4
REASON_CLASS_CHARS = 40


def reason_class(reason: str) -> str:
    """The reason without its field path, ids or values: the first few letter-only words of its first clause.

    Why: the hourly counter groups refusals by reason, and a raw reason holds field names and values the sender
    chose, so counting raw reasons would let one sender grow the hash without bound."""
    head = _LOCATION.sub("", reason.split(";", 1)[0].strip(), count=1).split(":", 1)[0]
    words = [w for w in head.split() if _WORD.fullmatch(w)][:REASON_CLASS_WORDS]
    return " ".join(words).lower()[:REASON_CLASS_CHARS] or "other"


async def refuse(event: EventT | None, topic: str, raw: Any, reason: str, stage: str,
                 event_id: str | None = None, suffix: str = "") -> Effects:
    """Publish the dead letter and return the effects that count it (the caller applies them)."""
    msg = event.message if event is not None else None
    record = dead_letter(topic, raw, reason, stage,
                         partition=msg.partition if msg else None, offset=msg.offset if msg else None,
                         key=msg.key if msg else None, event_id=event_id)
    await deadletter_topic.send(key=(event_id or "").encode() or None, value=encode(record))
    position = f"{msg.partition}:{msg.offset}" if msg else (event_id or reason)
    observability.count_refused(topic, stage)
    eff = Effects(f"{DEAD_LETTER_PREFIX}{topic}:{position}{suffix}")
    day = keys.day_bucket(record.received_at.astimezone(get_settings().tz))
    eff.hincrby(keys.dlq_daily(day), f"{topic}:{stage}").expire(keys.dlq_daily(day), keys.DAILY_RETENTION_S)
    hour = keys.dlq_hourly(keys.hour_bucket(record.received_at.astimezone(get_settings().tz)))
    eff.hincrby(hour, f"{topic}:{stage}:{reason_class(reason)}").expire(hour, keys.HOURLY_RETENTION_S)
    eff.xadd(keys.dlq_recent(), keys.DLQ_RECENT_MAXLEN, orjson.dumps(
        {"topic": topic, "stage": stage, "reason": reason, "event_id": event_id,
         "at": record.received_at.isoformat(), "payload": record.payload[:500],
         "encoding": record.payload_encoding, "size": record.payload_size,
         "truncated": record.payload_truncated or len(record.payload) > 500}).decode())
    return eff
