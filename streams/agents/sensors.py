"""Gateway envelopes → latest value per sensor. Bad readings are refused one by one."""

from __future__ import annotations

from collections.abc import Sequence

from faust.types import EventT

from cityops.schemas import ContractError, decode_sensor_envelope
from cityops.settings import get_settings
from streams.agents.batch import apply
from streams.app import app, sensors_topic
from streams.deadletter import refuse
from streams.effects import Effects
from streams.projections import project_readings


async def process(events: Sequence[EventT]) -> None:
    settings = get_settings()
    topic = settings.topics.sensors
    effects: list[Effects] = []
    for event in events:
        raw = event.message.value
        try:
            envelope, good, bad = decode_sensor_envelope(raw)
        except ContractError as err:
            effects.append(await refuse(event, topic, raw, err.reason, "validate", err.event_id))
            continue
        for index, reading, reason in bad:
            effects.append(await refuse(event, topic, reading, reason, "reading",
                                        f"{envelope.envelope_id}#{index}", suffix=f"#{index}"))
        if good:
            effects.append(project_readings(envelope.envelope_id, good, settings.tz))
    await apply(effects)


@app.agent(sensors_topic)
async def sensor_agent(stream):  # noqa: ANN001
    async for events in stream.take_events(200, within=0.2):
        await process(events)
