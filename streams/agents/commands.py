"""Duty officers' commands → alerts and cases changed, case steps published, everything audited."""

from __future__ import annotations

from collections.abc import Sequence

from faust.types import EventT

from cityops import keys
from cityops.schemas import OperatorCommand, encode
from cityops.settings import get_settings
from streams import runtime
from streams.agents.batch import apply, decode_batch, drop_repeats
from streams.agents.redis_outage import until_applied
from streams.app import app, cases_topic, commands_topic
from streams.command_projection import CommandRefused, project_command
from streams.deadletter import refuse
from streams.effects import Effects
from streams.outbox import stage


async def process(events: Sequence[EventT]) -> None:
    topic = get_settings().topics.commands
    effects: list[Effects] = []
    decoded = await drop_repeats(await decode_batch(events, OperatorCommand, topic, effects), lambda m: m.command_id)
    r = runtime.redis()
    for event, cmd in decoded:  # one at a time: a command sees the effects of the one before it
        target_key = keys.alert(cmd.target_id) if cmd.target_kind == "alert" else keys.case(cmd.target_id)
        target = await r.hgetall(target_key)
        alert_case = await r.hgetall(keys.case(target["case_id"])) if target.get("case_id") else {}
        try:
            outcome = project_command(cmd, target, alert_case)
        except CommandRefused as err:
            effects.append(await refuse(event, topic, event.message.value, str(err), "transition", cmd.command_id))
            continue
        stage(outcome.effects, outcome.cases)  # written with the command's effects, atomically
        await apply([outcome.effects])
        for case_event in outcome.cases:
            await cases_topic.send(key=case_event.case_id.encode(), value=encode(case_event))
    await apply(effects)


@app.agent(commands_topic)
async def command_agent(stream):  # noqa: ANN001
    async for events in stream.take_events(100, within=0.2):
        await until_applied(process, events)
