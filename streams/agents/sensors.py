"""Gateway envelopes → sensor state, windows, rules, alerts and IoT cases. Bad readings are refused one by one."""

from __future__ import annotations

import time
from collections.abc import Sequence

from faust.types import EventT

from cityops import keys
from cityops.schemas import ContractError, decode_sensor_envelope, encode
from cityops.settings import get_settings
from streams import runtime
from streams.agents.batch import apply, drop_repeats
from streams.app import app, cases_topic, sensors_topic
from streams.deadletter import refuse
from streams.effects import Effects
from streams.outbox import stage
from streams.sensor_projection import SensorState, project_envelope


async def process(events: Sequence[EventT]) -> None:
    settings = get_settings()
    topic = settings.topics.sensors
    effects: list[Effects] = []
    envelopes = []
    for event in events:
        raw = event.message.value
        try:
            envelope, good, bad = decode_sensor_envelope(raw)
        except ContractError as err:
            effects.append(await refuse(event, topic, raw, err.reason, "validate", err.event_id))
            continue
        envelopes.append((event, (envelope, good, bad)))
    envelopes = await drop_repeats(envelopes, lambda item: item[0].envelope_id)
    sensor_ids = sorted({r.sensor_id for _, (_, good, _) in envelopes for r in good})
    states: dict[str, SensorState] = {}
    r = runtime.redis()
    if sensor_ids:
        async with r.pipeline(transaction=False) as pipe:
            for sid in sensor_ids:
                pipe.hgetall(keys.sensor(sid))
            for sid, data in zip(sensor_ids, await pipe.execute(), strict=True):
                states[sid] = SensorState.from_hash(sid, data)
    ctx = runtime.sensor_context()
    derived = []
    for event, (envelope, good, bad) in envelopes:
        for index, reading, reason in bad:
            effects.append(await refuse(event, topic, reading, reason, "reading", f"{envelope.envelope_id}#{index}",
                                        suffix=f"#{index}"))
        outcome = project_envelope(envelope.envelope_id, good, states, ctx)
        for reading, reason in outcome.late:
            effects.append(await refuse(event, topic, reading.model_dump(mode="json"), reason, "late",
                                        f"{envelope.envelope_id}/{reading.sensor_id}", suffix=f"/{reading.sensor_id}"))
        for reading in outcome.unknown:
            effects.append(await refuse(event, topic, reading.model_dump(mode="json"),
                                        f"unknown sensor {reading.sensor_id!r}", "validate",
                                        f"{envelope.envelope_id}/{reading.sensor_id}", suffix=f"/{reading.sensor_id}"))
        stage(outcome.effects, outcome.cases)  # written with the envelope's effects, atomically
        derived.extend(outcome.cases)
        effects.append(outcome.effects)
    await apply(effects)
    for case_event in derived:  # ids fixed by the episode: a re-send is ignored downstream
        await cases_topic.send(key=case_event.case_id.encode(), value=encode(case_event))
    if sensor_ids:  # arrival times (wall clock) for offline detection; not part of the exactly-once model
        now = time.time()
        await r.zadd(keys.sensors_seen(), dict.fromkeys(sensor_ids, now))


@app.agent(sensors_topic)
async def sensor_agent(stream):  # noqa: ANN001
    async for events in stream.take_events(200, within=0.2):
        await process(events)
