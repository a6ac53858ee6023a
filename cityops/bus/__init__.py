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

Modules: :mod:`~cityops.bus.security` (SASL/TLS from settings: :func:`kafka_security_kwargs` for aiokafka
clients, :func:`faust_credentials` for the worker), :mod:`~cityops.bus.topics` (:func:`ensure_topics`),
:mod:`~cityops.bus.buffer` (the pure parts: :class:`SendBuffer`, :class:`Backoff`) and
:mod:`~cityops.bus.publisher` (:class:`Publisher`, :class:`SyncPublisher`). The names below are the public ones.
"""

from cityops.bus.buffer import Backoff, BufferFull, Entry, SendBuffer, Settled, Window, reordered_keys
from cityops.bus.publisher import FATAL_ERRORS, MAX_REQUEST_SIZE, Publisher, SyncPublisher
from cityops.bus.security import (
    SASL_MECHANISMS,
    SECURITY_PROTOCOLS,
    faust_credentials,
    kafka_security_kwargs,
    ssl_context_for,
)
from cityops.bus.topics import ensure_topics

__all__ = [
    "FATAL_ERRORS", "MAX_REQUEST_SIZE", "SASL_MECHANISMS", "SECURITY_PROTOCOLS", "Backoff", "BufferFull", "Entry",
    "Publisher", "SendBuffer", "Settled", "SyncPublisher", "Window", "ensure_topics",
    "faust_credentials", "kafka_security_kwargs", "reordered_keys", "ssl_context_for",
]
