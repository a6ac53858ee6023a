"""Sign-in limits: each attempt counted before its password is checked (parallel sessions get no more
guesses), growing per-account delays instead of a lockout, per-address locks; in Redis and, when it is
away, in-process with the same policy."""

from __future__ import annotations

import threading
import uuid

import pytest
from redis import Redis

from cityops import keys, read
from cityops.settings import Settings
from cityops.signin_guard import ADDRESS_FACTOR, SigninGuard, SigninPolicy, subjects


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def _unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(params=["redis", "local"])
def make_guard(request, redis_url):
    """A guard factory on a real Redis, or on an unreachable one (the in-process fallback)."""
    url = redis_url if request.param == "redis" else "redis://127.0.0.1:1/0"

    def make(policy: SigninPolicy, clock: Clock) -> SigninGuard:
        return SigninGuard(read.connect(Settings(redis_url=url)), policy, clock)

    return make


def test_subjects_are_hashed_and_case_insensitive():
    a, b = subjects(" Leader ", "10.0.0.7"), subjects("leader", None)
    assert a[0] == b[0] and len(a) == 2 and len(b) == 1
    assert "leader" not in a[0].name and "10.0.0.7" not in a[1].name and a[1].kind == "ip"


def test_parallel_attempts_get_no_more_password_checks_than_the_limit(redis_url):
    """40 sessions on 4 replicas try the same account at once: exactly the 5 free attempts may check a password."""
    policy = SigninPolicy(free_failures=5, window_s=60, max_delay_s=60)
    replicas = [SigninGuard(read.connect(Settings(redis_url=redis_url)), policy) for _ in range(4)]
    who = subjects(_unique("parallel"), None)
    barrier = threading.Barrier(40)
    allowed: list[int] = []

    def one(i: int) -> None:
        barrier.wait()
        if replicas[i % 4].attempt(who) == 0:
            allowed.append(i)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(40)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert len(allowed) == 5


def test_an_account_gets_growing_delays_never_a_lockout(make_guard):
    clock = Clock()
    guard = make_guard(SigninPolicy(free_failures=3, window_s=600, max_delay_s=16), clock)
    who = subjects(_unique("duty"), None)
    for _ in range(3):
        assert guard.attempt(who) == 0  # three free (wrong) attempts
    waits = []
    for _ in range(7):
        wait = guard.attempt(who)
        assert wait > 0, "too early: refused, and not counted"
        assert guard.attempt(who) == wait, "a refused attempt does not push the delay further"
        waits.append(wait)
        clock.now += wait
        assert guard.attempt(who) == 0, "once the delay has passed, the next attempt may check its password"
    assert waits == [1, 2, 4, 8, 16, 16, 16], "doubling, capped: the account is never shut for longer"
    clock.now += 16
    assert guard.attempt(who) == 0
    guard.succeeded(who)
    for _ in range(3):
        assert guard.attempt(who) == 0, "a successful sign-in forgets the account's failures"


def test_one_address_guessing_is_locked_while_the_account_stays_open(make_guard):
    clock = Clock()
    policy = SigninPolicy(free_failures=2, window_s=60, max_delay_s=60)
    guard = make_guard(policy, clock)
    attacker, office = "192.0.2.10", "192.0.2.11"
    for i in range(2 * ADDRESS_FACTOR):
        assert guard.attempt(subjects(f"{_unique('name')}-{i}", attacker)) == 0
    assert guard.attempt(subjects(_unique("fresh"), attacker)) == 60, "the address is locked for the window"
    target = _unique("admin")
    assert guard.attempt(subjects(target, office)) == 0, "the account, from elsewhere, is not"
    clock.now += 60
    assert guard.attempt(subjects(_unique("later"), attacker)) == 0, "the lock ends with the window"


def test_successful_sign_ins_give_the_address_its_attempt_back(make_guard):
    """An office behind one proxy signs in all morning: successes never use up the address's budget."""
    clock = Clock()
    guard = make_guard(SigninPolicy(free_failures=2, window_s=300), clock)
    proxy = "203.0.113.5"
    for i in range(5 * 2 * ADDRESS_FACTOR):
        who = subjects(f"{_unique('officer')}-{i}", proxy)
        assert guard.attempt(who) == 0
        guard.succeeded(who)


def test_a_counter_left_by_the_previous_version_is_replaced(redis_url):
    r = Redis.from_url(redis_url, decode_responses=True)
    who = subjects(_unique("old"), None)
    r.set(keys.signin_failures(who[0].name), 99, ex=60)  # today's string counter
    guard = SigninGuard(read.connect(Settings(redis_url=redis_url)), SigninPolicy())
    assert guard.attempt(who) == 0
    assert r.hget(keys.signin_failures(who[0].name), "n") == "1"
    assert 0 < r.ttl(keys.signin_failures(who[0].name)) <= 300
