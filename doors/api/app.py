"""The API process: ``python -m cityops api`` runs this FastAPI app under uvicorn (OpenAPI at ``/docs``).

Why one process for every HTTP door: one Kafka producer, one key file and one rate limiter serve Open311
intake (doors/api/open311.py), the read API (doors/api/read_api.py) and gateway readings
(doors/api/gateways.py); the latter two are included when their modules exist. It binds ``CITYOPS_API_HOST``
(loopback by default: exposing it is a deliberate act, docs/deploy.md) on ``CITYOPS_API_PORT``. Run one uvicorn
worker per process: the rate limits are per process (doors/api/ratelimit.py).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.types import ASGIApp, Receive, Scope, Send

from cityops import observability, read
from cityops.apikeys import ReloadingApiClients, keys_path
from cityops.bus import Publisher, ensure_topics
from cityops.city_data import get_city_data
from cityops.settings import Settings, get_settings
from doors.api import open311
from doors.api.errors import install_error_handlers
from doors.api.state import ApiState

log = logging.getLogger("cityops.api")
OPTIONAL_ROUTERS = ("doors.api.read_api", "doors.api.gateways")


def _optional_doors() -> list:
    """The modules of :data:`OPTIONAL_ROUTERS` that exist."""
    out = []
    for name in OPTIONAL_ROUTERS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as err:
            if err.name == name:  # not written (yet); anything else missing is a real error
                continue
            raise
        out.append(module)
    return out


class CityOpsApi(FastAPI):
    """The FastAPI app with fast paths in front: ASGI entries (``FAST_PATHS`` of a door's module, built as
    ``entry(next_app, owner)``) that answer one hot route before FastAPI's own per-request machinery runs.

    Why a subclass and not a middleware: FastAPI's telemetry check and middleware stack run before any
    middleware, and cost as much as the whole gateway request; tests that build the app get the same path."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._entry: ASGIApp = super().__call__

    def add_fast_path(self, entry: Callable[[ASGIApp, FastAPI], ASGIApp]) -> None:
        self._entry = entry(self._entry, self)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._entry(scope, receive, send)


async def _drain(publisher: Publisher, timeout: float) -> None:
    """Deliver what is still buffered, for at most ``timeout`` seconds, then close the producer.

    Why bounded: uvicorn lets every request finish before the lifespan ends, so whatever is still buffered then
    was answered 503 ("not taken, send again"); waiting forever for a broker that is away would only stop the
    API from stopping."""
    try:
        await asyncio.wait_for(publisher.flush(), timeout)
    except (TimeoutError, ConnectionError) as err:
        log.warning("api: stopping with %d messages undelivered (%s); their senders were answered 503",
                    publisher.buffered, err or "the broker did not acknowledge them in time")
        await publisher.__aexit__(type(err), err, None)
    else:
        await publisher.__aexit__(None, None, None)


def create_app(settings: Settings | None = None, *, other_routers: bool = True) -> CityOpsApi:
    """The app; its lifespan loads the city and the keys, starts the producer and connects to the read model.

    ``other_routers=False`` serves Open311 alone (its own tests)."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        city = get_city_data()
        clients = ReloadingApiClients(keys_path(settings.city_dir, settings.apikeys_file))
        try:
            await ensure_topics(settings)
        except Exception as err:  # noqa: BLE001 - the broker may be down: the publisher rides it out
            log.warning("api: could not check topics now (%s); reports wait in the producer's buffer", err)
        # connect_first=False: the API answers (reads, refusals) while the broker is down; reports get 503
        publisher = Publisher(settings, pending_limit=500, connect_first=False, linger_ms=0)
        await publisher.__aenter__()
        redis = read.connect(settings)
        app.state.doors = ApiState(settings, city, publisher, redis, clients)
        try:
            yield
        finally:
            try:
                await _drain(publisher, settings.api_ack_timeout_s)
            finally:
                redis.close()

    app = CityOpsApi(title="CityOps API", version="1",
                     description="Open311 GeoReport v2 intake and status, the read API and gateway readings of the "
                                 "CityOps platform. Keys: `python -m cityops apikeys` (docs/api.md).",
                     lifespan=lifespan)
    install_error_handlers(app)
    _add_operator_routes(app)
    app.include_router(open311.router)
    for module in _optional_doors() if other_routers else []:
        app.include_router(module.router)
        for fast_path in getattr(module, "FAST_PATHS", ()):
            app.add_fast_path(fast_path)
    return app


def _add_operator_routes(app: FastAPI) -> None:
    """``/healthz`` (503 while Redis or the broker is away) and ``/metrics`` of this process, on its own port
    (cityops/observability.py; the other processes serve them on ``CITYOPS_METRICS_PORT_<PROCESS>``)."""
    observability.count_redis_round_trips("api")

    @app.get("/healthz", include_in_schema=False)
    def healthz(request: Request) -> Response:
        state: ApiState = request.app.state.doors
        health = observability.Health("api")
        health.add("redis", lambda: (bool(state.redis.ping()), "PING answered"))
        health.add("broker", lambda: (not state.publisher.degraded, "reports wait in the producer's buffer"
                                      if state.publisher.degraded else "connected"))
        status, body = observability.healthz_response(health)
        return Response(body, status, media_type="application/json")

    @app.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        return Response(observability.metrics().render(), media_type=CONTENT_TYPE_LATEST)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", default=None, help="bind address (default CITYOPS_API_HOST, 127.0.0.1)")
    p.add_argument("--port", type=int, default=None, help="port (default CITYOPS_API_PORT, 8600)")


def run_from_args(args: argparse.Namespace) -> int:
    import uvicorn

    settings = get_settings()
    host = args.host or settings.api_host
    port = args.port if args.port is not None else settings.api_port
    # http/loop "auto": httptools and uvloop when installed (the C parser and loop: over twice the requests/s
    # of h11 on the gateways' path), else the pure-Python ones; the log says which. No access log: a line per
    # gateway request would cost as much as the request.
    config = uvicorn.Config(create_app(settings), host=host, port=port, workers=1, log_level="info",
                            proxy_headers=True, forwarded_allow_ips=settings.forwarded_allow_ips, access_log=False,
                            http="auto", loop="auto", backlog=2048, timeout_keep_alive=30)
    config.load()
    loop_factory = config.get_loop_factory()
    logging.getLogger("uvicorn.error").info(
        "api: HTTP parser %s, event loop %s", config.http_protocol_class.__name__,
        getattr(loop_factory, "__module__", "asyncio") if loop_factory is not None else "asyncio")
    try:
        uvicorn.Server(config).run()
    except KeyboardInterrupt:  # Ctrl-C / SIGINT: uvicorn has shut down cleanly already
        pass
    return 0
