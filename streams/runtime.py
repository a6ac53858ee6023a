"""Per-process resources the agents share: the Redis client, the exactly-once writer, the city model.

Created lazily inside the worker's event loop (an asyncio Redis client is bound to its loop).
"""

from __future__ import annotations

import logging
from datetime import datetime
from functools import lru_cache

from redis.asyncio import Redis

from cityops.catalogue import get_catalogue
from cityops.city import CityModel
from cityops.city_data import get_city_data
from cityops.settings import get_settings
from cityops.workcalendar import get_calendar, missing_year_warning
from streams.case_projection import CaseContext
from streams.detection_projection import DetectionContext
from streams.effects import EffectWriter
from streams.sensor_projection import SensorContext

logger = logging.getLogger(__name__)
_redis: Redis | None = None
_writer: EffectWriter | None = None


def redis() -> Redis:
    global _redis
    if _redis is None:
        _redis = Redis.from_url(get_settings().redis_url, decode_responses=True,
                                health_check_interval=10, socket_keepalive=True)
    return _redis


def writer() -> EffectWriter:
    global _writer
    if _writer is None:
        _writer = EffectWriter(redis(), get_settings().dedupe_ttl_s)
    return _writer


@lru_cache(maxsize=1)
def case_context() -> CaseContext:
    settings = get_settings()
    return CaseContext(city(), get_catalogue(), get_calendar(), settings.tz, settings.max_lateness_s)


@lru_cache(maxsize=1)
def sensor_context() -> SensorContext:
    settings = get_settings()
    sensors = {s.id: s for s in get_city_data().sensors}
    return SensorContext(sensors, city(), get_catalogue(), settings.tz, settings.max_lateness_s)


@lru_cache(maxsize=1)
def detection_context() -> DetectionContext:
    data = get_city_data()
    cameras = {c.id: c for c in data.cameras}
    return DetectionContext(cameras, city(), get_catalogue(), get_settings().tz, data.auto_dispatch)


@lru_cache(maxsize=1)
def city() -> CityModel:
    data = get_city_data()  # loads and checks the whole folder, index included, before the first batch
    warning = missing_year_warning(get_calendar(), datetime.now(get_settings().tz).date())
    if warning:
        logger.warning("city %s: %s", data.city.code, warning)
    return data.city
