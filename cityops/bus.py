"""The producer side of Kafka for plain Python producers: simulator, replayers, detectors, console.

Why not Faust here: producers are short scripts or UI callbacks; a plain aiokafka producer starts in
milliseconds and batches well.

Why a buffer in front of aiokafka: a broker that goes away (restart, network cut, the embedded
broker stopped for 30 s) must not crash a producer or lose what it was asked to send. ``send`` only
appends to a bounded in-memory :class:`SendBuffer` (``CITYOPS_PRODUCER_BUFFER`` messages; when full,
``send`` waits, so memory stays bounded and nothing is dropped). One background task delivers the
buffer in windows of ``pending_limit`` messages, pipelined, and removes a message only once the broker
acknowledged it. When a window fails the publisher is *degraded*: it logs so, drops the connection,
reconnects with exponential :class:`Backoff`, re-creates the platform's topics (the embedded broker
keeps topics in memory only and comes back empty) and re-sends the unacknowledged messages first.

Ordering: while degraded, a window holds at most one message per (topic, key), so a retried message
always reaches the broker before any later message with its key. A message re-sent after its
acknowledgement was lost arrives twice; the read model's dedupe (``co:seen:*``) makes that harmless.
The one case the buffer cannot undo, a later message of a key acknowledged while an earlier one in
the same window failed, is counted in ``reordered`` and logged (aiokafka keeps one request in flight
per broker, so it needs a broker that comes back within milliseconds of a batch expiring).

Security (SASL/TLS) comes from settings (``KAFKA_SECURITY_PROTOCOL`` …) through
:func:`kafka_security_kwargs` for aiokafka clients and :func:`faust_credentials` for the worker.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import logging
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import (
    ClusterAuthorizationFailedError,
    InvalidTopicError,
    KafkaConnectionError,
    KafkaError,
    MessageSizeTooLargeError,
    RecordListTooLargeError,
    TopicAlreadyExistsError,
    TopicAuthorizationFailedError,
    UnsupportedSaslMechanismError,
)

from cityops.settings import Settings, get_settings

log = logging.getLogger("cityops.bus")

SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
MAX_REQUEST_SIZE = 1_048_576
# Errors that retrying cannot cure: the publisher stops and reports them instead of retrying forever.
FATAL_ERRORS = (MessageSizeTooLargeError, RecordListTooLargeError, InvalidTopicError, TopicAuthorizationFailedError,
                ClusterAuthorizationFailedError, UnsupportedSaslMechanismError)


# --------------------------------------------------------------------------------------------- security


def ssl_context_for(settings: Settings) -> ssl.SSLContext | None:
    """The TLS context of ``SSL`` and ``SASL_SSL``; ``None`` for the plaintext protocols."""
    protocol = settings.kafka_security_protocol
    if protocol not in ("SSL", "SASL_SSL"):
        return None
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=settings.kafka_ssl_cafile or None)
    if settings.kafka_ssl_certfile:
        ctx.load_cert_chain(settings.kafka_ssl_certfile, settings.kafka_ssl_keyfile or None)
    if not settings.kafka_ssl_check_hostname:
        ctx.check_hostname = False
    return ctx


def _check_security(settings: Settings) -> None:
    protocol, mechanism = settings.kafka_security_protocol, settings.kafka_sasl_mechanism
    if protocol not in SECURITY_PROTOCOLS:
        raise ValueError(f"KAFKA_SECURITY_PROTOCOL={protocol!r}: expected one of {', '.join(SECURITY_PROTOCOLS)}")
    if protocol.startswith("SASL_"):
        if mechanism not in SASL_MECHANISMS:
            raise ValueError(f"KAFKA_SASL_MECHANISM={mechanism!r}: expected one of {', '.join(SASL_MECHANISMS)}")
        if not settings.kafka_sasl_username or not settings.kafka_sasl_password:
            raise ValueError(f"KAFKA_SECURITY_PROTOCOL={protocol} needs KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD")
    if settings.kafka_ssl_keyfile and not settings.kafka_ssl_certfile:
        raise ValueError("KAFKA_SSL_KEYFILE is set without KAFKA_SSL_CERTFILE")


def kafka_security_kwargs(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for every aiokafka client (producer, consumer, admin) from the settings.

    Empty for ``PLAINTEXT`` so the embedded stack passes exactly what it passed before. Raises
    ``ValueError`` on an unknown protocol or mechanism, or SASL without credentials, at start-up
    rather than as an obscure handshake failure later.
    """
    _check_security(settings)
    protocol = settings.kafka_security_protocol
    if protocol == "PLAINTEXT":
        return {}
    kwargs: dict[str, Any] = {"security_protocol": protocol}
    ctx = ssl_context_for(settings)
    if ctx is not None:
        kwargs["ssl_context"] = ctx
    if protocol.startswith("SASL_"):
        kwargs.update(sasl_mechanism=settings.kafka_sasl_mechanism, sasl_plain_username=settings.kafka_sasl_username,
                      sasl_plain_password=settings.kafka_sasl_password)
    return kwargs


def faust_credentials(settings: Settings) -> Any:
    """``broker_credentials`` for ``faust.App``: ``None`` (plaintext), ``SSLCredentials`` or ``SASLCredentials``.

    Faust derives the protocol from the credentials' class: SASL with an SSL context is ``SASL_SSL``.
    """
    _check_security(settings)
    import faust

    protocol = settings.kafka_security_protocol
    if protocol == "PLAINTEXT":
        return None
    ctx = ssl_context_for(settings)
    if protocol == "SSL":
        return faust.SSLCredentials(ctx)
    return faust.SASLCredentials(username=settings.kafka_sasl_username, password=settings.kafka_sasl_password,
                                 ssl_context=ctx, mechanism=settings.kafka_sasl_mechanism)


# --------------------------------------------------------------------------------------------- topics


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


# --------------------------------------------------------------------------------------------- pure parts


class BufferFull(Exception):
    """The producer buffer holds ``CITYOPS_PRODUCER_BUFFER`` messages: nothing was accepted."""


class Backoff:
    """Exponential delays between reconnection attempts: ``initial``, ×``factor`` each time, at most ``maximum``.

    Deterministic (no jitter): there are few producers per broker, and tests can predict the delays.
    """

    def __init__(self, initial: float = 0.25, factor: float = 2.0, maximum: float = 5.0) -> None:
        if initial <= 0 or factor < 1 or maximum < initial:
            raise ValueError("need 0 < initial <= maximum and factor >= 1")
        self.initial, self.factor, self.maximum = initial, factor, maximum
        self.attempts = 0

    def next(self) -> float:
        """The delay before the next attempt; each call counts one attempt."""
        delay = min(self.initial * self.factor ** self.attempts, self.maximum)
        self.attempts += 1
        return delay

    def reset(self) -> None:
        self.attempts = 0


@dataclass(eq=False)
class Entry:
    """One message waiting for its acknowledgement; ``seq`` is its place in the order ``send`` saw."""

    seq: int
    topic: str
    key: bytes | None
    value: bytes
    done: asyncio.Future[None] | None = field(default=None, repr=False)


@dataclass
class Window:
    """Messages sent together; ``extent`` is how many buffer entries were looked at to choose them."""

    entries: list[Entry]
    extent: int


@dataclass
class Settled:
    delivered: list[Entry]
    failed: list[Entry]
    reordered: list[tuple[str, bytes]]


class SendBuffer:
    """A bounded FIFO of messages not yet acknowledged. Pure: no I/O, so the ordering rules are unit-tested.

    A message leaves only through :meth:`settle` with a positive outcome; failed ones keep their place.
    """

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("the producer buffer needs room for at least one message")
        self.limit = limit
        self._items: deque[Entry] = deque()
        self._seq = itertools.count()

    def __len__(self) -> int:
        return len(self._items)

    @property
    def full(self) -> bool:
        return len(self._items) >= self.limit

    def append(self, topic: str, key: bytes | None, value: bytes, done: asyncio.Future[None] | None = None) -> Entry:
        if self.full:
            raise BufferFull(f"{len(self._items)} messages waiting for the broker (CITYOPS_PRODUCER_BUFFER)")
        entry = Entry(next(self._seq), topic, key, value, done)
        self._items.append(entry)
        return entry

    def prepend(self, messages: Iterable[tuple[str, bytes | None, bytes]]) -> int:
        """Put ``messages`` (in their order) before everything buffered; the bound does not apply to them."""
        entries = [Entry(-1, t, k, v) for t, k, v in messages]
        base = min(min((e.seq for e in self._items), default=0), 0) - len(entries) - 1  # negative: not from send
        for i, e in enumerate(entries):
            e.seq = base + i  # earlier than anything buffered, for the reorder check
        self._items.extendleft(reversed(entries))
        return len(entries)

    def window(self, size: int, *, distinct_keys: bool = False, scan_limit: int | None = None) -> Window:
        """The next messages to send, oldest first.

        With ``distinct_keys`` (while recovering from a failure) a (topic, key) appears at most once, and
        a key seen once is skipped to the end of the window, so a key's messages are sent strictly one
        window after another. ``scan_limit`` bounds the work when one key dominates the buffer.
        """
        scan = scan_limit if scan_limit is not None else size * 8
        chosen: list[Entry] = []
        seen: set[tuple[str, bytes | None]] = set()
        extent = 0
        for entry in itertools.islice(self._items, max(scan, size)):
            extent += 1
            if distinct_keys:
                ident = (entry.topic, entry.key)
                if ident in seen:
                    continue
                if entry.key is not None:
                    seen.add(ident)
            chosen.append(entry)
            if len(chosen) >= size:
                break
        return Window(chosen, extent)

    def settle(self, window: Window, outcomes: Iterable[bool]) -> Settled:
        """Remove the acknowledged messages of ``window``; the others keep their place at the head."""
        flags = list(outcomes)
        if len(flags) != len(window.entries):
            raise ValueError("one outcome per message of the window")
        delivered = [e for e, ok in zip(window.entries, flags, strict=True) if ok]
        failed = [e for e, ok in zip(window.entries, flags, strict=True) if not ok]
        gone = {id(e) for e in delivered}
        head = [self._items.popleft() for _ in range(min(window.extent, len(self._items)))]
        self._items.extendleft(reversed([e for e in head if id(e) not in gone]))
        return Settled(delivered, failed, reordered_keys(delivered, failed))


def reordered_keys(delivered: list[Entry], failed: list[Entry]) -> list[tuple[str, bytes]]:
    """Keys where a later message reached the broker while an earlier one did not: order already broken."""
    first_failed: dict[tuple[str, bytes], int] = {}
    for e in failed:
        if e.key is not None:
            first_failed.setdefault((e.topic, e.key), e.seq)
    out = {(e.topic, e.key) for e in delivered if e.key is not None
           and (e.topic, e.key) in first_failed and e.seq > first_failed[(e.topic, e.key)]}
    return sorted(out)  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------- publisher


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
                 connect_first: bool = True) -> None:
        self.settings = settings or get_settings()
        self.connect_first = connect_first
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
                                    linger_ms=5, request_timeout_ms=self.request_timeout_ms,
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
