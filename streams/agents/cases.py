"""Case lifecycle events → case state and KPI counters."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

from faust.types import TP, EventT

from cityops import keys, stream_clock
from cityops.schemas import CaseEvent
from streams import runtime
from streams.agents.batch import Origin, apply_or_dead_letter, decode_batch, drop_repeats
from streams.agents.redis_outage import until_applied
from streams.app import app
from streams.case_projection import CaseView, LateEvent, ProjectionError, project_case_event
from streams.deadletter import refuse
from streams.effects import Effects
from streams.topics import CASES

log = logging.getLogger(__name__)


async def process(events: Sequence[EventT]) -> None:
    """One batch: each event projected from its case's state, applied once; a bad one is dead-lettered alone."""
    topic = CASES.name
    effects: list[Effects] = []
    decoded = await drop_repeats(await decode_batch(events, CASES, effects), lambda m: m.event_id)
    origins: list[Origin | None] = [None] * len(effects)  # so far: dead-letter counts only
    case_ids = sorted({m.case_id for _, m in decoded})
    hashes = await runtime.writer().hashes([keys.case(cid) for cid in case_ids])
    views: dict[str, CaseView | None] = {}
    unreadable: dict[str, str] = {}
    for cid, data in zip(case_ids, hashes, strict=True):
        try:
            views[cid] = CaseView.from_hash(cid, data)
        except (TypeError, ValueError) as err:  # a stored field that is not what the projection writes
            unreadable[cid] = f"stored case {cid!r} unreadable: {err}"
            log.warning("%s", unreadable[cid])
    await _record_stream_time(decoded, reading=True)
    ctx = runtime.case_context()
    for event, msg in decoded:
        if msg.case_id in unreadable:
            effects.append(await refuse(event, topic, event.message.value, unreadable[msg.case_id], "apply",
                                        msg.event_id))
            origins.append(None)
            continue
        try:
            eff, views[msg.case_id] = project_case_event(msg, views.get(msg.case_id), ctx)
        except ProjectionError as err:
            stage = "late" if isinstance(err, LateEvent) else "transition"
            effects.append(await refuse(event, topic, event.message.value, str(err), stage, msg.event_id))
            origins.append(None)
            continue
        effects.append(eff)
        origins.append(Origin(event, msg.event_id))
    await apply_or_dead_letter(effects, origins, topic)
    await _record_stream_time(decoded)


_marks: dict[int, stream_clock.Mark] = {}  # this process's partitions' marks (cityops/stream_clock.py)


async def _record_stream_time(decoded: Sequence[tuple[EventT, CaseEvent]], reading: bool = False) -> None:
    """Each partition's mark for the SLA timer's clock: while a batch is applied (``reading``) its oldest event
    time, marked behind, so the clock cannot pass a step not applied yet; once applied, its newest, and whether
    more is waiting in the partition."""
    times: dict[TP, list[float]] = {}
    for event, msg in decoded:
        times.setdefault(TP(event.message.topic, event.message.partition), []).append(msg.event_time.timestamp())
    wall = time.time()
    moved = {}
    for tp, stamps in times.items():
        if reading:
            mark = stream_clock.advance(_marks.get(tp.partition), min(stamps), wall, behind=True)
        else:
            mark = stream_clock.advance(_marks.get(tp.partition), max(stamps), wall, _behind(tp))
        if mark is not None:
            _marks[tp.partition] = moved[str(tp.partition)] = mark
    if moved:
        await runtime.redis().hset(keys.stream_clock(), mapping={k: m.encode() for k, m in moved.items()})


def _behind(tp: TP) -> bool:
    """Whether messages of ``tp`` were known to be waiting (the highwater of the last fetch) after this read."""
    consumer = app._consumer  # None outside a running worker (the agent's batch function driven by a test)
    if consumer is None:
        return False
    high, read = consumer.highwater(tp), consumer._read_offset.get(tp)
    return high is not None and read is not None and int(high) - (int(read) + 1) > 0


@app.agent(CASES.channel())
async def case_agent(stream):  # noqa: ANN001 - Faust passes its stream type
    async for events in stream.take_events(500, within=0.2):
        await until_applied(process, events)
