"""The platform's Kafka topics, created if missing (``python -m cityops topics``, and a publisher reconnecting to a
broker that came back empty)."""

from __future__ import annotations

import argparse
import asyncio
import logging
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError

from cityops.bus.security import kafka_security_kwargs
from cityops.settings import Settings, get_settings

log = logging.getLogger("cityops.bus")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``python -m cityops topics`` takes no arguments."""


async def ensure_topics(settings: Settings | None = None, partitions: int | None = None) -> list[str]:
    """Create the platform's topics if missing; returns the names created."""
    settings = settings or get_settings()
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap_servers, request_timeout_ms=10_000,
                                **kafka_security_kwargs(settings))
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = [t for t in settings.topics.all() if t not in existing]
        if not wanted:
            return []
        n = partitions or settings.partitions
        try:
            await admin.create_topics([NewTopic(t, num_partitions=n, replication_factor=1) for t in wanted])
        except TopicAlreadyExistsError:
            pass  # created concurrently by another process
        return wanted
    finally:
        await admin.close()


def run_from_args(args: argparse.Namespace) -> int:
    created = asyncio.run(_retry(ensure_topics, attempts=30))
    settings = get_settings()
    print(f"topics: {len(settings.topics.all())} present ({', '.join(created) or 'none'} created)", flush=True)
    return 0


async def _retry(fn: Any, attempts: int = 10, delay: float = 1.0) -> Any:
    for attempt in range(attempts):
        try:
            return await fn()
        except (KafkaError, OSError) as err:
            if attempt == attempts - 1:
                raise
            log.warning("broker not ready (%s), retrying", err)
            await asyncio.sleep(delay)
    return None
