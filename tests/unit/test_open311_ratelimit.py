"""The per-client token bucket: burst at once, then the rate, Retry-After in whole seconds."""

from __future__ import annotations

from doors.api.ratelimit import RateLimiter, retry_after


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_burst_then_rate() -> None:
    clock = Clock()
    limiter = RateLimiter(clock)
    assert all(limiter.check("a", 2.0, 3) == 0.0 for _ in range(3))
    wait = limiter.check("a", 2.0, 3)
    assert wait == 0.5  # one token takes half a second at 2/s
    assert limiter.check("b", 2.0, 3) == 0.0  # buckets are per client
    clock.t += 0.5
    assert limiter.check("a", 2.0, 3) == 0.0
    assert limiter.check("a", 2.0, 3) > 0
    clock.t += 100
    assert [limiter.check("a", 2.0, 3) for _ in range(4)].count(0.0) == 3  # refills to the burst, no more


def test_changed_limits_give_a_fresh_bucket() -> None:
    limiter = RateLimiter(Clock())
    assert limiter.check("a", 1.0, 1) == 0.0
    assert limiter.check("a", 1.0, 1) > 0
    assert limiter.check("a", 1.0, 5) == 0.0


def test_retry_after_whole_seconds() -> None:
    assert retry_after(0.01) == "1" and retry_after(1.2) == "2"
