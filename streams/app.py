"""The Faust application: one consumer group reading the platform's topics as raw bytes.

Why raw bytes: decoding is ours (:func:`cityops.schemas.decode`) so that a bad message reaches the
dead-letter topic with its reason instead of being dropped by Faust's deserializer.

Why these broker settings: with Faust's defaults the first consumer-group join on the embedded
broker took 30 s; a 3 s rebalance timeout, 6 s session timeout and 1 s heartbeat make a worker
ready in about 4–5 s (measured), inside the 10 s the platform promises.
"""

from __future__ import annotations

import argparse
import gc
import sys

import aiokafka
import faust

from cityops.bus import faust_credentials
from cityops.settings import get_settings

settings = get_settings()


def _bound_fetch_wait(max_wait_ms: int) -> None:
    """Make every consumer this process creates wait at most ``max_wait_ms`` for a fetch to fill.

    Faust hard-codes ``fetch_max_wait_ms=1500`` for its consumers and offers no setting. A broker that
    answers a fetch when data arrives makes that harmless, but the embedded broker (tansu) holds an
    empty fetch for the whole wait, so a reading produced just after the fetch was sent waited up to
    1.5 s: that was most of the produce → Redis latency (p50 0.6 s even at 1,200 readings/s).
    """
    original = aiokafka.AIOKafkaConsumer.__init__
    if getattr(original, "_cityops_bounded", False):
        return

    def init(self, *topics, **kwargs) -> None:  # noqa: ANN001, ANN002, ANN003
        kwargs["fetch_max_wait_ms"] = min(int(kwargs.get("fetch_max_wait_ms", max_wait_ms)), max_wait_ms)
        original(self, *topics, **kwargs)

    init._cityops_bounded = True  # type: ignore[attr-defined]
    aiokafka.AIOKafkaConsumer.__init__ = init  # type: ignore[method-assign]


_bound_fetch_wait(settings.fetch_max_wait_ms)

_datadir = settings.var_dir / "faust"  # Faust creates its per-app folder here, but not the parents
_datadir.mkdir(parents=True, exist_ok=True)

app = faust.App(
    settings.worker_id,
    broker=settings.faust_broker,
    broker_credentials=faust_credentials(settings),  # SASL/TLS from KAFKA_SECURITY_PROTOCOL etc.; None: plaintext
    store="memory://",
    datadir=str(_datadir / "{conf.name}-data"),  # not the working directory (Faust's default)
    autodiscover=False,
    web_enabled=settings.worker_web_port > 0,
    web_port=settings.worker_web_port or 6066,
    web_host="127.0.0.1",
    topic_partitions=settings.partitions,
    topic_replication_factor=1,
    table_standby_replicas=0,
    consumer_auto_offset_reset="earliest",
    broker_rebalance_timeout=settings.rebalance_timeout_s,
    broker_session_timeout=settings.session_timeout_s,
    broker_heartbeat_interval=settings.heartbeat_interval_s,
    broker_commit_interval=1.0,
    # 8 MB per partition and fetch (Faust's default: 1 MB, about 75 gateway envelopes): on a backlog the
    # sensor agent's batches of 600 envelopes were cut at ~350 while the next fetch was on its way.
    consumer_max_fetch_size=8 * 1024**2,
    stream_wait_empty=False,
    producer_acks=-1,
)

cases_topic = app.topic(settings.topics.cases, value_serializer="raw", key_serializer="raw",
                        partitions=settings.partitions)
sensors_topic = app.topic(settings.topics.sensors, value_serializer="raw", key_serializer="raw",
                          partitions=settings.partitions)
detections_topic = app.topic(settings.topics.detections, value_serializer="raw", key_serializer="raw",
                             partitions=settings.partitions)
commands_topic = app.topic(settings.topics.commands, value_serializer="raw", key_serializer="raw",
                           partitions=settings.partitions)
deadletter_topic = app.topic(settings.topics.deadletter, value_serializer="raw", key_serializer="raw",
                             partitions=settings.partitions)


@app.task
async def freeze_startup_heap() -> None:
    """Once the worker has started: make sure the city model, catalogue and device registries are loaded
    (``run_from_args`` loads them before Faust starts), then move everything alive into the collector's
    permanent generation (``gc.freeze()``).

    Why: these objects (the city model, the catalogue, Faust's app, agents and topics, every imported
    module: most of the worker's heap) live as long as the process, yet each full collection traverses
    all of them again; frozen, the collector only looks at what batches allocate. The registries are
    loaded before the freeze, not on the first batch, so that they are frozen too. Objects frozen this way are still
    freed by reference counting when dropped; only cyclic garbage among them would stay.
    """
    from streams import runtime  # not at import time: the contexts load files, and tests import this module

    runtime.city()
    runtime.sensor_context()
    runtime.case_context()
    runtime.detection_context()
    gc.collect()  # leave start-up's garbage out of what is frozen
    gc.freeze()


def run_from_args(args: argparse.Namespace) -> int:
    """``python -m cityops worker``: import the agents and hand over to Faust's worker command."""
    import streams.agents  # noqa: F401  (registers the agents on ``app``)
    from streams import runtime

    # The registries before the consumer starts: loading the city model takes over a second of the event
    # loop, which on a backlog stalled the first batches (measured in bench/bench_sensors.py).
    runtime.city()
    runtime.sensor_context()
    runtime.case_context()
    runtime.detection_context()

    sys.argv = ["cityops-worker", "worker", "--loglevel", getattr(args, "loglevel", "warn")]
    if settings.worker_web_port <= 0:
        sys.argv.append("--without-web")  # web_enabled=False alone does not stop the worker binding a port
    app.main()
    return 0
