"""Console sign-in limits per account and per client address, shared by every session and replica.

Why in Redis and counted first: a new browser tab starts with a clean Streamlit session, and parallel
sessions that each *check* a counter and only later *record* a failure all pass the check together.
So every attempt is counted, as a failure, by one Redis script that also says whether it may go
ahead; the password is checked only after that, and a successful sign-in takes its count back. N
parallel attempts therefore get exactly as many password checks as the policy allows.

Policy (:class:`SigninPolicy`):

- **account**: ``free_failures`` failures cost nothing; after that each further attempt must wait
  ``2^k`` seconds after the previous failure (k = failures beyond the free ones), at most
  ``max_delay_s``. The account is never locked, so nobody can keep the duty or admin account shut by
  guessing; the failures are forgotten ``window_s`` after the last one, and a successful sign-in
  forgets them at once.
- **client address**: ``address_factor`` times the free failures within ``window_s`` (counted from
  the first) lock *that address* until the window ends: guessing from one place stops there, while
  the account stays open to everyone else.

When Redis is unreachable the guard applies the same policy to counters in this process (starting
from zero), so an outage neither opens the door nor locks everybody out. Subjects are hashed: user
input never becomes a key name as typed.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from redis import Redis
from redis.exceptions import RedisError

from cityops import keys
from cityops.lua import source

log = logging.getLogger(__name__)

ADDRESS_FACTOR = 4


@dataclass(frozen=True)
class SigninPolicy:
    free_failures: int = 5
    window_s: int = 300
    max_delay_s: int = 60
    address_factor: int = ADDRESS_FACTOR

    @property
    def address_limit(self) -> int:
        return self.free_failures * self.address_factor

    def account_delay_s(self, failures: int) -> float:
        """The wait after the previous failure once an account has ``failures`` of them."""
        if failures < self.free_failures:
            return 0.0
        return float(min(self.max_delay_s, 2 ** min(failures - self.free_failures, 62)))


@dataclass(frozen=True)
class Subject:
    """One counter an attempt touches: ``kind`` is ``user`` or ``ip``; ``name`` is hashed."""

    kind: str
    name: str


def subjects(username: str, address: str | None) -> list[Subject]:
    """The counters one attempt touches: the account (case-insensitive) and, when known, the client address."""
    out = [Subject("user", _hash("user", username.strip().lower()))]
    if address:
        out.append(Subject("ip", _hash("ip", address)))
    return out


def _hash(kind: str, value: str) -> str:
    return f"{kind}:{hashlib.sha256(value.encode('utf-8', 'replace')).hexdigest()[:24]}"


# KEYS: the subjects' counters; ARGV: now, free failures, address limit, window, max delay, then each key's kind.
# A counter is a hash {n, last, until}; an expired or foreign (older string) counter counts as empty.
_ATTEMPT = source("signin_attempt")

# KEYS[1]: the account's counter (forgotten); KEYS[2] (optional): the address's, given its attempt back.
_SUCCEEDED = source("signin_succeeded")


class _LocalCounters:
    """The same policy on counters of this process (the fallback): subject → [failures, last, until]."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.data: dict[Subject, list[float]] = {}
        self.lock = threading.Lock()

    def attempt(self, subject_list: list[Subject], policy: SigninPolicy) -> float:
        with self.lock:
            now = self.clock()
            states = []
            wait = 0.0
            for s in subject_list:
                n, last, until = self.data.get(s, [0, 0.0, 0.0])
                if until <= now:
                    n, last, until = 0, 0.0, 0.0
                states.append((n, until))
                if s.kind == "ip":
                    w = until - now if n >= policy.address_limit else 0.0
                else:
                    w = last + policy.account_delay_s(int(n)) - now if n >= policy.free_failures else 0.0
                wait = max(wait, w)
            if wait > 0:
                return wait
            for s, (n, until) in zip(subject_list, states, strict=True):
                if s.kind != "ip" or n == 0:
                    until = now + policy.window_s
                self.data[s] = [n + 1, now, until]
            return 0.0

    def succeeded(self, subject_list: list[Subject]) -> None:
        with self.lock:
            self.data.pop(subject_list[0], None)
            for s in subject_list[1:]:
                if s in self.data and self.data[s][0] > 0:
                    self.data[s][0] -= 1


class SigninGuard:
    """Counts each attempt before its password is checked; see the module docstring for the policy."""

    def __init__(self, redis: Redis | None, policy: SigninPolicy, clock: Callable[[], float] = time.time) -> None:
        self.redis = redis
        self.policy = policy
        self.clock = clock
        self.local = _LocalCounters(clock)
        self._attempt = redis.register_script(_ATTEMPT) if redis is not None else None
        self._succeeded = redis.register_script(_SUCCEEDED) if redis is not None else None

    def attempt(self, subject_list: list[Subject]) -> int:
        """Count one attempt as a failure and return 0 when it may check its password, else the seconds
        to wait (nothing counted then). Call :meth:`succeeded` when the password was right."""
        if self._attempt is not None:
            p = self.policy
            try:
                raw = self._attempt(keys=[keys.signin_failures(s.name) for s in subject_list],
                                    args=[repr(self.clock()), p.free_failures, p.address_limit, p.window_s,
                                          p.max_delay_s, *(s.kind for s in subject_list)])
                return _whole_seconds(float(raw))
            except RedisError as err:
                log.warning("sign-in guard: Redis unavailable (%s); counting in this process", err)
        return _whole_seconds(self.local.attempt(subject_list, self.policy))

    def succeeded(self, subject_list: list[Subject]) -> None:
        """The password was right: forget the account's failures and give the address its attempt back."""
        self.local.succeeded(subject_list)
        if self._succeeded is not None:
            try:
                self._succeeded(keys=[keys.signin_failures(s.name) for s in subject_list])
            except RedisError as err:
                log.warning("sign-in guard: Redis unavailable (%s)", err)


def _whole_seconds(wait: float) -> int:
    """A wait shown to a person: whole seconds, never 0 for a refusal."""
    return 0 if wait <= 0 else int(wait) + (0 if wait == int(wait) else 1)
