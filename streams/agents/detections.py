"""AI captures → judged by the capture rules; accepted ones of a trusted type open a case dispatched to the
right department, the others wait in the duty officer's review queue (streams/detection_projection.py)."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import orjson
from faust.types import EventT

from cityops import keys
from cityops.schemas import encode
from streams import runtime
from streams.agents.batch import Origin, apply_or_dead_letter, decode_batch, drop_repeats
from streams.agents.redis_outage import until_applied
from streams.app import app
from streams.deadletter import refuse
from streams.detection_projection import capture_id, project_detection
from streams.effects import Effects
from streams.outbox import stage
from streams.topics import CASES, DETECTIONS

cases_topic = CASES.channel()  # derived case events go here (tests put a recorder in its place)

log = logging.getLogger("cityops.detections")


async def process(events: Sequence[EventT]) -> None:
    """One batch: each capture judged against its camera's recent ones, applied once; a bad one dead-lettered."""
    topic = DETECTIONS.name
    effects: list[Effects] = []
    decoded = await drop_repeats(await decode_batch(events, DETECTIONS, effects), capture_id)
    origins: list[Origin | None] = [None] * len(effects)
    cameras = sorted({m.camera_id for _, m in decoded})
    recent: dict[str, list[dict]] = {}
    if cameras:
        async with runtime.redis().pipeline(transaction=False) as pipe:
            for cam in cameras:
                pipe.hvals(keys.camera_recent(cam))
            for cam, values in zip(cameras, await pipe.execute(raise_on_error=False), strict=True):
                recent[cam] = _recent(cam, values)
    ctx = runtime.detection_context()
    derived: list[tuple[int | None, list]] = []  # (its effects' place in effects, derived case events)
    for event, det in decoded:
        outcome = project_detection(det, recent.setdefault(det.camera_id, []), ctx)
        if outcome.refused:
            effects.append(await refuse(event, topic, event.message.value, outcome.reason, "validate", det.event_id))
            origins.append(None)
            continue
        if outcome.reason:
            log.info("capture %s set aside: %s", det.event_id, outcome.reason)
        if outcome.effects is not None:
            stage(outcome.effects, outcome.cases)  # written with the capture's effects, atomically
            effects.append(outcome.effects)
            origins.append(Origin(event, det.event_id))
        derived.append((len(effects) - 1 if outcome.effects is not None else None, outcome.cases))
    results = await apply_or_dead_letter(effects, origins, topic)
    for place, cases in derived:
        if place is not None and results[place].failed:  # its outbox entry was not written: no case either
            continue
        for case_event in cases:
            await cases_topic.send(key=case_event.case_id.encode(), value=encode(case_event))


def _recent(camera: str, values: object) -> list[dict]:
    """A camera's recent captures as stored; an unreadable store or entry is skipped with a log line."""
    if isinstance(values, Exception):
        log.warning("recent captures of camera %s unreadable, judged without them: %s", camera, values)
        return []
    out = []
    for value in values:  # type: ignore[attr-defined]
        try:
            out.append(orjson.loads(value))
        except orjson.JSONDecodeError:
            log.warning("a recent capture of camera %s is no JSON, skipped: %.80r", camera, value)
    return out


@app.agent(DETECTIONS.channel())
async def detection_agent(stream):  # noqa: ANN001
    async for events in stream.take_events(200, within=0.2):
        await until_applied(process, events)
