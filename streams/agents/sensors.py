"""Gateway envelopes → sensor state, windows, rules, alerts and IoT cases. Bad readings are refused one by one."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import datetime

from faust.types import EventT

from cityops import keys
from cityops.fast_envelope import ReadingColumns, decode_columns
from cityops.schemas import ContractError, decode_sensor_envelope, encode
from cityops.settings import get_settings
from streams import runtime
from streams.agents.batch import apply, drop_repeats, gc_paused
from streams.agents.redis_outage import until_applied
from streams.app import app, cases_topic, sensors_topic
from streams.deadletter import refuse
from streams.effects import Effects
from streams.outbox import stage
from streams.sensor_projection import SensorState, project_envelopes


async def process(events: Sequence[EventT]) -> None:
    """One batch: refuse bad envelopes, apply the rest's readings as one unit (see project_envelopes)."""
    topic = get_settings().topics.sensors
    with gc_paused():
        envelopes, failures = _decode(events)
    refusals = [await refuse(event, topic, event.message.value, err.reason, "validate", err.event_id)
                for event, err in failures]
    envelopes = await drop_repeats(envelopes, lambda item: item[0].envelope_id)
    if refusals:
        await apply(refusals)
    if not envelopes:
        return
    if not await _apply_together(envelopes, topic):
        # Another worker applied some of them meanwhile (a rebalance): go on envelope by envelope.
        for item in envelopes:
            await _apply_together([item], topic)
    sensor_ids = _registered(envelopes)
    if sensor_ids:  # arrival times (wall clock) for offline detection; not part of the exactly-once model
        await runtime.redis().zadd(keys.sensors_seen(), dict.fromkeys(sensor_ids, time.time()))


def _decode(events: Sequence[EventT]) -> tuple[list, list[tuple[EventT, ContractError]]]:
    """Envelopes decoded in order as (event, (envelope, readings as columns, refused readings)), and the
    events that are no envelope at all, with why."""
    envelopes: list = []
    failures: list[tuple[EventT, ContractError]] = []
    times: dict[str, datetime | None] = {}  # time string → parsed, shared by the batch (see decode_columns)
    for event in events:
        raw = event.message.value
        fast = decode_columns(raw, times)  # the canonical form, checked without pydantic (cityops/fast_envelope.py)
        if fast is not None:
            envelopes.append((event, (fast[0], fast[1], [])))
            continue
        try:
            envelope, good, bad = decode_sensor_envelope(raw)
        except ContractError as err:
            failures.append((event, err))
            continue
        envelopes.append((event, (envelope, ReadingColumns.from_readings(good), bad)))
    return envelopes, failures


def _registered(envelopes: list) -> set[str]:
    """The registered sensors that envelopes, as (event, (envelope, columns, refused)), have readings of."""
    ids: set[str] = set()
    for _, (_, good, _) in envelopes:
        ids.update(good.sensor_ids)
    return ids & runtime.sensor_context().sensors.keys()


async def _apply_together(envelopes: list, topic: str) -> bool:  # noqa: ANN001 - [(event, decoded envelope)]
    """Project envelopes from their sensors' stored state and apply them, with the dead letters of their
    refused readings, in one atomic script; False when one of them had been applied already."""
    r = runtime.redis()
    sensor_ids = sorted(_registered(envelopes))
    states: dict[str, SensorState] = {}
    if sensor_ids:
        async with r.pipeline(transaction=False) as pipe:
            for sid in sensor_ids:
                pipe.hgetall(keys.sensor(sid))
            for sid, data in zip(sensor_ids, await pipe.execute(), strict=True):
                states[sid] = SensorState.from_hash(sid, data)
    settings = get_settings()
    remembered_since = time.time() - settings.envelope_dedupe_ttl_s + settings.max_lateness_s
    with gc_paused():
        outcome = project_envelopes([(envelope.envelope_id, good) for _, (envelope, good, _) in envelopes], states,
                                    runtime.sensor_context(), remembered_since)
    owner = [(event, envelope) for event, (envelope, _, _) in envelopes]  # by index: see outcome.origin
    refused: list[Effects] = []
    for event, (envelope, _good, bad) in envelopes:
        for index, reading, reason in bad:
            refused.append(await refuse(event, topic, reading, reason, "reading", f"{envelope.envelope_id}#{index}",
                                        suffix=f"#{index}"))
    for reading, reason in outcome.late:
        event, envelope = owner[outcome.origin[id(reading)]]
        refused.append(await refuse(event, topic, reading.model_dump(mode="json"), reason, "late",
                                    f"{envelope.envelope_id}/{reading.sensor_id}", suffix=f"/{reading.sensor_id}"))
    for reading in outcome.unknown:
        event, envelope = owner[outcome.origin[id(reading)]]
        refused.append(await refuse(event, topic, reading.model_dump(mode="json"),
                                    f"unknown sensor {reading.sensor_id!r}", "validate",
                                    f"{envelope.envelope_id}/{reading.sensor_id}", suffix=f"/{reading.sensor_id}"))
    for eff in refused:  # counted with the readings, so a crash can never keep one and lose the other
        outcome.effects.ops.extend(eff.ops)
    stage(outcome.effects, outcome.cases)  # derived case events too (see streams/outbox.py)
    outcome.effects.ttl = settings.envelope_dedupe_ttl_s
    if not (await apply([outcome.effects]))[0]:
        return False
    for case_event in outcome.cases:  # ids fixed by the episode: a re-send is ignored downstream
        await cases_topic.send(key=case_event.case_id.encode(), value=encode(case_event))
    return True


@app.agent(sensors_topic)
async def sensor_agent(stream):  # noqa: ANN001
    async for events in stream.take_events(200, within=0.1):
        await until_applied(process, events)
