"""Transactional outbox for the case events the processors derive themselves.

A sustained sensor exceedance, an accepted AI capture or a duty officer's dispatch opens or moves a
case by publishing case events. Publishing straight to Kafka after marking the source event applied
would lose them if the worker or the (memory-only) embedded broker stopped before they were consumed:
the re-sent source would be recognised as applied and never derive them again. So the derived events
are written to ``co:outbox`` in the same atomic script as the source event's effects, published at
once, and re-published by :func:`relay` until the case agent has applied them (their ids are fixed
by their cause, so a re-publication is always harmless).
"""

from __future__ import annotations

import time

import orjson
from redis.asyncio import Redis

from cityops import keys
from cityops.schemas import CaseEvent, encode
from streams.effects import Effects

OUTBOX_MAXLEN = 1_000_000
RESEND_AFTER_S = 5.0


def stage(effects: Effects, events: list[CaseEvent]) -> None:
    """Record derived case events with the effects that cause them."""
    for ev in events:
        effects.xadd(keys.outbox(), OUTBOX_MAXLEN, orjson.dumps(
            {"event_id": ev.event_id, "case_id": ev.case_id, "payload": encode(ev).decode()}).decode())


async def relay(redis: Redis, send, now: float | None = None, batch: int = 500) -> tuple[int, int]:  # noqa: ANN001
    """Drop applied entries, re-send old unapplied ones; returns (dropped, re-sent)."""
    now = time.time() if now is None else now
    entries = await redis.xrange(keys.outbox(), count=batch)
    if not entries:
        return 0, 0
    records = [(entry_id, orjson.loads(fields["json"])) for entry_id, fields in entries]
    async with redis.pipeline(transaction=False) as pipe:
        for _, rec in records:
            pipe.exists(keys.seen(rec["event_id"]))
        applied = await pipe.execute()
    done = [entry_id for (entry_id, _), a in zip(records, applied, strict=True) if a]
    resent: list[tuple[str, dict]] = []
    for (entry_id, rec), a in zip(records, applied, strict=True):
        age = now - int(entry_id.split("-")[0]) / 1000.0
        if not a and age >= RESEND_AFTER_S:
            await send(rec["case_id"], rec["payload"].encode())
            resent.append((entry_id, rec))
    if resent:
        # Re-queue each re-sent entry with a fresh id, so it waits another RESEND_AFTER_S
        # instead of being re-sent on every pass while the case agent catches up.
        async with redis.pipeline(transaction=False) as pipe:
            for _, rec in resent:
                pipe.xadd(keys.outbox(), {"json": orjson.dumps(rec).decode()}, maxlen=OUTBOX_MAXLEN, approximate=True)
            await pipe.execute()
    stale = done + [entry_id for entry_id, _ in resent]
    if stale:
        await redis.xdel(keys.outbox(), *stale)
    return len(done), len(resent)
