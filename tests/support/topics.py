"""Reading a topic back as a test sees it: what the worker or a publisher sent, key and value."""

from __future__ import annotations

import time

from aiokafka import AIOKafkaConsumer

from cityops.settings import Settings


async def consume(settings: Settings, topic: str, n: int, timeout: float = 20) -> list[tuple[bytes, bytes]]:
    """Up to ``n`` (key, value) pairs of ``topic`` from its start, read without a group (nothing committed)."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=settings.bootstrap_servers, auto_offset_reset="earliest",
                                group_id=None, enable_auto_commit=False)
    await consumer.start()
    got: list[tuple[bytes, bytes]] = []
    try:
        deadline = time.monotonic() + timeout
        while len(got) < n and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                got.extend((r.key, r.value) for r in records)
    finally:
        await consumer.stop()
    return got
