"""The Faust application: one consumer group reading the platform's topics as raw bytes.

Why raw bytes: decoding is ours (:func:`cityops.schemas.decode`) so that a bad message reaches the
dead-letter topic with its reason instead of being dropped by Faust's deserializer.

Why these broker settings: with Faust's defaults the first consumer-group join on the embedded
broker took 30 s; a 3 s rebalance timeout, 6 s session timeout and 1 s heartbeat make a worker
ready in about 4–5 s (measured), inside the 10 s the platform promises.
"""

from __future__ import annotations

import argparse
import sys

import faust

from cityops.settings import get_settings

settings = get_settings()

app = faust.App(
    settings.worker_id,
    broker=settings.faust_broker,
    store="memory://",
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


def run_from_args(args: argparse.Namespace) -> int:
    """``python -m cityops worker``: import the agents and hand over to Faust's worker command."""
    import streams.agents  # noqa: F401  (registers the agents on ``app``)

    sys.argv = ["cityops-worker", "worker", "--loglevel", getattr(args, "loglevel", "warn")]
    if settings.worker_web_port <= 0:
        sys.argv.append("--without-web")  # web_enabled=False alone does not stop the worker binding a port
    app.main()
    return 0
