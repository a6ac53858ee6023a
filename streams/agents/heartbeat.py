"""Every 5 s, each worker process says it is alive, busy or idle, so the console can tell "no traffic"
from "no worker" and count the processes of the group (a dead one among three shows as two)."""

from __future__ import annotations

import os
import socket
import time

from cityops import keys
from cityops.settings import get_settings
from streams import runtime
from streams.agents.redis_outage import skip_tick_if_unavailable
from streams.app import app

FORGET_AFTER_S = 3600  # a process gone this long is dropped from the hash
PROCESS = f"{socket.gethostname()}:{os.getpid()}"


async def beat() -> None:
    r, key, now = runtime.redis(), keys.heartbeats(get_settings().worker_id), time.time()
    await r.hset(key, PROCESS, repr(now))
    gone = [name for name, t in (await r.hgetall(key)).items() if now - float(t) > FORGET_AFTER_S]
    if gone:
        await r.hdel(key, *gone)


@app.timer(interval=5.0, on_leader=False)
async def heartbeat() -> None:
    await skip_tick_if_unavailable(beat, "heartbeat")
