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
    return 0
