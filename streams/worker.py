"""``python -m cityops worker``: start the stream processors (the Faust worker with every agent and timer).

What happens before Faust takes over, in this order: the aiokafka consumers' fetch wait is bounded
(:func:`bound_fetch_wait`, before any consumer exists), Faust's data folder is made, the agents are declared on
the app, and the registries (city model, catalogue, devices) are loaded.
"""

from __future__ import annotations

import argparse
import sys

LOGLEVELS = ["crit", "error", "warn", "info", "debug"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--loglevel", default="warn", choices=LOGLEVELS)


def bound_fetch_wait(max_wait_ms: int) -> None:
    """Make every consumer this process creates from now on wait at most ``max_wait_ms`` for a fetch to fill.

    Faust hard-codes ``fetch_max_wait_ms=1500`` for its consumers and offers no setting. A broker that
    answers a fetch when data arrives makes that harmless, but the embedded broker (tansu) holds an
    empty fetch for the whole wait, so a reading produced just after the fetch was sent would wait for all
    of it. Call it before the app creates its consumers
    (the worker does, in :func:`prepare`; so must a test or bench that starts the app's consumers itself).
    """
    import aiokafka

    original = aiokafka.AIOKafkaConsumer.__init__
    if getattr(original, "_cityops_bounded", False):
        return

    def init(self, *topics, **kwargs) -> None:  # noqa: ANN001, ANN002, ANN003
        kwargs["fetch_max_wait_ms"] = min(int(kwargs.get("fetch_max_wait_ms", max_wait_ms)), max_wait_ms)
        original(self, *topics, **kwargs)

    init._cityops_bounded = True  # type: ignore[attr-defined]
    aiokafka.AIOKafkaConsumer.__init__ = init  # type: ignore[method-assign]


def prepare() -> None:
    """Everything a worker process needs before its consumers start: the fetch bound, Faust's data folder, the
    agents declared on the app and the registries loaded."""
    from cityops.settings import get_settings
    from streams.app import faust_datadir

    settings = get_settings()
    bound_fetch_wait(settings.fetch_max_wait_ms)
    faust_datadir(settings).mkdir(parents=True, exist_ok=True)

    import streams.agents  # noqa: F401  (declares the agents and timers on the app)
    import streams.agents.consumer_lag  # noqa: F401  (the lag gauge and the loop's liveness, cityops/observability.py)
    from streams import runtime

    # The registries before the consumer starts: loading the city model blocks the event loop, which on a
    # backlog would stall the first batches.
    runtime.city()
    runtime.sensor_context()
    runtime.case_context()
    runtime.detection_context()


def serve_metrics() -> None:
    """``/metrics`` and ``/healthz`` on ``CITYOPS_METRICS_PORT_WORKER`` (off when 0): healthy while Redis answers
    and the event loop has ticked within three lag intervals."""
    from cityops import observability
    from cityops.settings import get_settings
    from streams.agents import consumer_lag

    health = observability.Health("worker")
    health.add("redis", observability.redis_check(get_settings().redis_url))
    health.add("event_loop", observability.fresh_check("last tick", consumer_lag.last_tick,
                                                       3 * consumer_lag.LAG_INTERVAL_S))
    observability.serve("worker", health)


def run_from_args(args: argparse.Namespace) -> int:
    """Prepare the process, then hand over to Faust's worker command."""
    from cityops.settings import get_settings
    from streams.app import app

    prepare()
    serve_metrics()
    sys.argv = ["cityops-worker", "worker", "--loglevel", getattr(args, "loglevel", "warn")]
    if get_settings().worker_web_port <= 0:
        sys.argv.append("--without-web")  # web_enabled=False alone does not stop the worker binding a port
    app.main()
    return 0
