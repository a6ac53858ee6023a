"""The refusal path: a bad message goes to the dead-letter topic with its reason, and is counted.

The count is written through the exactly-once writer keyed by the message's topic/partition/offset,
so a redelivered bad message is not counted twice either.
"""

from __future__ import annotations

from typing import Any

import orjson
from faust.types import EventT

from cityops import keys
from cityops.schemas import dead_letter, encode
from cityops.settings import get_settings
from streams.effects import Effects
from streams.topics import channel

deadletter_topic = channel("deadletter")  # tests put a recorder in its place


async def refuse(event: EventT | None, topic: str, raw: Any, reason: str, stage: str,
                 event_id: str | None = None, suffix: str = "") -> Effects:
    """Publish the dead letter and return the effects that count it (the caller applies them)."""
    msg = event.message if event is not None else None
    record = dead_letter(topic, raw, reason, stage,
                         partition=msg.partition if msg else None, offset=msg.offset if msg else None,
                         key=msg.key if msg else None, event_id=event_id)
    await deadletter_topic.send(key=(event_id or "").encode() or None, value=encode(record))
    position = f"{msg.partition}:{msg.offset}" if msg else (event_id or reason)
    eff = Effects(f"dlq:{topic}:{position}{suffix}")
    day = keys.day_bucket(record.received_at.astimezone(get_settings().tz))
    eff.hincrby(keys.dlq_daily(day), f"{topic}:{stage}").expire(keys.dlq_daily(day), keys.DAILY_RETENTION_S)
    eff.xadd(keys.dlq_recent(), keys.DLQ_RECENT_MAXLEN, orjson.dumps(
        {"topic": topic, "stage": stage, "reason": reason, "event_id": event_id,
         "at": record.received_at.isoformat(), "payload": record.payload[:500]}).decode())
    return eff
