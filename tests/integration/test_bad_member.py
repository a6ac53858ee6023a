"""One bad member is its own problem, on a real Redis: the case agent dead-letters the one event Redis cannot
take (stage ``apply``, with the reason) and applies the rest of its batch; the SLA timer and the duty
console's readers skip a case or an entry they cannot read and go on with the others."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import datetime, timedelta

import orjson
import pytest
from redis import Redis

from cityops import keys, read
from cityops.schemas import CaseAction, CaseEvent, CaseSource, encode
from cityops.settings import get_settings
from streams import deadletter, runtime
from tests.support.fake_events import FetchedEvent, RecordingTopic


@pytest.fixture
def env(redis_url: str, redis_client: Redis, monkeypatch: pytest.MonkeyPatch) -> Iterator[Redis]:
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("CITYOPS_MAX_LATENESS_S", str(30 * 86_400))
    get_settings.cache_clear()
    monkeypatch.setattr(deadletter, "deadletter_topic", RecordingTopic())
    monkeypatch.setattr(runtime, "_redis", None)
    monkeypatch.setattr(runtime, "_writer", None)
    yield redis_client
    get_settings.cache_clear()


def _run(coro_fn) -> object:  # noqa: ANN001 - an async function using runtime's client
    async def go() -> object:
        runtime._redis, runtime._writer = None, None  # a client on this run's event loop
        try:
            return await coro_fn()
        finally:
            await runtime.redis().aclose()
            runtime._redis, runtime._writer = None, None

    return asyncio.run(go())


def _report(case_id: str, at: datetime) -> CaseEvent:
    return CaseEvent(event_id=f"{case_id}-report", case_id=case_id, action=CaseAction.REPORT, event_time=at,
                     source=CaseSource.CITIZEN_APP, category_code="E0102", lon=118.0894, lat=24.4798)


def _register(case_id: str, at: datetime) -> CaseEvent:
    return CaseEvent(event_id=f"{case_id}-register", case_id=case_id, action=CaseAction.REGISTER, event_time=at)


def _cases(events: list[CaseEvent], first_offset: int = 1) -> None:
    from streams.agents import cases

    fetched = [FetchedEvent(encode(e), first_offset + i) for i, e in enumerate(events)]
    _run(lambda: cases.process(fetched))


def test_the_case_agent_dead_letters_the_event_redis_cannot_take_and_applies_the_rest(env):
    r = env
    now = datetime.now(get_settings().tz).replace(microsecond=0) - timedelta(hours=1)
    r.hset(keys.case_timeline("B1"), "planted", "x")  # what a colliding id left: a hash where a list goes
    _cases([_report("G1", now), _report("B1", now), _report("G2", now)])

    assert r.hget(keys.case("G1"), "state") and r.hget(keys.case("G2"), "state")
    assert r.exists(keys.seen("G1-report"), keys.seen("G2-report")) == 2
    assert not r.exists(keys.case("B1")) and not r.exists(keys.seen("B1-report"))  # nothing of it written
    letters = [orjson.loads(value) for _key, value in deadletter.deadletter_topic.sent]
    assert [(d["stage"], d["event_id"]) for d in letters] == [("apply", "B1-report")]
    assert keys.case_timeline("B1") in letters[0]["reason"] and "holds a hash" in letters[0]["reason"]
    day = keys.day_bucket(datetime.now(get_settings().tz))
    assert r.hget(keys.dlq_daily(day), f"{get_settings().topics.cases}:apply") == "1"
    received = sum(int(v) for k, v in r.hgetall(keys.kpi_daily(keys.day_bucket(now), "city", "350200")).items()
                   if k == "received")
    assert received == 2  # counted once each for the two applied, not for the refused one

    r.delete(keys.case_timeline("B1"))  # repaired: the same report, re-sent, applies
    _cases([_report("B1", now)], first_offset=10)
    assert r.hget(keys.case("B1"), "state") and r.exists(keys.seen("B1-report"))


def test_an_unreadable_stored_case_is_that_events_problem(env):
    r = env
    now = datetime.now(get_settings().tz).replace(microsecond=0) - timedelta(hours=1)
    r.rpush(keys.case("B2"), "planted")  # not a hash at all
    r.hset(keys.case("B3"), mapping={"state": "reported", "weight": "heavy"})  # a field that does not parse
    _cases([_register("B2", now), _report("G3", now), _register("B3", now)])
    assert r.hget(keys.case("G3"), "state")
    letters = {d["event_id"]: d for d in (orjson.loads(v) for _k, v in deadletter.deadletter_topic.sent)}
    assert set(letters) == {"B2-register", "B3-register"}
    assert {d["stage"] for d in letters.values()} <= {"apply", "transition"}
    assert letters["B3-register"]["stage"] == "apply" and "heavy" in letters["B3-register"]["reason"]


def test_the_sla_timer_and_sla_due_skip_a_bad_case_and_go_on(env):
    from streams.agents import sla_timer

    r = env
    tz = get_settings().tz
    long_ago = datetime.now(tz).replace(microsecond=0) - timedelta(days=12)
    _cases([_report("G4", long_ago), _register("G4", long_ago + timedelta(minutes=1))])
    assert r.zscore(keys.sla_clock(), "G4") is not None
    past = time.time() - 3600
    r.zadd(keys.sla_clock(), {"B4": past - 10, "B5": past - 5})
    r.rpush(keys.case("B4"), "planted")  # a list where the case's hash goes
    r.hset(keys.case("B5"), mapping={"deadline": "2020-01-01T00:00:00+08:00", "weight": "heavy", "stage": "x"})

    marked = _run(lambda: sla_timer.mark_expired())
    assert marked == 1 and r.hget(keys.case("G4"), "overdue") == "1"
    assert r.zscore(keys.overdue("city", runtime.city().code), "G4") is not None
    assert _run(lambda: sla_timer.mark_expired()) == 0  # and again, on the next tick: no error either

    now = time.time()
    r.zadd(keys.sla_clock(), {"G6": now + 60, "B6": now + 30})
    r.hset(keys.case("G6"), mapping={"state": "registered", "deadline": "soon"})
    r.sadd(keys.case("B6"), "planted")
    due = read.sla_due(r, now, 3600)
    assert [row["case_id"] for row in due] == ["G6"]


def test_the_alert_feed_and_its_readers_skip_an_entry_that_is_no_alert(env):
    r = env
    now = time.time()
    r.xadd(keys.alerts(), {"json": orjson.dumps({"id": "a-1", "type": "sla_overdue", "at": now}).decode()})
    r.xadd(keys.alerts(), {"json": "{not json"})
    r.xadd(keys.alerts(), {"other": "field"})
    r.xadd(keys.alerts(), {"json": orjson.dumps({"id": "a-2", "type": "sla_overdue", "at": now,
                                                 "case_id": "B7"}).decode()})
    r.rpush(keys.alert("a-2"), "planted")
    r.rpush(keys.case("B7"), "planted")
    assert [a.id for a in read.alert_feed(r)] == ["a-2", "a-1"]
    assert {a["id"] for a in read.alerts_current(r)} == {"a-1", "a-2"}
    day = datetime.fromtimestamp(now, get_settings().tz)
    assert [a.id for a in read.alerts_of_day(r, day)] == ["a-1", "a-2"]
