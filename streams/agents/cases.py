"""Case lifecycle events → case state and KPI counters."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from faust.types import EventT

from cityops import keys
from streams import runtime
from streams.agents.batch import Origin, apply_or_dead_letter, decode_batch, drop_repeats
from streams.agents.redis_outage import until_applied
from streams.agents.stream_marks import PartitionMarks
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
    await _marks.record(((e, m.event_time.timestamp()) for e, m in decoded), reading=True)
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
    await _marks.record((e, m.event_time.timestamp()) for e, m in decoded)


_marks = PartitionMarks(keys.stream_clock())  # for the SLA timer's clock (cityops/stream_clock.py)


@app.agent(CASES.channel())
async def case_agent(stream):  # noqa: ANN001 - Faust passes its stream type
    async for events in stream.take_events(500, within=0.2):
        await until_applied(process, events)
