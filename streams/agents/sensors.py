"""Gateway envelopes → sensor state, windows, rules, alerts and IoT cases. Bad readings are refused one by one."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from datetime import datetime
from functools import lru_cache

from faust.types import EventT

from cityops import keys
from cityops.city_data import get_city_data
from cityops.fast_envelope import ReadingColumns, decode_columns
from cityops.schemas import CaseEvent, ContractError, decode_sensor_envelope, encode
from cityops.settings import get_settings
from streams import runtime
from streams.agents.batch import apply, apply_or_dead_letter, drop_repeats, gc_paused
from streams.agents.redis_outage import until_applied
from streams.app import app
from streams.deadletter import refuse
from streams.effects import ApplyResult, Effects
from streams.outbox import stage
from streams.sensor_projection import SensorOutcome, SensorState, project_envelopes
from streams.sensor_silence import last_published
from streams.sensor_store import read_states_checked
from streams.topics import CASES, SENSORS
from streams.unknown_devices import count_unknown_devices

cases_topic = CASES.channel()  # derived case events go here (tests put a recorder in its place)

log = logging.getLogger(__name__)

#: Envelopes taken from the topic at a time, and how many of them are projected and applied as one
#: unit of exactly-once (a *part*: one script). Why three parts: Redis runs a part's script for tens
#: of milliseconds, and the next part is projected meanwhile (see :func:`_apply_parts`); a part must
#: stay large, because per-sensor pre-aggregation is where a part's cost goes down.
BATCH_ENVELOPES = 600
PART_ENVELOPES = 200
#: How long a batch waits to fill once the previous one is done. Under a backlog batches fill at once;
#: fed live, each wait is time every reading of the next batch spends idle, so it is kept short.
BATCH_WAIT_S = 0.03


async def process(events: Sequence[EventT]) -> None:
    """One batch: refuse bad envelopes, apply the rest's readings part by part (see _apply_parts)."""
    topic = SENSORS.name
    with gc_paused():
        envelopes, failures = _decode(events)
    refusals = [await refuse(event, topic, event.message.value, err.reason, "validate", err.event_id)
                for event, err in failures]
    envelopes = await drop_repeats(envelopes, lambda item: item[0].envelope_id)
    if refusals:
        await apply_or_dead_letter(refusals, [None] * len(refusals), topic)
    if not envelopes:
        return
    sensor_ids = _registered(envelopes)
    parts = [envelopes[i:i + PART_ENVELOPES] for i in range(0, len(envelopes), PART_ENVELOPES)]
    applied, _ = await _apply_parts(parts, topic, sensor_ids)
    for part in parts[applied:]:
        # Another worker applied some of them meanwhile (a rebalance), or Redis could not take one of them:
        # go on envelope by envelope, so that only an envelope that cannot be applied is dead-lettered.
        for item in part:
            _, stopped = await _apply_parts([[item]], topic, _registered([item]))
            if stopped is not None and stopped.failed:
                event, (envelope, _, _) = item
                await apply_or_dead_letter([await refuse(event, topic, event.message.value, stopped.reason, "apply",
                                                         envelope.envelope_id)], [None], topic)
    if sensor_ids:  # publish times for offline detection (streams/sensor_silence.py); not exactly-once state
        await runtime.redis().zadd(keys.sensors_seen(), _published(envelopes, sensor_ids), gt=True)


def _published(envelopes: list, sensor_ids: set[str]) -> dict[str, float]:
    """Per registered sensor with readings in the batch, when its newest envelope was published (the message's
    topic timestamp): what the offline timer compares with how far the topic has been read. ``gt``: a
    sensor's time never goes back (an envelope read again, a sensor that moved to another gateway)."""
    newest = last_published(((good.sensor_ids, getattr(event.message, "timestamp", None))
                             for event, (_, good, _) in envelopes), time.time())
    return {sid: newest[sid] for sid in sensor_ids}


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


async def _apply_parts(parts: list[list], topic: str,  # noqa: ANN001
                       sensor_ids: set[str]) -> tuple[int, ApplyResult | None]:
    """Project and apply parts of a batch in order, each in one atomic script; how many parts were applied,
    and the result of the part that was not (it had an envelope applied already, or Redis could not take
    it), after which nothing more is applied; None when all were.
    ``parts``: lists of (event, decoded envelope); ``sensor_ids``: the registered sensors they have readings of.

    The sensors' state is read once; each part is projected from where the previous one left it while
    Redis runs the previous part's script, so the worker and Redis work at the same time instead of
    taking turns. Safe because a part's writes only count when its script succeeds, and when one is
    refused the later parts, projected from a state that never came to be, are dropped.

    The projection runs on the event loop, not in a thread: a thread would share the interpreter lock
    with Faust's consumer thread and the loop, and gain nothing. The script's task is given
    a few turns of the loop first, enough to write its request, so that Redis starts on it at once.
    """
    states, unreadable = await read_states_checked(runtime.redis(), sorted(sensor_ids))
    pending: asyncio.Task[ApplyResult] | None = None  # the previous part's script, running
    applied = 0
    try:
        for part in parts:
            part, unread = _without(part, unreadable)
            outcome = _project(part, states)
            if pending is not None:
                result = await pending
                if not result:
                    return applied, result
                applied += 1
            effects = await _with_refusals(part, outcome, topic, unread)
            pending = asyncio.ensure_future(_apply_and_publish(effects, outcome.cases))
            for _ in range(3):  # without these turns the request waits for the next projection
                await asyncio.sleep(0)
        if pending is not None:
            result = await pending
            if not result:
                return applied, result
            applied += 1
        return applied, None
    finally:
        if pending is not None and not pending.done():  # an error while projecting: let the script finish
            await asyncio.wait([pending])
            if not pending.cancelled() and pending.exception() is not None:  # the projection's error is raised
                log.warning("applying the previous part failed as well: %r", pending.exception())


def _without(part: list, unreadable: dict[str, str]) -> tuple[list, list]:  # noqa: ANN001
    """The part without the readings of sensors whose state could not be read, and those readings as
    (event, envelope, reading, reason): they are refused one by one, the rest of each envelope applies."""
    if not unreadable:
        return part, []
    kept: list = []
    refused: list = []
    for event, (envelope, good, bad) in part:
        drop = [i for i, sid in enumerate(good.sensor_ids) if sid in unreadable]
        if drop:
            refused.extend((event, envelope, good.reading(i), unreadable[good.sensor_ids[i]]) for i in drop)
            keep = [i for i, sid in enumerate(good.sensor_ids) if sid not in unreadable]
            good = ReadingColumns([good.sensor_ids[i] for i in keep], [good.values[i] for i in keep],
                                  [good.times[i] for i in keep], [good.specs[i] for i in keep],
                                  None if good.source is None else [good.source[i] for i in keep])
        kept.append((event, (envelope, good, bad)))
    return kept, refused


def _project(part: list, states: dict[str, SensorState]) -> SensorOutcome:  # noqa: ANN001
    """The part's readings projected from ``states`` (updated in place); plain Python, no I/O."""
    settings = get_settings()
    remembered_since = time.time() - settings.envelope_dedupe_ttl_s + settings.max_lateness_s
    with gc_paused():
        return project_envelopes([(envelope.envelope_id, good) for _, (envelope, good, _) in part], states,
                                 runtime.sensor_context(), remembered_since)


async def _with_refusals(part: list, outcome: SensorOutcome, topic: str,  # noqa: ANN001
                         unread: list) -> Effects:
    """The part's effects with the dead letters of its refused readings (``unread``: those of sensors whose
    state could not be read, see :func:`_without`) and its derived case events."""
    owner = [(event, envelope) for event, (envelope, _, _) in part]  # by index: see outcome.origin
    refused: list[Effects] = []
    for event, (envelope, _good, bad) in part:
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
    for event, envelope, reading, reason in unread:
        refused.append(await refuse(event, topic, reading.model_dump(mode="json"), reason, "apply",
                                    f"{envelope.envelope_id}/{reading.sensor_id}", suffix=f"/{reading.sensor_id}"))
    for eff in refused:  # counted with the readings, so a crash can never keep one and lose the other
        outcome.effects.ops.extend(eff.ops)
    count_unknown_devices(outcome.effects, ((owner[outcome.origin[id(r)]][1].gateway_id, r.sensor_id)
                                            for r in outcome.unknown), _registered_gateways(), time.time(),
                          get_settings().tz)  # with their dead letters: applied once, with the envelope
    stage(outcome.effects, outcome.cases)  # derived case events too (see streams/outbox.py)
    outcome.effects.ttl = get_settings().envelope_dedupe_ttl_s
    return outcome.effects


@lru_cache(maxsize=1)
def _registered_gateways() -> frozenset[str]:
    """The gateway ids of the city's registry (an unregistered one's unknown devices are tracked capped)."""
    return frozenset(g.id for g in get_city_data().gateways)


async def _apply_and_publish(effects: Effects, cases: list[CaseEvent]) -> ApplyResult:
    """Apply a part's effects; then, if applied now (not a duplicate, not failed), publish its derived case events."""
    [result] = await apply([effects])
    if not result:
        return result
    for case_event in cases:  # ids fixed by the episode: a re-send is ignored downstream
        await cases_topic.send(key=case_event.case_id.encode(), value=encode(case_event))
    return result


@app.agent(SENSORS.channel())
async def sensor_agent(stream):  # noqa: ANN001
    async for events in stream.take_events(BATCH_ENVELOPES, within=BATCH_WAIT_S):
        await until_applied(process, events)
