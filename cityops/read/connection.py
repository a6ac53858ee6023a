"""The console's and the briefing's Redis connection (short timeouts: a screen never hangs on Redis)."""

from __future__ import annotations

from redis import Redis

from cityops.settings import Settings, get_settings


def connect(settings: Settings | None = None) -> Redis:
    settings = settings or get_settings()
    return Redis.from_url(settings.redis_url, decode_responses=True, socket_timeout=2, socket_connect_timeout=2)
