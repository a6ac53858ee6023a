"""What every agent does with a batch: decode, drop repeats, project, refuse, apply once, and dead-letter an
event that Redis could not take."""

from __future__ import annotations

import gc
import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeVar

from faust.types import EventT

from cityops import observability
from cityops.schemas import ContractError, decode
from streams import runtime
from streams.deadletter import DEAD_LETTER_PREFIX, refuse
from streams.effects import ApplyResult, Effects
from streams.topics import TopicSpec

M = TypeVar("M")
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Origin:
    """Where one event's effects came from, to dead-letter it if Redis cannot take them."""

    event: EventT
    event_id: str


async def decode_batch(events: Sequence[EventT], spec: TopicSpec[M],
                       refusals: list[Effects]) -> list[tuple[EventT, M]]:
    """Messages of ``spec``'s topic decoded to its model, in order; each bad one is refused (dead letter + count)."""
    out: list[tuple[EventT, M]] = []
    topic, model = spec.name, spec.model
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


async def apply(effects: list[Effects]) -> list[ApplyResult]:
    """Apply each event's effects once; per event, applied, duplicate or failed (true only when applied)."""
    results = await runtime.writer().apply(effects)
    # Events applied now (a sensor part claims several envelopes); a dead letter's count is no applied event.
    observability.count_applied(sum(1 + len(eff.claims) for eff, result in zip(effects, results, strict=True)
                                    if result and not eff.event_id.startswith(DEAD_LETTER_PREFIX)))
    return results


async def apply_or_dead_letter(effects: list[Effects], origins: Sequence[Origin | None],
                               topic: str) -> list[ApplyResult]:
    """Apply each event's effects once; an event Redis could not take (its ``origins`` entry) is dead-lettered
    with the reason, stage ``apply``, and the others apply all the same.

    ``origins[i]`` is None for effects that only count a dead letter already sent: one of those that fails
    is logged, not dead-lettered again (that could go on for ever).
    """
    results = await apply(effects)
    letters: list[Effects] = []
    for eff, origin, result in zip(effects, origins, results, strict=True):
        if not result.failed:
            continue
        if origin is None:
            log.error("dead-letter count %s not written: %s", eff.event_id, result.reason)
            continue
        log.warning("%s: event %s not applied, dead-lettered: %s", topic, origin.event_id, result.reason)
        letters.append(await refuse(origin.event, topic, origin.event.message.value, result.reason, "apply",
                                    origin.event_id))
    if letters:
        for eff, result in zip(letters, await apply(letters), strict=True):
            if result.failed:
                log.error("dead-letter count %s not written: %s", eff.event_id, result.reason)
    return results


@contextmanager
def gc_paused() -> Iterator[None]:
    """Run a batch's synchronous, allocation-heavy work (decoding, projecting) with the cyclic collector paused.

    Why: a sensor batch allocates tens of thousands of small containers (decoded JSON, columns, window
    buckets, script operations), none of them in reference cycles, so reference counting frees them.
    With the collector on, every 700 allocations start a collection and every hundredth one traverses
    the worker's whole heap (Faust, the city model), a large share of a sensor batch's cost.
    Paused, it runs once after the batch instead. Never hold it across an ``await``: other tasks would
    run with the collector paused too.
    """
    if not gc.isenabled():  # already paused by a caller: leave it to them
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
