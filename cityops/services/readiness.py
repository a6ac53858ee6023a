"""``python -m cityops wait``: block until the broker answers a metadata request and Redis a PING.

Processes in the Procfile start together; the ones that need the broker or Redis wait here first,
so nothing crashes on start-up just because another process is a second slower.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import sys
import time
from datetime import datetime, timedelta
from datetime import time as day_time

from aiokafka import AIOKafkaClient
from redis import Redis
from redis.exceptions import RedisError

from cityops.settings import Settings, get_settings


def wait_for_tcp(host: str, port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=1.0):
                return
        except OSError as err:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{host}:{port} did not accept connections within {timeout:g}s: {err}") from err
            time.sleep(0.2)


async def _broker_metadata(settings: Settings) -> None:
    client = AIOKafkaClient(bootstrap_servers=settings.bootstrap_servers, request_timeout_ms=3000)
    try:
        await client.bootstrap()
    finally:
        await client.close()


def wait_for_broker(settings: Settings, timeout: float) -> None:
    """A real Kafka metadata round trip, not just an open port."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            asyncio.run(_broker_metadata(settings))
            return
        except Exception as err:  # noqa: BLE001 - any failure means "not ready yet"
            if time.monotonic() > deadline:
                raise TimeoutError(f"broker {settings.kafka_broker} not ready within {timeout:g}s: {err}") from err
            time.sleep(0.3)


def wait_for_redis(settings: Settings, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    client = Redis.from_url(settings.redis_url, socket_timeout=1, socket_connect_timeout=1)
    try:
        while True:
            try:
                if client.ping():
                    return
            except RedisError as err:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"Redis {settings.redis_url} not ready within {timeout:g}s: {err}") from err
                time.sleep(0.2)
    finally:
        client.close()


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--timeout", type=float, default=60.0)
    p.add_argument("--no-redis", action="store_true")
    p.add_argument("--no-broker", action="store_true")
    p.add_argument("--history", type=float, default=0.0, metavar="SECONDS",
                   help="also wait (at most this long) until the demo simulator has published its history "
                        "through yesterday and the worker has read it (make demo's briefing and reports)")


def run_from_args(args: argparse.Namespace) -> int:
    settings = get_settings()
    try:
        if not args.no_broker:
            wait_for_broker(settings, args.timeout)
        if not args.no_redis:
            wait_for_redis(settings, args.timeout)
    except TimeoutError as err:
        print(f"wait: {err}", file=sys.stderr, flush=True)
        return 1
    if args.history > 0 and not wait_for_history(settings, args.history):
        print(f"wait: the demo's history was not read within {args.history:.0f} s; going on", file=sys.stderr,
              flush=True)
    return 0


def wait_for_history(settings: Settings, timeout: float, interval: float = 2.0) -> bool:
    """Until the simulator's history mark reaches yesterday and the case stream has read up to the last step the
    history published (or past today's midnight, for a mark without it) with nothing waiting
    (``cityops/stream_clock.py``); False when ``timeout`` passes first."""
    from cityops import history_mark as history
    from cityops import keys, stream_clock

    mark = history.mark_path(settings.var_dir)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        now = datetime.now(settings.tz)
        through = history.load_through(mark)
        if through is not None and through >= now.date() - timedelta(days=1):
            try:
                with Redis.from_url(settings.redis_url, decode_responses=True) as r:
                    marks = stream_clock.decode_all(r.hgetall(keys.stream_clock()))
            except RedisError:
                marks = []
            midnight = datetime.combine(now.date(), day_time(0), settings.tz).timestamp()
            last = history.load_last_event_ts(mark)  # the stream's marks keep milliseconds: compare at that
            since = midnight if last is None else min(last - 0.001, midnight)
            if stream_clock.caught_up(marks, time.time(), since):
                return True
        time.sleep(interval)
    return False
