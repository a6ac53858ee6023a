"""Everything the big screen reads from Redis for one refresh, in one function.

Why one function: the page, its tests and ``bench/bench_console_read.py`` all call exactly this, so
the benchmark measures what the screen really reads (target ≤ 50 ms p95 at Xiamen scale).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
from redis import Redis

from cityops import observability, read
from cityops.catalogue import Catalogue
from cityops.city import CityModel
from cityops.metrics import Kpis, Metric, Ranked, score_weights


@dataclass(frozen=True)
class ScreenData:
    now: datetime
    today: Kpis  # the city, today
    yesterday_until: Kpis  # the city, yesterday up to the same time (with today's overdue gauge)
    hourly_today: list[int]  # cases received in each hour of today
    hourly_yesterday: list[int]
    ranking: list[Ranked]  # the districts, today's; yesterday's while nothing is due today (ranking_day)
    ranking_day: datetime  # the day ranked: ``now`` or a time yesterday
    categories: dict[str, int]  # cases received today per category (those with any)
    positions: np.ndarray  # (n, 2) lon, lat of open cases
    sensors: dict[str, dict[str, str]]
    captures: list[dict]
    captures_today: int
    captures_delta: float
    workers: read.WorkersAlive


# The counters the tiles need (rates included): reading only these keeps the replies small.
TILE_FIELDS = (Metric.RECEIVED, Metric.REGISTERED, Metric.CLOSED, Metric.CLOSED_ON_TIME, Metric.DISPATCHED,
               Metric.HANDLED, Metric.REWORKED)


@observability.timed_read("big_screen")
def read_big_screen(r: Redis, now: datetime, city: CityModel, catalogue: Catalogue, *,
                    captures: int = 40, max_positions: int = 20000) -> ScreenData:
    """All reads of one refresh; ``now`` must be in the city's time zone."""
    yesterday = now - timedelta(days=1)
    today = read.kpis(r, now, "city", city.code)
    ai_today = read.day_counters(r, now, "source", "ai_video")  # everything so far today
    ai_yesterday = read.counters_until(r, yesterday, "source", "ai_video", fields=(Metric.RECEIVED,))
    districts = sorted(city.districts)
    ranking, ranking_day = read.ranking(r, now, "district", districts), now
    if nothing_due(ranking):  # early in the day every district would tie on 100: yesterday's places, if any
        before = read.ranking(r, yesterday, "district", districts)
        if not nothing_due(before):
            ranking, ranking_day = before, yesterday
    return ScreenData(
        now=now,
        today=today,
        yesterday_until=read.kpis_until(r, yesterday, "city", city.code, today.overdue, fields=TILE_FIELDS),
        hourly_today=read.hourly_metric(r, now, Metric.RECEIVED, "city", city.code),
        hourly_yesterday=read.hourly_metric(r, yesterday, Metric.RECEIVED, "city", city.code),
        ranking=ranking,
        ranking_day=ranking_day,
        categories=read.day_metric_many(r, now, "category", [c.code for c in catalogue], Metric.RECEIVED),
        positions=read.open_case_lonlat(r, limit=max_positions),
        sensors=read.sensor_overview(r),  # alarm / offline from the active alerts: ≈ 10× cheaper
        captures=read.recent_captures(r, captures),
        # Counted as cases from the AI-video channel (视频AI抓拍): each accepted capture opens exactly one,
        # and the case counters have the hourly history the comparison with yesterday needs (the
        # detections' own daily ``captures`` counter has none).
        captures_today=int(ai_today.of(Metric.RECEIVED)),
        captures_delta=ai_today.of(Metric.RECEIVED) - ai_yesterday.of(Metric.RECEIVED),
        workers=read.workers_alive(r),
    )


def nothing_due(ranking: list[Ranked]) -> bool:
    """Whether no rate of the score has a case due in any ranked scope: every score is then the full 100 (nothing
    due, nothing missed) and the ranking says nothing."""
    return all(r.kpis.rates.of(name) is None for r in ranking for name in score_weights())
