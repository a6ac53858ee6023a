"""Failed sign-ins are counted per account and per client address, in Redis and, when it is away, in-process."""

from __future__ import annotations

from redis import Redis

from cityops import read
from cityops.settings import Settings
from cityops.signin_guard import ADDRESS_FACTOR, SigninGuard, SigninPolicy, subjects


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_subjects_are_hashed_and_case_insensitive():
    a, b = subjects(" Leader ", "10.0.0.7"), subjects("leader", None)
    assert a[0] == b[0] and len(a) == 2 and len(b) == 1
    assert "leader" not in a[0] and "10.0.0.7" not in a[1] and a[1].startswith("ip:")


def test_five_failures_lock_the_account_for_the_window_shared_by_every_guard(redis_url):
    r = Redis.from_url(redis_url, decode_responses=True)
    policy = SigninPolicy(max_failures=5, window_s=60)
    one, other = SigninGuard(r, policy), SigninGuard(r, policy)  # two console replicas
    who = subjects("guard-test-user", None)
    for _ in range(4):
        one.failed(who)
    assert one.wait_s(who) == 0 and other.wait_s(who) == 0
    other.failed(who)
    assert 55 <= one.wait_s(who) <= 61, "the fifth failure, on another replica, locks it everywhere"
    assert one.wait_s(subjects("someone-else", None)) == 0
    one.succeeded("GUARD-TEST-USER")
    assert other.wait_s(who) == 0, "a successful sign-in clears the account's counter"


def test_an_address_gets_more_tries_than_an_account(redis_url):
    r = Redis.from_url(redis_url, decode_responses=True)
    guard = SigninGuard(r, SigninPolicy(max_failures=2, window_s=60))
    for i in range(2 * ADDRESS_FACTOR - 1):
        guard.failed(subjects(f"name-{i}", "192.0.2.10"))
    assert guard.wait_s(subjects("fresh-name", "192.0.2.10")) == 0
    guard.failed(subjects("another-name", "192.0.2.10"))
    assert guard.wait_s(subjects("fresh-name", "192.0.2.10")) > 0, "guessing across accounts from one address"
    assert guard.wait_s(subjects("fresh-name", "192.0.2.11")) == 0


def test_without_redis_the_process_counts_and_the_window_ends():
    clock = Clock()
    unreachable = read.connect(Settings(redis_url="redis://127.0.0.1:1/0"))  # as the console connects
    guard = SigninGuard(unreachable, SigninPolicy(3, 120), clock)
    who = subjects("duty", "198.51.100.1")
    for _ in range(3):
        guard.failed(who)
    assert guard.wait_s(who) == 121
    clock.now += 100
    assert guard.wait_s(who) == 21
    clock.now += 21
    assert guard.wait_s(who) == 0
    guard.failed(who)
    assert guard.wait_s(who) == 0, "a new window starts with the next failure"
