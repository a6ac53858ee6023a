"""Per-client rate limits: a token bucket per API key's client, in this process.

Why a bucket: a client may send ``burst`` requests at once and ``rate_per_s`` on average, which fits a hotline
system that uploads a morning's backlog and then trickles. The buckets live in the API process's memory, so
the limit holds per API process: behind a load balancer with N processes a client gets up to N times its
rate (docs/api.md). Pure: the clock is passed in, so the tests need no sleeping.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class TokenBucket:
    rate_per_s: float
    burst: int
    tokens: float
    stamp: float

    def take(self, now: float) -> float:
        """0.0 when a request may pass now (a token is used), else the seconds until one would."""
        self.tokens = min(float(self.burst), self.tokens + max(0.0, now - self.stamp) * self.rate_per_s)
        self.stamp = max(self.stamp, now)
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.rate_per_s


class RateLimiter:
    """One bucket per client id; a client whose limits changed in the keys file gets a fresh, full bucket."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._buckets: dict[str, TokenBucket] = {}
        self._lock = threading.Lock()  # the GET handlers run in a thread pool

    def check(self, client_id: str, rate_per_s: float, burst: int) -> float:
        """0.0 when the request may pass, else the seconds the client should wait (``Retry-After``)."""
        now = self._clock()
        with self._lock:
            bucket = self._buckets.get(client_id)
            if bucket is None or bucket.rate_per_s != rate_per_s or bucket.burst != burst:
                bucket = self._buckets[client_id] = TokenBucket(rate_per_s, burst, float(burst), now)
            return bucket.take(now)


def retry_after(seconds: float) -> str:
    """``Retry-After`` is whole seconds, at least 1."""
    return str(max(1, math.ceil(seconds)))
