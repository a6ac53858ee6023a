"""The embedded stack for real: broker round trip, topics, Redis AOF across a restart, readiness."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from redis import Redis

from cityops.bus import Publisher, SyncPublisher, ensure_topics
from cityops.services.readiness import wait_for_redis
from cityops.services.redis_server import start_redis
from cityops.settings import Settings
from tests.support.topics import consume
from tests.support.workers import REPO_ROOT, free_port, subprocess_env


def test_topics_are_created_once_with_the_configured_partitions(stack_env):
    async def run() -> tuple[list[str], list[str], dict[str, int]]:
        first = await ensure_topics(stack_env)
        second = await ensure_topics(stack_env)
        admin = AIOKafkaAdminClient(bootstrap_servers=stack_env.bootstrap_servers)
        await admin.start()
        try:
            described = await admin.describe_topics(stack_env.topics.all())
        finally:
            await admin.close()
        return first, second, {d["topic"]: len(d["partitions"]) for d in described}

    first, second, partitions = asyncio.run(run())
    assert sorted(first) == sorted(stack_env.topics.all())
    assert second == []
    assert set(partitions.values()) == {stack_env.partitions}


def test_publisher_round_trip_keeps_keys_and_order(stack_env):
    async def run() -> list[tuple[bytes, bytes]]:
        await ensure_topics(stack_env)
        async with Publisher(stack_env, pending_limit=50) as pub:
            for i in range(300):
                await pub.send(stack_env.topics.cases, "case-1", f"{i}".encode())
        assert pub.sent == 300 and pub.failed == 0
        return await consume(stack_env, stack_env.topics.cases, 300)

    got = asyncio.run(run())
    assert [int(v) for _, v in got] == list(range(300))  # one key → one partition → order kept
    assert {k for k, _ in got} == {b"case-1"}


def test_sync_publisher(stack_env):
    asyncio.run(ensure_topics(stack_env))
    pub = SyncPublisher(stack_env)
    try:
        pub.publish(stack_env.topics.commands, "a", b"hello")
    finally:
        pub.close()
    assert asyncio.run(consume(stack_env, stack_env.topics.commands, 1)) == [(b"a", b"hello")]


def test_redis_aof_survives_a_restart(tmp_path):
    port = free_port()
    data = tmp_path / "redis"
    proc = start_redis("127.0.0.1", port, data, tmp_path / "redis.log")
    settings = Settings(redis_url=f"redis://127.0.0.1:{port}/0")
    try:
        wait_for_redis(settings, 20)
        client = Redis(port=port)
        client.hset("co:test", mapping={"a": 1, "b": 2})
        client.close()
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0  # a clean shutdown on SIGTERM
    assert any(data.rglob("*.aof*")), "the append-only file exists"
    proc = start_redis("127.0.0.1", port, data, tmp_path / "redis.log")
    try:
        wait_for_redis(settings, 20)
        client = Redis(port=port, decode_responses=True)
        assert client.hgetall("co:test") == {"a": "1", "b": "2"}
        client.close()
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_wait_command(stack_env):
    ok = subprocess.run([sys.executable, "-m", "cityops", "wait", "--timeout", "10"], cwd=REPO_ROOT,
                        env=subprocess_env(), capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0, ok.stderr
    env = subprocess_env() | {"KAFKA_BROKER": f"kafka://127.0.0.1:{free_port()}"}
    started = time.monotonic()
    bad = subprocess.run([sys.executable, "-m", "cityops", "wait", "--timeout", "2"], cwd=REPO_ROOT, env=env,
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 1 and "not ready within 2s" in bad.stderr
    assert time.monotonic() - started < 20


def test_settings_parse_broker_lists():
    s = Settings(kafka_broker="kafka://h1:9092;h2:9093")
    assert s.bootstrap_servers == ["h1:9092", "h2:9093"]
    assert s.faust_broker == "kafka://h1:9092;kafka://h2:9093"
    assert Settings(kafka_broker="h3:9092,h4:9092").bootstrap_servers == ["h3:9092", "h4:9092"]
    with pytest.raises(ValueError):
        _ = Settings(kafka_broker=";").bootstrap_servers
