"""The publishers: :class:`Publisher` (asyncio) delivers a :class:`~cityops.bus.buffer.SendBuffer` through aiokafka
and rides out broker outages; :class:`SyncPublisher` wraps it for code that cannot await (see :mod:`cityops.bus`)."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import (
    ClusterAuthorizationFailedError,
    InvalidTopicError,
    KafkaConnectionError,
    KafkaError,
    MessageSizeTooLargeError,
    RecordListTooLargeError,
    TopicAuthorizationFailedError,
    UnsupportedSaslMechanismError,
)

from cityops.bus.buffer import Backoff, Entry, SendBuffer
from cityops.bus.security import kafka_security_kwargs
from cityops.bus.topics import ensure_topics
from cityops.settings import Settings, get_settings

log = logging.getLogger("cityops.bus")

MAX_REQUEST_SIZE = 1_048_576
# Errors that retrying cannot cure: the publisher stops and reports them instead of retrying forever.
FATAL_ERRORS = (MessageSizeTooLargeError, RecordListTooLargeError, InvalidTopicError, TopicAuthorizationFailedError,
                ClusterAuthorizationFailedError, UnsupportedSaslMechanismError)


class Publisher:
    """``async with Publisher(settings) as pub: await pub.send(topic, key, value)``.

    ``send`` returns once the message is buffered; ``flush`` (and leaving the ``async with``) waits
    until every buffered message is acknowledged. ``give_up_s`` (``CITYOPS_PRODUCER_GIVE_UP_S``; 0 or
    ``None``: never) bounds how long an unreachable broker is retried before ``send``/``flush`` raise
    ``ConnectionError``.

    ``on_reconnect``, if given, is called after every outage, once the broker answers again, and the
    messages it returns are sent before everything still buffered. Why: the embedded broker keeps
    topics in memory, so after *its* restart even acknowledged messages the worker had not yet read
    are gone; a deterministic producer (the simulator, ``make chaos``) returns what it sent so far,
    ahead of the later messages, and the read model's dedupe drops what had been applied.
    """

    def __init__(self, settings: Settings | None = None, *, pending_limit: int = 500,
                 buffer_limit: int | None = None, give_up_s: float | None = None,
                 backoff: Backoff | None = None, request_timeout_ms: int = 15_000,
                 on_reconnect: Callable[[], Iterable[tuple[str, str | bytes | None, bytes]]] | None = None,
                 connect_first: bool = True, linger_ms: int = 5) -> None:
        self.settings = settings or get_settings()
        self.connect_first = connect_first
        # How long a batch waits for more messages. 5 ms suits producers that send bursts; a door whose every
        # request waits for its own ack (the API) gains nothing from waiting, as one window is in flight at a time.
        self.linger_ms = max(0, linger_ms)
        self.pending_limit = max(1, pending_limit)
        self.buffer = SendBuffer(buffer_limit or self.settings.producer_buffer)
        give_up = self.settings.producer_give_up_s if give_up_s is None else give_up_s
        self.give_up_s = give_up if give_up and give_up > 0 else None
        self.backoff = backoff or Backoff()
        self.request_timeout_ms = request_timeout_ms
        self.sent = 0          # acknowledged by the broker
        self.failed = 0        # given up on (only with give_up_s)
        self.retried = 0       # sends that failed and were tried again
        self.outages = 0       # times the publisher became degraded
        self.reordered = 0     # keys whose order the broker saw broken (see the module docstring)
        self.replayed = 0      # messages ``on_reconnect`` asked to send again
        self.last_acked_seq = -1  # highest ``seq`` acknowledged: the n-th ``send`` has seq n
        self.resets = 0        # times acknowledged offsets went back (a broker that lost its log)
        self._high_offsets: dict[tuple[str, int], int] = {}
        self._reset_pending = False
        self.on_reconnect = on_reconnect
        self.degraded_since: float | None = None
        self._producer: AIOKafkaProducer | None = None
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._progress = asyncio.Event()
        self._error: BaseException | None = None
        self._security = kafka_security_kwargs(self.settings)

    @property
    def degraded(self) -> bool:
        """True while the broker is unreachable and messages wait in the buffer."""
        return self.degraded_since is not None

    @property
    def buffered(self) -> int:
        return len(self.buffer)

    async def __aenter__(self) -> Publisher:
        if self.connect_first:
            await self._connect(deadline=time.monotonic() + (self.give_up_s or 300.0))
        self._task = asyncio.create_task(self._deliver(), name="cityops-publisher")
        return self

    async def __aexit__(self, *exc: object) -> None:
        try:
            if exc[0] is None:
                await self.flush()
        finally:
            if self._task is not None:
                self._task.cancel()
                try:
                    await self._task
                except (asyncio.CancelledError, Exception):  # noqa: BLE001 - already reported via _error
                    pass
                self._task = None
            await self._close_producer()

    async def send(self, topic: str, key: str | bytes | None, value: bytes, *, wait: bool = True,
                   done: asyncio.Future[None] | None = None) -> Entry:
        """Buffer one message for delivery; waits while the buffer is full (or raises ``BufferFull`` if not ``wait``).

        ``done``, if given, is resolved when the broker acknowledges the message. A message the broker
        could never take (over 1 MiB) is refused here, as aiokafka would refuse it, not retried forever.
        """
        kb = key.encode() if isinstance(key, str) else key
        if len(value) + len(kb or b"") + 512 > MAX_REQUEST_SIZE:
            raise MessageSizeTooLargeError(f"message of {len(value)} bytes exceeds the {MAX_REQUEST_SIZE}-byte limit")
        while True:
            self._raise_if_failed()
            if not self.buffer.full or not wait:
                entry = self.buffer.append(topic, kb, value, done)
                break
            self._progress.clear()
            await self._progress.wait()
        self._wake.set()
        return entry

    async def flush(self) -> None:
        """Wait until every buffered message is acknowledged (retrying through outages)."""
        while len(self.buffer):
            self._raise_if_failed()
            if self._task is None or self._task.done():
                self._raise_if_failed()
                raise RuntimeError("use Publisher as an async context manager")
            self._progress.clear()
            self._wake.set()
            await self._progress.wait()
        self._raise_if_failed()

    def _raise_if_failed(self) -> None:
        if self._error is not None:
            raise ConnectionError(str(self._error)) from self._error

    # -- delivery task

    async def _deliver(self) -> None:
        try:
            if self._producer is None:  # ``connect_first=False``: connect here, degraded until the broker answers
                err = await self._try_connect()
                if err is not None:
                    await self._recover(err, time.monotonic())
            while True:
                if not len(self.buffer):
                    self._progress.set()
                    self._wake.clear()
                    await self._wake.wait()
                    continue
                window = self.buffer.window(self.pending_limit, distinct_keys=self.degraded)
                started = time.monotonic()
                outcomes, err = await self._send_window(window.entries)
                settled = self.buffer.settle(window, outcomes)
                self.sent += len(settled.delivered)
                self.last_acked_seq = max([self.last_acked_seq, *(e.seq for e in settled.delivered)])
                for e in settled.delivered:
                    if e.done is not None and not e.done.done():
                        e.done.set_result(None)
                if settled.reordered:
                    self.reordered += len(settled.reordered)
                    log.error("producer: %d keys reached the broker out of order during an outage, e.g. %s",
                              len(settled.reordered), settled.reordered[:3])
                self._progress.set()
                if self._reset_pending:  # delivered, but to a broker that lost everything before: re-send
                    self._reset_pending = False
                    await self._recover(KafkaConnectionError("the broker lost its log"), started)
                    continue
                if not settled.failed:
                    if self.degraded_since is not None:
                        log.warning("producer recovered: broker %s reachable again after %.1fs; %d messages still "
                                    "buffered", self.settings.kafka_broker, time.monotonic() - self.degraded_since,
                                    len(self.buffer))
                        self.degraded_since = None
                    self.backoff.reset()
                    continue
                self.retried += len(settled.failed)
                await self._recover(err, started)
        except BaseException as err:
            if not isinstance(err, asyncio.CancelledError):
                self._error = err
                log.error("producer stopped: %s", err)
            self._progress.set()
            raise

    async def _send_window(self, entries: list[Entry]) -> tuple[list[bool], BaseException | None]:
        """Send every message of the window, then wait for all acknowledgements; one flag per message."""
        producer = self._producer
        futures: list[asyncio.Future[Any] | None] = []
        err: BaseException | None = None
        for entry in entries:
            if producer is None or err is not None:
                futures.append(None)  # not even handed to aiokafka: stays buffered
                continue
            try:
                futures.append(await producer.send(entry.topic, value=entry.value, key=entry.key))
            except FATAL_ERRORS:
                raise
            except (KafkaError, OSError) as exc:  # no metadata: the broker is gone
                err = exc
                futures.append(None)
        results = await asyncio.gather(*(f for f in futures if f is not None), return_exceptions=True)
        it = iter(results)
        outcomes: list[bool] = []
        for f in futures:
            if f is None:
                outcomes.append(False)
                continue
            r = next(it)
            if isinstance(r, FATAL_ERRORS):
                raise r
            if isinstance(r, BaseException):
                err = err or r
                outcomes.append(False)
            else:
                outcomes.append(True)
                self._note_offset(r)
        return outcomes, err or (None if producer is not None else KafkaConnectionError("not connected"))

    def _note_offset(self, meta: Any) -> None:
        """Remember the highest acknowledged offset per partition; one going *back* means the broker lost its log.

        That is what the memory-only embedded broker does when it restarts faster than a request times out:
        aiokafka's own retries deliver to the new, empty topic and no send fails. Counted in ``resets``;
        the next window then goes through :meth:`_recover` (``on_reconnect``'s re-sends first).
        """
        tp = (meta.topic, meta.partition)
        high = self._high_offsets.get(tp, -1)
        if meta.offset < high and not self._reset_pending:
            self._reset_pending = True
            self.resets += 1
            log.error("producer: %s[%d] acknowledged offset %d after %d: the broker restarted and lost its log",
                      meta.topic, meta.partition, meta.offset, high)
        self._high_offsets[tp] = meta.offset if meta.offset < high else max(high, meta.offset)

    async def _recover(self, err: BaseException | None, since: float) -> None:
        """Degraded: drop the connection, reconnect with backoff, re-create the topics, resume delivery.

        ``since`` is when the failed window was sent: the outage is timed from there, not from the
        failure, which aiokafka reports only after its request timeout.
        """
        if self.degraded_since is None:
            self.degraded_since = since
            self.outages += 1
            log.warning("producer degraded: broker %s unreachable (%s); %d messages buffered, retrying",
                        self.settings.kafka_broker, err, len(self.buffer))
        await self._close_producer()
        deadline = self.degraded_since + self.give_up_s if self.give_up_s else None
        await self._connect(deadline)
        self._high_offsets.clear()  # perhaps a new broker: its offsets start again; the re-sends below cover it
        self._reset_pending = False
        try:
            created = await ensure_topics(self.settings)
            if created:
                log.warning("producer: broker came back without topics; re-created %s", ", ".join(created))
        except (KafkaError, OSError) as exc:
            log.warning("producer: could not check topics after reconnecting (%s)", exc)
        if self.on_reconnect is not None:
            again = [(t, k.encode() if isinstance(k, str) else k, v) for t, k, v in self.on_reconnect()]
            self.replayed += self.buffer.prepend(again)
            log.warning("producer: re-sending %d earlier messages ahead of %d buffered", len(again),
                        len(self.buffer) - len(again))

    async def _try_connect(self) -> BaseException | None:
        """One attempt to start a producer; the error when the broker did not answer."""
        producer = AIOKafkaProducer(bootstrap_servers=self.settings.bootstrap_servers, acks="all",
                                    linger_ms=self.linger_ms, request_timeout_ms=self.request_timeout_ms,
                                    max_batch_size=MAX_REQUEST_SIZE, max_request_size=MAX_REQUEST_SIZE,
                                    **self._security)
        try:
            await producer.start()
        except (KafkaConnectionError, KafkaError, OSError) as err:
            await producer.stop()
            return err
        self._producer = producer
        return None

    async def _connect(self, deadline: float | None) -> None:
        while True:
            err = await self._try_connect()
            if err is None:
                return
            if deadline is not None and time.monotonic() > deadline:
                self.failed += len(self.buffer)
                raise ConnectionError(f"broker {self.settings.kafka_broker} unreachable: {err}; "
                                      f"{len(self.buffer)} messages not delivered") from err
            delay = self.backoff.next()
            log.warning("broker %s unreachable (%s); %d messages buffered; retrying in %.1fs",
                        self.settings.kafka_broker, err, len(self.buffer), delay)
            await asyncio.sleep(delay)

    async def _close_producer(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            try:
                await producer.stop()
            except (KafkaError, OSError) as err:  # unsent batches of a dead connection: they are still buffered
                log.debug("closing producer: %s", err)


class SyncPublisher:
    """A blocking publisher for code that cannot await (Streamlit callbacks): own loop, own thread.

    ``publish`` returns ``True`` once the broker acknowledged the message, ``False`` when it did not
    within ``timeout`` (the broker is unreachable): the message then stays buffered and is delivered,
    in order, when the broker is back. It does not raise in that case on purpose: a caller that
    retried would send a second command with a new id.
    """

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or get_settings()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="cityops-publisher", daemon=True)
        self._thread.start()
        # connect_first=False: a console started while the broker is down must still load its pages; commands
        # wait in the buffer and ``publish`` says they were not delivered yet
        self._publisher = Publisher(self.settings, pending_limit=50, give_up_s=self.settings.producer_give_up_s,
                                    connect_first=False)
        asyncio.run_coroutine_threadsafe(self._publisher.__aenter__(), self._loop).result(timeout=10)

    @property
    def degraded(self) -> bool:
        return self._publisher.degraded

    def publish(self, topic: str, key: str | None, value: bytes, timeout: float = 5.0) -> bool:
        """Buffer one message and wait up to ``timeout`` (1 s while already degraded) for the broker's ack."""
        if self.degraded:
            timeout = min(timeout, 1.0)

        async def go() -> asyncio.Future[None]:
            done: asyncio.Future[None] = self._loop.create_future()
            await self._publisher.send(topic, key, value, wait=False, done=done)
            return done

        done = asyncio.run_coroutine_threadsafe(go(), self._loop).result(timeout=timeout)

        async def wait() -> bool:
            try:
                await asyncio.wait_for(asyncio.shield(done), timeout)
                return True
            except TimeoutError:
                return False

        delivered = asyncio.run_coroutine_threadsafe(wait(), self._loop).result(timeout=timeout + 5)
        if not delivered:
            log.warning("broker unreachable: message to %s buffered (%d waiting), delivered when it is back",
                        topic, self._publisher.buffered)
        return delivered

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self._publisher.__aexit__(None, None, None), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
