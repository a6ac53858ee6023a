"""Failed console sign-ins counted per account and per client address, across sessions and replicas.

Why not per Streamlit session: a new browser tab (or a script opening new websocket sessions) starts
with a clean slate, so a per-session limit does not slow guessing at all. The counters live in Redis,
shared by every console replica; when Redis is unreachable the guard falls back to counters in this
process, so a Redis outage neither opens the door nor locks everybody out.

Policy: ``max_failures`` failures of one account within ``window_s`` (counted from the first) lock
it until the window ends; a client address gets ``ADDRESS_FACTOR`` times as many, since an office
behind one proxy shares an address. A locked subject's password is not even checked. A successful sign-in
clears the account's counter, not the address's. Subjects are hashed: user input never becomes a
key name as typed.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from redis import Redis
from redis.exceptions import RedisError

from cityops import keys

log = logging.getLogger(__name__)

ADDRESS_FACTOR = 4


@dataclass(frozen=True)
class SigninPolicy:
    max_failures: int = 5
    window_s: int = 300


def subjects(username: str, address: str | None) -> list[str]:
    """The counters one attempt touches: the account (case-insensitive) and, when known, the client address."""
    out = [_hash("user", username.strip().lower())]
    if address:
        out.append(_hash("ip", address))
    return out


def _hash(kind: str, value: str) -> str:
    return f"{kind}:{hashlib.sha256(value.encode('utf-8', 'replace')).hexdigest()[:24]}"


class _LocalCounters:
    """Counters of this process (the fallback): subject → (failures, window end)."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.data: dict[str, tuple[int, float]] = {}

    def failure(self, subject: str, window_s: int) -> None:
        now = self.clock()
        count, until = self.data.get(subject, (0, 0.0))
        self.data[subject] = (count + 1, until) if until > now else (1, now + window_s)

    def state(self, subject: str) -> tuple[int, float]:
        count, until = self.data.get(subject, (0, 0.0))
        return (count, until - self.clock()) if until > self.clock() else (0, 0.0)

    def clear(self, subject: str) -> None:
        self.data.pop(subject, None)


class SigninGuard:
    def __init__(self, redis: Redis | None, policy: SigninPolicy,
                 clock: Callable[[], float] = time.time) -> None:
        self.redis = redis
        self.policy = policy
        self.local = _LocalCounters(clock)

    def wait_s(self, subject_list: Iterable[str]) -> int:
        """Seconds until these subjects may try again (0: now)."""
        subject_list = list(subject_list)
        waits = [left for subject, (count, left) in zip(subject_list, self._states(subject_list), strict=True)
                 if count >= self.limit(subject)]
        return max([int(left) + 1 for left in waits], default=0)

    def limit(self, subject: str) -> int:
        return self.policy.max_failures * (ADDRESS_FACTOR if subject.startswith("ip:") else 1)

    def failed(self, subject_list: Iterable[str]) -> None:
        for subject in subject_list:
            self.local.failure(subject, self.policy.window_s)
            if self.redis is None:
                continue
            key = keys.signin_failures(subject)
            try:
                pipe = self.redis.pipeline(transaction=True)
                pipe.set(key, 0, ex=self.policy.window_s, nx=True)  # the window starts at the first failure
                pipe.incr(key)
                pipe.execute()
            except RedisError as err:
                log.warning("sign-in guard: Redis unavailable (%s); counting in this process", err)

    def succeeded(self, username: str) -> None:
        subject = subjects(username, None)[0]
        self.local.clear(subject)
        if self.redis is not None:
            try:
                self.redis.delete(keys.signin_failures(subject))
            except RedisError as err:
                log.warning("sign-in guard: Redis unavailable (%s)", err)

    def _states(self, subject_list: list[str]) -> list[tuple[int, float]]:
        """(failures, seconds left in the window) per subject: from Redis, else from this process."""
        if self.redis is not None:
            try:
                pipe = self.redis.pipeline(transaction=False)
                for subject in subject_list:
                    pipe.get(keys.signin_failures(subject))
                    pipe.ttl(keys.signin_failures(subject))
                raw = pipe.execute()
                return [(int(raw[i] or 0), float(max(raw[i + 1], 0))) for i in range(0, len(raw), 2)]
            except RedisError as err:
                log.warning("sign-in guard: Redis unavailable (%s); using this process's counters", err)
        return [self.local.state(s) for s in subject_list]
