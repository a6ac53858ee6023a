"""The producer side of Kafka for plain Python producers: simulator, replayers, detectors, console.

Why not Faust here: producers are short scripts or UI callbacks; a plain aiokafka producer starts in
milliseconds and batches well. Sends are pipelined (futures awaited in groups), so producers are
fast, and every future is awaited, so nothing is silently lost. While the broker is unreachable the
publisher keeps the unsent messages in memory (bounded) and retries with backoff; it gives up with an
error only after ``give_up_s``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import threading
import time
from collections.abc import Awaitable
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, KafkaError, TopicAlreadyExistsError

from cityops.settings import Settings, get_settings

log = logging.getLogger("cityops.bus")


async def ensure_topics(settings: Settings | None = None, partitions: int | None = None) -> list[str]:
    """Create the platform's topics if missing; returns the names created."""
    settings = settings or get_settings()
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap_servers, request_timeout_ms=10_000)
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


def ensure_topics_from_args(args: argparse.Namespace) -> int:
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


class Publisher:
    """``async with Publisher(settings) as pub: await pub.send(topic, key, value)``."""

    def __init__(self, settings: Settings | None = None, *, pending_limit: int = 500,
                 buffer_limit: int = 200_000, give_up_s: float = 300.0) -> None:
        self.settings = settings or get_settings()
        self.pending_limit = pending_limit
        self.buffer_limit = buffer_limit
        self.give_up_s = give_up_s
        self.sent = 0
        self.failed = 0
        self._producer: AIOKafkaProducer | None = None
        self._pending: list[tuple[Awaitable[Any], tuple[str, bytes | None, bytes]]] = []

    async def __aenter__(self) -> Publisher:
        await self._connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        try:
            if exc[0] is None:
                await self.flush()
        finally:
            if self._producer is not None:
                await self._producer.stop()
                self._producer = None

    async def _connect(self) -> None:
        deadline = time.monotonic() + self.give_up_s
        delay = 0.5
        while True:
            producer = AIOKafkaProducer(bootstrap_servers=self.settings.bootstrap_servers, acks="all",
                                        linger_ms=5, request_timeout_ms=15_000, max_batch_size=1_048_576)
            try:
                await producer.start()
                self._producer = producer
                return
            except (KafkaConnectionError, KafkaError, OSError) as err:
                await producer.stop()
                if time.monotonic() > deadline:
                    raise ConnectionError(f"broker {self.settings.kafka_broker} unreachable: {err}") from err
                log.warning("broker unreachable (%s); retrying in %.1fs", err, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)

    async def send(self, topic: str, key: str | bytes | None, value: bytes) -> None:
        """Queue one message; awaits delivery of earlier ones in groups of ``pending_limit``."""
        kb = key.encode() if isinstance(key, str) else key
        await self._enqueue((topic, kb, value))
        if len(self._pending) >= self.pending_limit:
            await self.flush()

    async def _enqueue(self, item: tuple[str, bytes | None, bytes]) -> None:
        assert self._producer is not None, "use Publisher as an async context manager"
        topic, key, value = item
        future = await self._producer.send(topic, value=value, key=key)
        self._pending.append((future, item))

    async def flush(self) -> None:
        """Wait until every queued message is acknowledged; re-send failures until ``give_up_s``."""
        deadline = time.monotonic() + self.give_up_s
        delay = 0.5
        while self._pending:
            batch, self._pending = self._pending, []
            results = await asyncio.gather(*(f for f, _ in batch), return_exceptions=True)
            retry = [item for (_, item), r in zip(batch, results, strict=True) if isinstance(r, BaseException)]
            self.sent += len(batch) - len(retry)
            if not retry:
                return
            if time.monotonic() > deadline or len(retry) > self.buffer_limit:
                self.failed += len(retry)
                raise ConnectionError(f"{len(retry)} messages could not be delivered to {self.settings.kafka_broker}")
            log.warning("%d messages not acknowledged; retrying in %.1fs", len(retry), delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)
            for item in retry:
                try:
                    await self._enqueue(item)
                except (KafkaError, OSError):
                    self._pending.append((_failed(), item))


async def _failed() -> None:
    raise KafkaConnectionError("send failed")


class SyncPublisher:
    """A blocking publisher for code that cannot await (Streamlit callbacks): own loop, own thread."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or get_settings()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="cityops-publisher", daemon=True)
        self._thread.start()
        self._publisher = Publisher(self.settings, pending_limit=1, give_up_s=30.0)
        asyncio.run_coroutine_threadsafe(self._publisher.__aenter__(), self._loop).result(timeout=35)

    def publish(self, topic: str, key: str | None, value: bytes, timeout: float = 5.0) -> None:
        asyncio.run_coroutine_threadsafe(self._publisher.send(topic, key, value), self._loop).result(timeout=timeout)

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self._publisher.__aexit__(None, None, None), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
