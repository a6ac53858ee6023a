"""Operator observability: each process's Prometheus metrics and its ``/healthz`` and ``/metrics`` endpoints.

Why one module: every process (worker, console, detectors, briefing, API, MQTT bridge, notify) must use
the same metric names and labels, so one scrape config and one set of alert rules (docs/deploy.md,
"Monitoring") cover them all. The metrics live in one registry per process (:func:`metrics`); the API serves
them on its own port (doors/api/app.py), every other process through :func:`serve`, a small threaded HTTP
server on ``CITYOPS_METRICS_HOST`` (loopback by default) and the process's port
(:meth:`cityops.settings.Settings.metrics_port`; 0, the default, serves nothing).

Metric names (stable; the ``_total`` suffix is added by the client library on the exposition):

| name | kind | labels | what |
|---|---|---|---|
| ``cityops_events_consumed_total`` | counter | topic | events an agent took from a topic (batches that completed) |
| ``cityops_events_applied_total`` | counter | topic | events whose effects were applied to the read model now |
| ``cityops_events_refused_total`` | counter | topic, stage | events (or readings) dead-lettered, per stage |
| ``cityops_consumer_lag`` | gauge | topic, partition | messages of a partition not read yet by this worker |
| ``cityops_batch_seconds`` | histogram | agent | time to process one batch, Redis outages included |
| ``cityops_redis_roundtrips_total`` | counter | process | requests sent to Redis (one command or one pipeline) |
| ``cityops_console_read_seconds`` | histogram | read | time of one console read of the read model |
| ``cityops_detector_fps`` | gauge | camera | frames processed per second, per camera |
| ``cityops_notifications_total`` | counter | channel, outcome | notifications sent, failed, retried, … |
| ``cityops_notification_seconds`` | histogram | channel | time of one delivery attempt |
| ``cityops_healthy`` | gauge | process | 1 when the last ``/healthz`` passed, else 0 |
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import Counter as Tally
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

log = logging.getLogger("cityops.observability")

#: Batch and delivery times: a live batch takes milliseconds, a backlog batch up to seconds, an outage longer.
SECONDS_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
#: Console reads: the big screen's target is ≤ 50 ms p95.
READ_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0)


class Metrics:
    """The metric definitions, registered in ``registry`` (one per process; tests make their own)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        kw: dict[str, Any] = {"registry": registry}
        self.events_consumed = Counter("cityops_events_consumed", "Events an agent took from a topic.",
                                       ["topic"], **kw)
        self.events_applied = Counter("cityops_events_applied", "Events applied to the read model now.",
                                      ["topic"], **kw)
        self.events_refused = Counter("cityops_events_refused", "Events or readings dead-lettered, per stage.",
                                      ["topic", "stage"], **kw)
        self.consumer_lag = Gauge("cityops_consumer_lag", "Messages of a partition this worker has not read yet.",
                                  ["topic", "partition"], **kw)
        self.batch_seconds = Histogram("cityops_batch_seconds", "Time to process one batch of an agent.",
                                       ["agent"], buckets=SECONDS_BUCKETS, **kw)
        self.redis_roundtrips = Counter("cityops_redis_roundtrips", "Requests sent to Redis (a command or a "
                                        "pipeline).", ["process"], **kw)
        self.console_read_seconds = Histogram("cityops_console_read_seconds", "Time of one console read.",
                                              ["read"], buckets=READ_BUCKETS, **kw)
        self.detector_fps = Gauge("cityops_detector_fps", "Frames processed per second.", ["camera"], **kw)
        self.notifications = Counter("cityops_notifications", "Notification deliveries by outcome.",
                                     ["channel", "outcome"], **kw)
        self.notification_seconds = Histogram("cityops_notification_seconds", "Time of one delivery attempt.",
                                              ["channel"], buckets=SECONDS_BUCKETS, **kw)
        self.healthy = Gauge("cityops_healthy", "1 when the process's last health check passed.", ["process"], **kw)

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry)


_metrics = Metrics(CollectorRegistry(auto_describe=True))


def metrics() -> Metrics:
    """This process's metrics."""
    return _metrics


# --- the worker's batches -------------------------------------------------------------------------------------

@dataclass
class BatchTally:
    """What one attempt at a batch did; added to the counters only when the attempt completes.

    Why: a batch is processed again while Redis is away (streams/agents/redis_outage.py); counting as it goes
    would count the retried batch's refusals once per attempt."""

    topic: str
    applied: Tally[str] = field(default_factory=Tally)
    refused: Tally[tuple[str, str]] = field(default_factory=Tally)


_batch: ContextVar[BatchTally | None] = ContextVar("cityops_batch_tally", default=None)


@contextmanager
def batch(agent: str, topic: str, consumed: int, m: Metrics | None = None) -> Iterator[BatchTally]:
    """One attempt at a batch of ``consumed`` events of ``topic``: its time, consumption, applications and
    refusals are counted when the block completes, nothing when it raises (the batch will come again)."""
    m = m or metrics()
    tally, started = BatchTally(topic), time.perf_counter()
    token = _batch.set(tally)
    try:
        yield tally
    finally:
        _batch.reset(token)
    m.batch_seconds.labels(agent).observe(time.perf_counter() - started)
    if consumed:
        m.events_consumed.labels(topic).inc(consumed)
    for t, n in tally.applied.items():
        m.events_applied.labels(t).inc(n)
    for (t, stage), n in tally.refused.items():
        m.events_refused.labels(t, stage).inc(n)


def count_applied(n: int, topic: str | None = None) -> None:
    """``n`` events applied now, of ``topic`` or else of the batch being processed (counted with it). Outside a
    batch and without a topic (a timer's writes) nothing is counted: those are no consumed events."""
    tally = _batch.get()
    if tally is not None:
        tally.applied[topic or tally.topic] += n
    elif topic is not None and n:
        metrics().events_applied.labels(topic).inc(n)


def count_refused(topic: str, stage: str) -> None:
    """One event or reading of ``topic`` dead-lettered at ``stage`` (counted with the batch inside :func:`batch`)."""
    tally = _batch.get()
    if tally is not None:
        tally.refused[(topic, stage)] += 1
    else:
        metrics().events_refused.labels(topic, stage).inc()


# --- Redis round trips ----------------------------------------------------------------------------------------

_counted_redis: str | None = None


def count_redis_round_trips(process: str) -> None:
    """Count every request this process sends to Redis, sync or asyncio client, under ``process``.

    Why at the connection: every command and every pipeline goes through ``send_packed_command`` once, so the
    count is the number of round trips whatever module sends them. Idempotent."""
    global _counted_redis
    if _counted_redis is not None:
        return
    import redis.asyncio.connection as async_conn
    import redis.connection as sync_conn

    child = metrics().redis_roundtrips.labels(process)
    sync_send = sync_conn.AbstractConnection.send_packed_command
    async_send = async_conn.AbstractConnection.send_packed_command

    def send(self, command, check_health=True):  # noqa: ANN001, ANN202 - redis-py's signature
        child.inc()
        return sync_send(self, command, check_health)

    async def asend(self, command, check_health=True):  # noqa: ANN001, ANN202
        child.inc()
        return await async_send(self, command, check_health)

    sync_conn.AbstractConnection.send_packed_command = send  # type: ignore[method-assign]
    async_conn.AbstractConnection.send_packed_command = asend  # type: ignore[method-assign]
    _counted_redis = process


# --- console reads, detectors, notifications ------------------------------------------------------------------

@contextmanager
def timed_read(name: str) -> Iterator[None]:
    """Time one console read (``with timed_read("big_screen"): ...``); a read that raises is timed too."""
    started = time.perf_counter()
    try:
        yield
    finally:
        metrics().console_read_seconds.labels(name).observe(time.perf_counter() - started)


def set_detector_fps(camera: str, fps: float) -> None:
    metrics().detector_fps.labels(camera).set(fps)


#: The outcomes a notifier reports (``cityops_notifications_total{outcome}``).
NOTIFICATION_OUTCOMES = ("sent", "failed", "retried", "summarised", "dropped")


def count_notification(channel: str, outcome: str, seconds: float | None = None) -> None:
    """One delivery attempt on ``channel`` (``wecom``, ``dingtalk``, ``feishu``, ``webhook``, ``email``):
    ``outcome`` one of :data:`NOTIFICATION_OUTCOMES`, ``seconds`` the attempt's time when it was made."""
    if outcome not in NOTIFICATION_OUTCOMES:
        raise ValueError(f"outcome {outcome!r} is not one of {', '.join(NOTIFICATION_OUTCOMES)}")
    m = metrics()
    m.notifications.labels(channel, outcome).inc()
    if seconds is not None:
        m.notification_seconds.labels(channel).observe(seconds)


# --- health -----------------------------------------------------------------------------------------------------

Check = Callable[[], tuple[bool, str]]


@dataclass
class Health:
    """The named checks of one process; each returns (ok, detail) and must be quick (it runs on every probe)."""

    process: str
    checks: dict[str, Check] = field(default_factory=dict)

    def add(self, name: str, check: Check) -> None:
        self.checks[name] = check

    def run(self, m: Metrics | None = None) -> tuple[bool, dict[str, Any]]:
        """(healthy, the JSON body): healthy when every check passes; a check that raises fails with its error."""
        results: dict[str, dict[str, Any]] = {}
        for name, check in self.checks.items():
            try:
                ok, detail = check()
            except Exception as err:  # noqa: BLE001 - a failing check is an unhealthy answer, never a crash
                ok, detail = False, f"{type(err).__name__}: {err}"
            results[name] = {"ok": bool(ok), "detail": detail}
        healthy = all(r["ok"] for r in results.values())
        (m or metrics()).healthy.labels(self.process).set(1 if healthy else 0)
        return healthy, {"process": self.process, "ok": healthy, "checks": results}


def redis_check(url: str, timeout_s: float = 1.0) -> Check:
    """A check that Redis answers PING within ``timeout_s`` (its own sync client, so it runs in any thread)."""
    from redis import Redis

    client = Redis.from_url(url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s)

    def check() -> tuple[bool, str]:
        client.ping()
        return True, "PING answered"

    return check


def fresh_check(label: str, last: Callable[[], float | None], max_age_s: float) -> Check:
    """A check that ``last()`` (a ``time.monotonic()`` the process stamps as it works) is at most ``max_age_s``
    old: it catches a process that is up but stuck."""
    def check() -> tuple[bool, str]:
        at = last()
        if at is None:
            return False, f"{label}: not yet"
        age = time.monotonic() - at
        return age <= max_age_s, f"{label} {age:.1f}s ago (limit {max_age_s:g}s)"

    return check


def healthz_response(health: Health, m: Metrics | None = None) -> tuple[int, bytes]:
    """The status (200, or 503 when unhealthy) and JSON body of ``/healthz``."""
    ok, body = health.run(m)
    return (200 if ok else 503), json.dumps(body, ensure_ascii=False).encode()


# --- the HTTP server ---------------------------------------------------------------------------------------------

class MetricsServer:
    """``/metrics`` and ``/healthz`` of one process, served by a daemon thread (stops with the process)."""

    def __init__(self, health: Health, host: str, port: int, m: Metrics | None = None) -> None:
        self.health, self.metrics = health, m or metrics()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                path = self.path.split("?", 1)[0]
                if path == "/metrics":
                    status, body, ctype = 200, server.metrics.render(), CONTENT_TYPE_LATEST
                elif path == "/healthz":
                    status, body = healthz_response(server.health, server.metrics)
                    ctype = "application/json"
                else:
                    status, body, ctype = 404, b"not found: /metrics and /healthz only\n", "text/plain"
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - a scrape every 15 s: no log
                pass

        self._httpd = ThreadingHTTPServer((host, port), Handler)
        self._httpd.daemon_threads = True
        self.host, self.port = host, self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, name=f"metrics-{health.process}",
                                        daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


def serve(process: str, health: Health | None = None, *, port: int | None = None,
          host: str | None = None) -> MetricsServer | None:
    """Start ``process``'s ``/metrics`` and ``/healthz`` on its configured port, counting its Redis round trips;
    None when the port is 0 (off) or cannot be bound (logged: metrics must never stop a process)."""
    from cityops.settings import get_settings

    settings = get_settings()
    port = settings.metrics_port(process) if port is None else port
    count_redis_round_trips(process)
    if port <= 0:
        return None
    host = host or settings.metrics_host
    try:
        server = MetricsServer(health or Health(process), host, port)
    except OSError as err:
        log.error("%s: metrics not served on %s:%d: %s (set CITYOPS_METRICS_PORT_%s)", process, host, port, err,
                  process.upper().replace("-", "_"))
        return None
    log.info("%s: /metrics and /healthz on http://%s:%d", process, host, server.port)
    return server
