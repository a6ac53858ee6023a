"""AI captures → capture counters and the captures stream the console shows."""

from __future__ import annotations

from collections.abc import Sequence

from faust.types import EventT

from cityops.schemas import Detection
from cityops.settings import get_settings
from streams import runtime
from streams.agents.batch import apply, decode_batch, drop_repeats
from streams.app import app, detections_topic
from streams.effects import Effects
from streams.projections import project_detection


async def process(events: Sequence[EventT]) -> None:
    settings = get_settings()
    effects: list[Effects] = []
    decoded = await drop_repeats(await decode_batch(events, Detection, settings.topics.detections, effects),
                                 lambda m: m.event_id)
    city_code = runtime.city().code
    effects.extend(project_detection(msg, settings.tz, city_code) for _, msg in decoded)
    await apply(effects)


@app.agent(detections_topic)
async def detection_agent(stream):  # noqa: ANN001
    async for events in stream.take_events(200, within=0.2):
        await process(events)
