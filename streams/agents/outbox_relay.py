"""Every 2 s: re-publish derived case events not yet applied, forget those applied (see streams/outbox.py)."""

from __future__ import annotations

from streams import runtime
from streams.agents.redis_outage import skip_tick_if_unavailable
from streams.app import app
from streams.outbox import relay
from streams.topics import CASES

cases_topic = CASES.channel()  # where case events are re-published


async def _send(case_id: str, payload: bytes) -> None:
    await cases_topic.send(key=case_id.encode(), value=payload)


@app.timer(interval=2.0)
async def outbox_relay() -> None:
    await skip_tick_if_unavailable(lambda: relay(runtime.redis(), _send), "outbox relay")
