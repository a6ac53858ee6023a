"""Every few seconds, each partition's consumer lag for ``cityops_consumer_lag``, and a stamp that the worker's
event loop is turning (its ``/healthz`` fails when the stamp gets old: a worker up but stuck).

Why from Faust's own bookkeeping: the highwater comes with every fetch response and the committed offset is
what Faust last committed, so a tick costs no request to the broker, whatever the partition count.
"""

from __future__ import annotations

import time

from cityops import observability
from streams.app import app

LAG_INTERVAL_S = 5.0
_last_tick: float | None = None


def last_tick() -> float | None:
    """``time.monotonic()`` of the last tick (None before the first): the worker's liveness for ``/healthz``."""
    return _last_tick


def partition_lags(consumer) -> dict[tuple[str, int], int]:  # noqa: ANN001 - Faust's Consumer
    """(topic, partition) → messages after the committed (else the last read) offset, for every assigned
    partition whose highwater is known (a fetch has answered for it)."""
    out: dict[tuple[str, int], int] = {}
    for tp in consumer.assignment():
        high = consumer.highwater(tp)
        position = consumer._committed_offset.get(tp)  # the next offset to process, as committed
        if position is None:
            read = consumer._read_offset.get(tp)
            position = read + 1 if read is not None else None
        if high is None or position is None:
            continue
        out[(tp.topic, tp.partition)] = max(int(high) - int(position), 0)
    return out


def update(consumer, gauge) -> None:  # noqa: ANN001 - Faust's Consumer, a labelled prometheus Gauge
    """Set the gauge for the partitions assigned now, and drop those this worker no longer has."""
    lags = partition_lags(consumer)
    for topic, partition in {(s.labels["topic"], s.labels["partition"]) for m in gauge.collect()
                             for s in m.samples} - {(t, str(p)) for t, p in lags}:
        gauge.remove(topic, partition)
    for (topic, partition), lag in lags.items():
        gauge.labels(topic, str(partition)).set(lag)


@app.timer(interval=LAG_INTERVAL_S, on_leader=False)
async def consumer_lag() -> None:
    global _last_tick
    _last_tick = time.monotonic()
    try:
        update(app.consumer, observability.metrics().consumer_lag)
    except Exception:  # noqa: BLE001 - a metric must never stop the worker
        observability.log.exception("consumer lag not measured")
