"""What every agent does with a batch: decode, drop repeats, project, refuse, apply once."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from faust.types import EventT

from cityops.schemas import ContractError, decode
from streams import runtime
from streams.deadletter import refuse
from streams.effects import Effects

M = TypeVar("M")


async def decode_batch(events: Sequence[EventT], model: type[M], topic: str,
                       refusals: list[Effects]) -> list[tuple[EventT, M]]:
    """Decoded messages in order; each bad one is refused (dead letter + count)."""
    out: list[tuple[EventT, M]] = []
    for event in events:
        raw = event.message.value
        try:
            out.append((event, decode(model, raw)))  # type: ignore[type-var]
        except ContractError as err:
            refusals.append(await refuse(event, topic, raw, err.reason, "validate", err.event_id))
    return out


async def drop_repeats(items: list[tuple[EventT, M]], event_id: Callable[[M], str]) -> list[tuple[EventT, M]]:
    """Leave out events already applied (redelivery, re-sent ids) and repeats inside the batch."""
    already = await runtime.writer().seen(event_id(m) for _, m in items)
    fresh: list[tuple[EventT, M]] = []
    in_batch: set[str] = set()
    for event, msg in items:
        eid = event_id(msg)
        if eid in already or eid in in_batch:
            continue
        in_batch.add(eid)
        fresh.append((event, msg))
    return fresh


async def apply(effects: list[Effects]) -> list[bool]:
    """Apply each event's effects once; per event, whether it was new."""
    return await runtime.writer().apply(effects)
