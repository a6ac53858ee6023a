"""AI captures → judged by the capture rules; accepted ones open a case dispatched to the right department."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import orjson
from faust.types import EventT

from cityops import keys
from cityops.schemas import Detection, encode
from cityops.settings import get_settings
from streams import runtime
from streams.agents.batch import apply, decode_batch, drop_repeats
from streams.agents.redis_outage import until_applied
from streams.app import app, cases_topic, detections_topic
from streams.deadletter import refuse
from streams.detection_projection import capture_id, project_detection
from streams.effects import Effects
from streams.outbox import stage

log = logging.getLogger("cityops.detections")


async def process(events: Sequence[EventT]) -> None:
    settings = get_settings()
    effects: list[Effects] = []
    decoded = await drop_repeats(await decode_batch(events, Detection, settings.topics.detections, effects),
                                 capture_id)
    cameras = sorted({m.camera_id for _, m in decoded})
    recent: dict[str, list[dict]] = {}
    if cameras:
        async with runtime.redis().pipeline(transaction=False) as pipe:
            for cam in cameras:
                pipe.hvals(keys.camera_recent(cam))
            for cam, values in zip(cameras, await pipe.execute(), strict=True):
                recent[cam] = [orjson.loads(v) for v in values]
    ctx = runtime.detection_context()
    derived = []
    for event, det in decoded:
        outcome = project_detection(det, recent.setdefault(det.camera_id, []), ctx)
        if outcome.refused:
            effects.append(await refuse(event, settings.topics.detections, event.message.value, outcome.reason,
                                        "validate", det.event_id))
            continue
        if outcome.reason:
            log.info("capture %s set aside: %s", det.event_id, outcome.reason)
        if outcome.effects is not None:
            stage(outcome.effects, outcome.cases)  # written with the capture's effects, atomically
            effects.append(outcome.effects)
        derived.extend(outcome.cases)
    await apply(effects)
    for case_event in derived:
        await cases_topic.send(key=case_event.case_id.encode(), value=encode(case_event))


@app.agent(detections_topic)
async def detection_agent(stream):  # noqa: ANN001
    async for events in stream.take_events(200, within=0.2):
        await until_applied(process, events)
