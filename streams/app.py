"""The Faust application: one consumer group reading the platform's topics as raw bytes.

Why raw bytes: decoding is ours (:func:`cityops.schemas.decode`) so that a bad message reaches the
dead-letter topic with its reason instead of being dropped by Faust's deserializer.

Why these broker settings: with Faust's defaults the first consumer-group join on the embedded
broker is slow; a 3 s rebalance timeout, 6 s session timeout and 1 s heartbeat make a worker
ready inside the 10 s the platform promises.

This module only configures: importing it reads no settings and changes nothing. The process's app is made
from the settings the first time ``app`` is named (``from streams.app import app``: the topics and agents
declaring themselves on it); the worker's start-up work is in :mod:`streams.worker`.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import faust

from cityops.bus import faust_credentials
from cityops.settings import Settings, get_settings

app: faust.App  # made on first use by __getattr__ below, then a plain module attribute


def faust_datadir(settings: Settings) -> Path:
    """Where Faust puts its per-app folder: under ``var/``, not the working directory (Faust's default).
    Faust creates the per-app folder but not its parents: :func:`streams.worker.prepare` does."""
    return settings.var_dir / "faust"


def create_app(settings: Settings) -> faust.App:
    """A Faust app configured from ``settings``: nothing started, nothing written."""
    return faust.App(
        settings.worker_id,
        broker=settings.faust_broker,
        broker_credentials=faust_credentials(settings),  # SASL/TLS from KAFKA_SECURITY_PROTOCOL etc.; None: plaintext
        store="memory://",
        datadir=str(faust_datadir(settings) / "{conf.name}-data"),
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
        # 8 MB per partition and fetch (Faust's default, 1 MB, holds too few gateway envelopes): on a backlog
        # the sensor agent's batches of 600 envelopes fill instead of being cut while the next fetch is on its way.
        consumer_max_fetch_size=8 * 1024**2,
        stream_wait_empty=False,
        producer_acks=-1,
    )


@cache
def get_app() -> faust.App:
    """The process's one app, from the settings of the moment it is first asked for."""
    return create_app(get_settings())


def __getattr__(name: str) -> faust.App:
    """``streams.app.app``: the process's app (:func:`get_app`), made when first named, not at import."""
    if name != "app":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()["app"] = made = get_app()
    return made
