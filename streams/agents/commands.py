"""Duty officers' commands → the audit trail (who, when, what)."""

from __future__ import annotations

from collections.abc import Sequence

from faust.types import EventT

from cityops.schemas import OperatorCommand
from cityops.settings import get_settings
from streams.agents.batch import apply, decode_batch, drop_repeats
from streams.app import app, commands_topic
from streams.effects import Effects
from streams.projections import project_command


async def process(events: Sequence[EventT]) -> None:
    effects: list[Effects] = []
    decoded = await drop_repeats(await decode_batch(events, OperatorCommand, get_settings().topics.commands, effects),
                                 lambda m: m.command_id)
    effects.extend(project_command(msg) for _, msg in decoded)
    await apply(effects)


@app.agent(commands_topic)
async def command_agent(stream):  # noqa: ANN001
    async for events in stream.take_events(100, within=0.2):
        await process(events)
