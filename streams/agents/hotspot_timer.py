"""Hotspots: every few seconds, each worker refreshes one snapshot of where the open cases are.

Why: the big screen's hotspot layer needs the position of every open case on every refresh. Built on
demand, that string of geohash scores costs Redis a large part of the screen's budget, on every refresh of
every screen; built here once per tick (``streams/lua/snapshot_open_scores.lua``), a screen reads it with one
GET. It expires after a few ticks, so a screen never shows positions older than that: with no worker
running, :func:`cityops.read.hotspots.open_case_lonlat` builds the string itself again.
"""

from __future__ import annotations

from cityops import keys, read
from streams import runtime
from streams.agents.redis_outage import skip_tick_if_unavailable
from streams.app import app
from streams.lua import source

INTERVAL_S = 5.0
KEEP_S = 30  # a snapshot outlives a few missed ticks, not a stopped worker


async def refresh() -> int:
    """Rebuild the snapshot; returns how many open cases it holds."""
    return int(await runtime.redis().eval(source("snapshot_open_scores"), 2, keys.open_cases(),
                                          keys.open_cases_snapshot(), read.MAX_HOTSPOT_POSITIONS, KEEP_S))


@app.timer(interval=INTERVAL_S)
async def hotspot_timer() -> None:
    await skip_tick_if_unavailable(refresh, "hotspot timer")
