"""What every router of the API process shares: settings, the city, the publisher, the read model, the keys.

Why one object on ``app.state``: routers written by different hands reach the same Kafka producer (one
connection, one buffer) and the same key file, and a test can build the app against its own broker and Redis.
Doors publish through Kafka only (:func:`publish_acked`) and read through ``cityops.read``; none writes Redis.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from fastapi import Request
from redis import Redis

from cityops.apikeys import ReloadingApiClients
from cityops.bus import Publisher
from cityops.city_data import CityData
from cityops.gateway_credentials import ReloadingGatewayCredentials
from cityops.settings import Settings
from doors.api.errors import ApiError
from doors.api.ratelimit import RateLimiter


@dataclass
class ApiState:
    settings: Settings
    city: CityData
    publisher: Publisher
    redis: Redis
    clients: ReloadingApiClients
    limiter: RateLimiter = field(default_factory=RateLimiter)
    gateway_credentials: ReloadingGatewayCredentials | None = None  # loaded at the first gateway request


def state_of(request: Request) -> ApiState:
    return request.app.state.doors


class _AckTimeout(Exception):
    """The broker's acknowledgement did not come in time (raised into the waiting request only)."""


def _expire(done: asyncio.Future[None]) -> None:
    if not done.done():
        done.set_exception(_AckTimeout())


async def wait_acked(done: asyncio.Future[None], timeout: float) -> bool:
    """Wait for the publisher to resolve ``done`` (the broker's ack); False after ``timeout`` seconds.

    One timer per request and nothing else: ``asyncio.wait_for`` with ``shield`` cost a task-sized set of
    futures and callbacks per request on the gateways' hot path. A late ack finds ``done`` already settled
    and the publisher leaves it alone (the message is delivered all the same)."""
    timer = asyncio.get_running_loop().call_later(timeout, _expire, done)
    try:
        await done
    except _AckTimeout:
        return False
    finally:
        timer.cancel()
    return True


async def publish_acked(state: ApiState, topic: str, key: str, value: bytes) -> None:
    """Send one message and return once the broker acknowledged it; 503 when it did not in time.

    The message then stays buffered and is delivered when the broker answers again, so the client is told
    that a retry is safe only with the same idempotency key (the platform dedupes by event id).
    """
    done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    timeout = state.settings.api_ack_timeout_s
    if state.publisher.degraded:
        timeout = min(timeout, 1.0)
    try:
        await asyncio.wait_for(state.publisher.send(topic, key, value, done=done), timeout)
        acked = await wait_acked(done, timeout)
    except (TimeoutError, ConnectionError):
        acked = False
    if not acked:
        raise ApiError(503, "", "the platform's message broker did not confirm the request in time; it may still "
                       "arrive: send it again with the same attribute[external_id] or Idempotency-Key",
                       headers={"Retry-After": "5"})
