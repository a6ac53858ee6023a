"""A scratch stack for a benchmark: a private tansu broker and redis-server on free ports, their topics made,
and the environment (broker, Redis, var folder, topic prefix, worker id) that points this process and the
processes it starts at them, so a benchmark never touches ``make demo``'s data."""

from __future__ import annotations

import asyncio
import os
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from cityops.bus import ensure_topics
from cityops.services.broker import start_broker
from cityops.services.readiness import wait_for_broker, wait_for_redis
from cityops.services.redis_server import start_redis
from cityops.settings import Settings, get_settings
from tests.support.workers import free_port, stop_process


@contextmanager
def scratch_stack(prefix: str) -> Iterator[tuple[Path, Settings]]:
    """Broker and Redis up, topics made: (the scratch folder, the settings now in force); both stop on exit."""
    tmp = Path(tempfile.mkdtemp(prefix=prefix))
    broker_port, redis_port = free_port(), free_port()
    broker = start_broker("127.0.0.1", broker_port, tmp / "broker.log")
    redis_proc = start_redis("127.0.0.1", redis_port, tmp / "redis", tmp / "redis.log")
    os.environ.update({
        "KAFKA_BROKER": f"kafka://127.0.0.1:{broker_port}", "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
        "CITYOPS_VAR": str(tmp / "var"), "CITYOPS_TOPIC_PREFIX": f"b{uuid.uuid4().hex[:10]}",
        "CITYOPS_WORKER_ID": f"b{uuid.uuid4().hex[:10]}", "CITYOPS_WORKER_WEB_PORT": "0",
    })
    get_settings.cache_clear()
    settings = get_settings()
    try:
        wait_for_broker(settings, timeout=30)
        wait_for_redis(settings, timeout=30)
        asyncio.run(ensure_topics(settings))
        yield tmp, settings
    finally:
        stop_process(broker)
        stop_process(redis_proc)
