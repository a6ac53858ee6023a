"""Worker reads: which stream processors are alive, from their heartbeats."""

from __future__ import annotations

import time
from dataclasses import dataclass

from redis import Redis

from cityops import keys
from cityops.settings import get_settings


@dataclass(frozen=True)
class WorkersAlive:
    """The stream processors as the console sees them: how many processes beat lately, and the newest beat."""

    alive: int
    newest: float | None


def workers_alive(r: Redis, within_s: float = 30.0, group: str | None = None,
                  now: float | None = None) -> WorkersAlive:
    """Worker processes of the consumer group that beat within ``within_s`` (they beat every 5 s, busy or idle)."""
    beats = [float(v) for v in r.hvals(keys.heartbeats(group or get_settings().worker_id))]
    now = time.time() if now is None else now
    return WorkersAlive(sum(1 for b in beats if now - b <= within_s), max(beats, default=None))
