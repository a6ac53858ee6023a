"""Everything the big screen reads from Redis for one refresh, in one function.

Why one function: the page, its tests and ``bench/bench_console_read.py`` all call exactly this, so
the benchmark measures what the screen really reads (target ≤ 50 ms p95 at Xiamen scale).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
from redis import Redis

from cityops import read
from cityops.catalogue import Catalogue
from cityops.city import CityModel


@dataclass
class ScreenData:
    now: datetime
    today: dict  # read.kpis of the city, today
    yesterday_until: dict[str, float]  # city counters of yesterday up to the same time
    hourly_today: list[dict[str, int]]
    hourly_yesterday: list[dict[str, int]]
    ranking: list[dict]
    categories: dict[str, dict[str, int]]
    positions: np.ndarray  # (n, 2) lon, lat of open cases
    sensors: dict[str, dict[str, str]]
    captures: list[dict]
    captures_today: int
    captures_delta: float
    workers: read.WorkersAlive


# The counters the tiles need (rates included): reading only these keeps the replies small.
TILE_FIELDS = ("received", "registered", "closed", "closed_on_time", "dispatched", "handled", "reworked")


def read_big_screen(r: Redis, now: datetime, city: CityModel, catalogue: Catalogue, *,
                    captures: int = 40, max_positions: int = 20000) -> ScreenData:
    """All reads of one refresh; ``now`` must be in the city's time zone."""
    yesterday = now - timedelta(days=1)
    today = read.kpis(r, now, "city", city.code)
    ai_today = read.day_counters(r, now, "source", "ai_video")  # everything so far today
    ai_yesterday = read.counters_until(r, yesterday, "source", "ai_video", fields=("received",))
    per_category = read.day_metric_many(r, now, "category", [c.code for c in catalogue], "received")
    return ScreenData(
        now=now,
        today=today,
        yesterday_until=read.counters_until(r, yesterday, "city", city.code, fields=TILE_FIELDS),
        hourly_today=[{"received": n} for n in read.hourly_metric(r, now, "received", "city", city.code)],
        hourly_yesterday=[{"received": n} for n in read.hourly_metric(r, yesterday, "received", "city", city.code)],
        ranking=read.ranking(r, now, "district", sorted(city.districts)),
        categories={code: {"received": n} for code, n in per_category.items()},
        positions=read.open_case_lonlat(r, limit=max_positions),
        sensors=read.sensor_overview(r),  # alarm / offline from the active alerts: ≈ 10× cheaper
        captures=read.recent_captures(r, captures),
        # Counted as cases from the AI-video channel (视频AI抓拍): each accepted capture opens exactly one,
        # and the case counters have the hourly history the comparison with yesterday needs (the
        # detections' own daily ``captures`` counter has none).
        captures_today=int(ai_today.get("received", 0)),
        captures_delta=ai_today.get("received", 0.0) - ai_yesterday.get("received", 0.0),
        workers=read.workers_alive(r),
    )
