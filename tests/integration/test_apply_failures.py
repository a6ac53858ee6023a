"""The apply-once script when Redis cannot take an event, on a real Redis: nothing of it is written, it is
not marked, its batch applies without it, and once the cause is gone the same event applies as if nothing
had happened."""

from __future__ import annotations

import asyncio

import pytest
from redis import Redis
from redis.asyncio import Redis as AsyncRedis

from streams.effects import ApplyResult, Effects, EffectWriter, Status
from tests.support.effects import apply_effects


def dump(r: Redis) -> dict:
    """Every key with its type, value and whether it expires: what a partial write would change."""
    out: dict = {}
    for key in sorted(r.scan_iter("*")):
        kind = r.type(key)
        value = {"hash": lambda k: r.hgetall(k), "zset": lambda k: r.zrange(k, 0, -1, withscores=True),
                 "list": lambda k: r.lrange(k, 0, -1), "set": lambda k: sorted(r.smembers(k)),
                 "stream": lambda k: [fields for _, fields in r.xrange(k)], "string": lambda k: r.get(k)}[kind](key)
        out[key] = (kind, value, r.ttl(key) > 0)
    return out


def _event(event_id: str = "ev-1") -> Effects:
    """One event touching every kind of key, each key once, in the order a case step writes them."""
    return (Effects(event_id)
            .hset("co:t:case", {"state": "dispatched", "n": 1})
            .hincrby("co:t:kpi", "received", 2).expire("co:t:kpi", 600)
            .hincrbyfloat("co:t:kpif", "hours", 1.5)
            .zadd("co:t:open", 3.0, "c-1")
            .sadd("co:t:set", "c-1")
            .geoadd("co:t:geo", 118.1, 24.5, "c-1")
            .rpush_capped("co:t:timeline", 5, '{"step": 1}')
            .hfold("co:t:win", "05:s", [0.1, 0.2]).hmax("co:t:win", "05:x", 9.0)
            .windows([1.0, 2.0], [("co:t:win2", [("05", 2, [1, 2], 2.0)])])
            .xadd("co:t:alerts", 100, '{"a": 1}')
            .xadd_kept_for("co:t:audit", 86_400, '{"b": 2}'))


def _keys_in_order(eff: Effects) -> list[str]:
    out: list[str] = []
    for op, key, _a, b, _c in eff.ops:
        for k in ([w[0] for w in b] if op == "WINDOWS" else [key]):
            if k not in out:
                out.append(k)
    return out


def _plant_wrong_type(r: Redis, key: str) -> None:
    """A key of another type than the event needs at ``key`` (what a colliding id did to a case's timeline)."""
    if key in ("co:t:timeline",):
        r.hset(key, "planted", "1")
    else:
        r.rpush(key, "planted")


def test_reference_event_applies(redis_url, redis_client):
    assert apply_effects(redis_url, [_event()]) == [ApplyResult(Status.APPLIED)]
    assert redis_client.hget("co:t:kpi", "received") == "2" and redis_client.exists("co:seen:ev-1")


@pytest.mark.parametrize("position", range(len(_keys_in_order(_event()))))
def test_a_wrong_type_at_any_key_leaves_nothing_written_nor_marked(redis_url, redis_client, position):
    base = redis_url.rsplit("/", 1)[0]
    reference = Redis.from_url(f"{base}/3", decode_responses=True)
    try:
        reference.flushdb()
        apply_effects(f"{base}/3", [_event()])
        clean = {k: v for k, v in dump(reference).items()}
    finally:
        reference.flushdb()
        reference.close()

    key = _keys_in_order(_event())[position]
    redis_client.set("co:t:untouched", "x")
    _plant_wrong_type(redis_client, key)
    before = dump(redis_client)
    [result] = apply_effects(redis_url, [_event()])
    assert result.failed and key in result.reason, result.reason
    assert dump(redis_client) == before  # no partial write, no seen mark
    assert not redis_client.exists("co:seen:ev-1")

    redis_client.delete(key, "co:t:untouched")
    assert apply_effects(redis_url, [_event()]) == [ApplyResult(Status.APPLIED)]  # re-sent: applies normally
    after = dump(redis_client)
    assert after.keys() == clean.keys()
    for k, (kind, value, expires) in clean.items():
        if kind == "stream":  # entry ids are times
            assert after[k][0] == kind and after[k][1] == value
        else:
            assert after[k] == (kind, value, expires), k


@pytest.mark.parametrize(("field_key", "field", "planted"), [
    ("co:t:kpi", "received", "many"),  # HINCRBY on text
    ("co:t:kpi", "received", "1.5"),  # HINCRBY on a float
    ("co:t:kpif", "hours", "soon"),  # HINCRBYFLOAT on text
    ("co:t:win", "05:s", "abc"),  # HFOLD reads it with tonumber
    ("co:t:win", "05:x", "abc"),  # HMAX compares it
    ("co:t:win2", "05:n", "abc"),  # WINDOWS adds to it
    ("co:t:win2", "05:x", "abc"),
])
def test_a_field_that_is_no_number_refuses_the_event_before_any_write(redis_url, redis_client, field_key, field,
                                                                      planted):
    redis_client.hset(field_key, field, planted)
    before = dump(redis_client)
    [result] = apply_effects(redis_url, [_event()])
    assert result.failed and field in result.reason and field_key in result.reason, result.reason
    assert dump(redis_client) == before


def test_two_ops_of_one_event_cannot_conflict_either(redis_url, redis_client):
    kinds = Effects("ev-2").hset("co:t:k", {"a": 1}).zadd("co:t:k", 1.0, "m")
    text_then_count = Effects("ev-3").hset("co:t:h", {"n": "abc"}).hincrby("co:t:h", "n", 1)
    counted_twice = Effects("ev-4").hincrby("co:t:g", "n", 1).hincrby("co:t:g", "n", 2)  # fine: integers
    unknown = Effects("ev-5").sadd("co:t:s", "x")
    unknown.ops.append(("NOPE", "co:t:s", "", "", ""))
    results = apply_effects(redis_url, [kinds, text_then_count, counted_twice, unknown])
    assert [r.status for r in results] == [Status.FAILED, Status.FAILED, Status.APPLIED, Status.FAILED]
    assert "co:t:k holds a hash, not a zset" in results[0].reason
    assert "not an integer" in results[1].reason and "unknown op" in results[3].reason
    assert dump(redis_client) == {"co:t:g": ("hash", {"n": "3"}, False), "co:seen:ev-4": ("string", "1", True)}


def test_one_bad_event_of_a_batch_is_reported_and_the_others_apply(redis_url, redis_client):
    redis_client.rpush("co:t:bad", "planted")
    batch = [Effects(f"b-{i}").hincrby("co:t:count", "n", 1).zadd("co:t:z", float(i), f"m{i}") for i in range(5)]
    batch[2].hset("co:t:bad", {"x": 1})
    results = apply_effects(redis_url, [*batch, batch[0]])
    assert [r.status for r in results] == [Status.APPLIED, Status.APPLIED, Status.FAILED, Status.APPLIED,
                                           Status.APPLIED, Status.DUPLICATE]
    assert "WRONGTYPE" in results[2].reason or "holds a list" in results[2].reason
    assert results[0] == True and results[2] == False and results[5] == False  # noqa: E712 - the bool path
    assert redis_client.hget("co:t:count", "n") == "4"
    assert redis_client.zrange("co:t:z", 0, -1) == ["m0", "m1", "m3", "m4"]
    assert not redis_client.exists("co:seen:b-2") and redis_client.exists("co:seen:b-3")


def test_a_dropped_script_cache_is_reloaded_and_nothing_is_reported_twice(redis_url, redis_client):
    async def go() -> tuple[list[ApplyResult], list[ApplyResult]]:
        r = AsyncRedis.from_url(redis_url, decode_responses=True)
        try:
            writer = EffectWriter(r, 3600)
            first = await writer.apply([Effects("s-1").hincrby("co:t:c", "n", 1)])
            await r.script_flush()
            return first, await writer.apply([Effects("s-2").hincrby("co:t:c", "n", 1)])
        finally:
            await r.aclose()

    first, second = asyncio.run(go())
    assert first == [True] and second == [True] and redis_client.hget("co:t:c", "n") == "2"
