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

import logging
import time

import orjson
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from cityops import bad_member, keys
from cityops.schemas import CaseEvent, ContractError, decode, encode
from cityops.settings import get_settings
from streams.deadletter import refuse
from streams.effects import SERVER_CONDITIONS, Effects, EffectWriter

log = logging.getLogger(__name__)

OUTBOX_MAXLEN = 1_000_000
RESEND_AFTER_S = 5.0


def stage(effects: Effects, events: list[CaseEvent]) -> None:
    """Record derived case events with the effects that cause them."""
    for ev in events:
        effects.xadd(keys.outbox(), OUTBOX_MAXLEN, orjson.dumps(
            {"event_id": ev.event_id, "case_id": ev.case_id, "payload": encode(ev).decode()}).decode())


def _entry(fields: dict[str, str]) -> dict[str, str]:
    """An outbox entry's record, checked as :func:`stage` writes it; ContractError with the reason otherwise."""
    try:
        rec = orjson.loads(fields["json"])
    except KeyError:
        raise ContractError("outbox entry has no json field") from None
    except orjson.JSONDecodeError as err:
        raise ContractError(f"outbox entry is not valid JSON: {err}") from None
    if not isinstance(rec, dict):
        raise ContractError(f"outbox entry is a JSON {type(rec).__name__}, not an object")
    missing = [name for name in ("event_id", "case_id", "payload") if not isinstance(rec.get(name), str)]
    if missing:
        raise ContractError(f"outbox entry lacks text field(s) {', '.join(missing)}", event_id=_text(rec, "event_id"))
    event = decode(CaseEvent, rec["payload"])
    if (event.event_id, event.case_id) != (rec["event_id"], rec["case_id"]):
        raise ContractError(f"outbox entry names {rec['event_id']!r} of case {rec['case_id']!r}, its payload "
                            f"{event.event_id!r} of case {event.case_id!r}", event_id=rec["event_id"])
    return rec


def _text(rec: dict, name: str) -> str | None:
    value = rec.get(name)
    return value if isinstance(value, str) else None


async def _refuse(redis: Redis, bad: list[tuple[str, dict[str, str], ContractError]]) -> None:
    """Dead-letter entries that are no derived case event (stage ``validate``, with the reason), counted once
    per entry: the dead letter's id is the entry's, so a pass that stopped before dropping them counts none twice."""
    topic = get_settings().topics.cases
    letters: list[Effects] = []
    for entry_id, fields, err in bad:
        log.warning("outbox entry %s dead-lettered: %s", entry_id, err.reason)
        raw = fields.get("json", orjson.dumps(fields).decode())
        letters.append(await refuse(None, topic, raw, f"outbox entry {entry_id}: {err.reason}", "validate",
                                    event_id=err.event_id, suffix=f"@outbox:{entry_id}"))
    for eff, result in zip(letters, await EffectWriter(redis, get_settings().dedupe_ttl_s).apply(letters),
                           strict=True):
        if result.failed:
            log.error("dead-letter count %s not written: %s", eff.event_id, result.reason)


async def relay(redis: Redis, send, now: float | None = None, batch: int = 500) -> tuple[int, int]:  # noqa: ANN001
    """Drop applied entries, re-send old unapplied ones; returns (dropped, re-sent).

    An entry that is no derived case event (it does not parse, lacks a field, breaks the contract) is
    dead-lettered and dropped, so the entries after it still go out; a ``co:outbox`` that is no stream is
    logged and the pass skipped, for the other timers to go on.
    """
    now = time.time() if now is None else now
    try:
        entries = await redis.xrange(keys.outbox(), count=batch)
    except ResponseError as err:
        if isinstance(err, SERVER_CONDITIONS):
            raise
        bad_member.skip("outbox relay", keys.outbox(), err)
        return 0, 0
    if not entries:
        return 0, 0
    records: list[tuple[str, dict[str, str]]] = []
    bad: list[tuple[str, dict[str, str], ContractError]] = []
    for entry_id, fields in entries:
        try:
            records.append((entry_id, _entry(fields)))
        except ContractError as err:
            bad.append((entry_id, fields, err))
    if bad:
        await _refuse(redis, bad)
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
    stale = done + [entry_id for entry_id, _ in resent] + [entry_id for entry_id, _, _ in bad]
    if stale:
        await redis.xdel(keys.outbox(), *stale)
    return len(done), len(resent)
