"""Per-process resources the agents share: the Redis client, the exactly-once writer, the city model.

Created lazily inside the worker's event loop (an asyncio Redis client is bound to its loop).
"""

from __future__ import annotations

from functools import lru_cache

from redis.asyncio import Redis

from cityops.catalogue import get_catalogue
from cityops.city import CityModel
from cityops.settings import get_settings
from cityops.workcalendar import get_calendar
from fixtures.xiamen import load_cameras, load_city, load_sensors
from streams.case_projection import CaseContext
from streams.detection_projection import DetectionContext
from streams.effects import EffectWriter
from streams.sensor_projection import SensorContext

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
    sensors = {s.id: s for s in load_sensors()}
    return SensorContext(sensors, city(), get_catalogue(), settings.tz, settings.max_lateness_s)


@lru_cache(maxsize=1)
def detection_context() -> DetectionContext:
    cameras = {c.id: c for c in load_cameras()}
    return DetectionContext(cameras, city(), get_catalogue(), get_settings().tz)


@lru_cache(maxsize=1)
def city() -> CityModel:
    model = load_city()
    _ = model.index  # build the lookup index before the first batch, not during it
    return model
