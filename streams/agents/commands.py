"""Duty officers' commands → verified, then alerts and cases changed, case steps published, everything audited.

Verification (:mod:`cityops.command_signing`) comes in two steps around the dedupe: the signature first, so
that a forged command can neither apply nor, by arriving first with a real command's id, make the real one
look like its repeat; then, for commands not applied before, the freshness window and the role. A re-sent
command already applied is therefore ignored as a duplicate whatever its age, and a captured command replayed
after the dedupe marks expired is refused as stale. Every refusal is a dead letter at stage ``auth``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from faust.types import EventT
from redis.exceptions import ResponseError

from cityops import keys
from cityops.command_signing import (
    CommandAuthError,
    CommandKeyError,
    check_allowed,
    check_fresh,
    check_signature,
    load_keys,
)
from cityops.schemas import CommandAction, OperatorCommand, encode
from cityops.settings import Settings, get_settings
from streams import runtime
from streams.agents.batch import Origin, apply_or_dead_letter, decode_batch, drop_repeats
from streams.agents.redis_outage import until_applied
from streams.app import app
from streams.command_projection import CommandRefused, project_capture_command, project_command, project_finding
from streams.deadletter import refuse
from streams.effects import SERVER_CONDITIONS, Effects
from streams.outbox import stage
from streams.topics import CASES, COMMANDS

cases_topic = CASES.channel()  # derived case events go here (tests put a recorder in its place)

LOG_APPEND_TIME = 1  # Kafka's timestamp type when the broker, not the producer, stamped the message


def arrival_time(event: EventT, received_at: datetime) -> datetime:
    """When the command reached the bus: the broker's own stamp when the topic has
    ``message.timestamp.type=LogAppendTime`` (a producer cannot set it, and a worker outage then does not make
    queued commands stale), else when this worker received it."""
    msg = event.message
    if getattr(msg, "timestamp_type", None) == LOG_APPEND_TIME and msg.timestamp:
        return datetime.fromtimestamp(msg.timestamp, UTC)
    return received_at


async def _authentic(decoded: list[tuple[EventT, OperatorCommand]], settings: Settings,
                     refusals: list[Effects]) -> list[tuple[EventT, OperatorCommand]]:
    """The commands signed by a known key and unchanged since; each other one is refused (stage ``auth``)."""
    topic = COMMANDS.name
    ring, problem = None, ""
    try:
        ring = load_keys(settings)
    except CommandKeyError as err:  # fail closed: no key, no command; the reason says what to fix
        problem = f"command keys unusable on this worker: {err}"
    out: list[tuple[EventT, OperatorCommand]] = []
    for event, cmd in decoded:
        try:
            if ring is None:
                raise CommandAuthError(problem)
            check_signature(cmd, ring)
        except CommandAuthError as err:
            refusals.append(await refuse(event, topic, event.message.value, str(err), "auth", cmd.command_id))
            continue
        out.append((event, cmd))
    return out


async def _allowed(fresh: list[tuple[EventT, OperatorCommand]], settings: Settings, received_at: datetime,
                   refusals: list[Effects]) -> list[tuple[EventT, OperatorCommand]]:
    """The commands issued inside the freshness window whose role may send them; the others are refused."""
    out: list[tuple[EventT, OperatorCommand]] = []
    for event, cmd in fresh:
        try:
            check_fresh(cmd, arrival_time(event, received_at), settings.command_max_age_s,
                        settings.command_max_ahead_s)
            check_allowed(cmd)
        except CommandAuthError as err:
            refusals.append(await refuse(event, COMMANDS.name, event.message.value, str(err), "auth",
                                         cmd.command_id))
            continue
        out.append((event, cmd))
    return out


async def process(events: Sequence[EventT]) -> None:
    settings = get_settings()
    topic = COMMANDS.name
    received_at = datetime.now(UTC)
    effects: list[Effects] = []
    decoded = await _authentic(await decode_batch(events, COMMANDS, effects), settings, effects)
    decoded = await _allowed(await drop_repeats(decoded, lambda m: m.command_id), settings, received_at, effects)
    r = runtime.redis()
    for event, cmd in decoded:  # one at a time: a command sees the effects of the one before it
        if cmd.target_kind in ("street", "department"):  # 督查发现: a unit of the city data, no hash to read
            try:
                outcome = project_finding(cmd, _units(cmd.target_kind), received_at=received_at, tz=settings.tz)
            except CommandRefused as err:
                effects.append(await refuse(event, topic, event.message.value, str(err), "transition",
                                            cmd.command_id))
                continue
            await apply_or_dead_letter([outcome.effects], [Origin(event, cmd.command_id)], topic)
            continue
        target_key = {"alert": keys.alert, "case": keys.case, "capture": keys.capture_review}[cmd.target_kind](
            cmd.target_id)
        try:
            target = await r.hgetall(target_key)
            alert_case = await r.hgetall(keys.case(target["case_id"])) \
                if target.get("case_id") and cmd.target_kind == "alert" else {}
            case_id = cmd.target_id if cmd.target_kind == "case" else target.get("case_id", "")
            order = await r.hgetall(keys.supervision_order(case_id)) \
                if case_id and cmd.action in (CommandAction.ESCALATE, CommandAction.REPLY) else {}
        except ResponseError as err:  # its target's key is no hash: this command's problem, not the batch's
            if isinstance(err, SERVER_CONDITIONS):
                raise
            effects.append(await refuse(event, topic, event.message.value, f"target unreadable: {err}", "apply",
                                        cmd.command_id))
            continue
        try:
            if cmd.target_kind == "capture":  # 确认立案 / 误报 on a capture waiting for review
                outcome = project_capture_command(cmd, target, runtime.detection_context(), received_at=received_at)
            else:
                outcome = project_command(cmd, target, alert_case, received_at=received_at, tz=settings.tz,
                                          order=order, remind_before_s=settings.supervision_remind_s)
        except CommandRefused as err:
            effects.append(await refuse(event, topic, event.message.value, str(err), "transition", cmd.command_id))
            continue
        stage(outcome.effects, outcome.cases)  # written with the command's effects, atomically
        [result] = await apply_or_dead_letter([outcome.effects], [Origin(event, cmd.command_id)], topic)
        if result.failed:  # dead-lettered; its case steps were not staged either
            continue
        for case_event in outcome.cases:
            await cases_topic.send(key=case_event.case_id.encode(), value=encode(case_event))
    await apply_or_dead_letter(effects, [None] * len(effects), topic)


def _units(kind: str) -> frozenset[str]:
    city = runtime.city()
    return frozenset(city.streets if kind == "street" else city.departments)


@app.agent(COMMANDS.channel())
async def command_agent(stream):  # noqa: ANN001
    async for events in stream.take_events(100, within=0.2):
        await until_applied(process, events)
