"""Ride out a Redis restart or failover inside the worker instead of crashing an agent.

Why: when an agent raises, Faust's supervisor restarts it, and the events of the batch it was
applying count as processed: their offsets are committed and they are never applied (``make chaos``
lost a case's dispatch that way and dead-lettered the 104 steps after it as illegal). Applying a batch
is idempotent (the exactly-once script skips ids already applied), so the right answer to "Redis is
not there" is to wait and apply the same batch again. Timers simply skip the tick: they run again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import OutOfMemoryError, ReadOnlyError
from redis.exceptions import TimeoutError as RedisTimeoutError

from cityops import observability
from cityops.bus import Backoff

log = logging.getLogger(__name__)

#: Redis away for a while (restart, AOF loading, network), a replica promoted under us (Sentinel failover), or
#: Redis out of memory (it takes writes again once memory is freed).
TRANSIENT = (RedisConnectionError, RedisTimeoutError, ReadOnlyError, OutOfMemoryError)

T = TypeVar("T")


async def until_applied(process: Callable[[T], Awaitable[None]], batch: T, *, first_delay: float = 0.2,
                        max_delay: float = 5.0) -> None:
    """``await process(batch)``, again and again with backoff while Redis is unreachable; never skips the batch."""
    backoff, since = Backoff(first_delay, 2.0, max_delay), None
    loop = asyncio.get_running_loop()
    agent, topic, consumed = _batch_labels(process, batch)
    while True:
        try:
            with observability.batch(agent, topic, consumed):  # counted once, by the attempt that completes
                await process(batch)
        except TRANSIENT as err:
            since = since if since is not None else loop.time()
            delay = backoff.next()
            log.warning("Redis unavailable (%s: %s); batch not applied yet, retrying in %.1fs (attempt %d)",
                        type(err).__name__, err, delay, backoff.attempts)
            await asyncio.sleep(delay)
            continue
        if backoff.attempts:
            log.warning("Redis back: batch applied after %d attempts over %.1fs", backoff.attempts + 1,
                        loop.time() - since)
        return


def _batch_labels(process: Callable[[T], Awaitable[None]], batch: T) -> tuple[str, str, int]:
    """The agent (its module's name), topic and size of a batch of Faust events, for the metrics."""
    events = batch if isinstance(batch, Sequence) else ()
    topic = events[0].message.topic if events and hasattr(events[0], "message") else ""
    return getattr(process, "__module__", "agent").rsplit(".", 1)[-1], topic, len(events)


async def skip_tick_if_unavailable(tick: Callable[[], Awaitable[object]], name: str) -> None:
    """Run one timer tick; while Redis is unreachable, or when the tick fails, log and leave the work to a later
    tick (each timer skips its own bad members: this only keeps an unforeseen error from stopping the timer)."""
    try:
        await tick()
    except TRANSIENT as err:
        log.warning("%s: Redis unavailable (%s: %s); trying again on the next tick", name, type(err).__name__, err)
    except Exception:  # the last line of defence: a tick that fails is logged, and the timer ticks again
        log.exception("%s: tick failed; trying again on the next tick", name)
