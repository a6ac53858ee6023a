"""The MQTT door end to end: paho gateway → amqtt broker → bridge process → Kafka → worker → Redis read model.

One stack per module (broker, bridge, worker, fresh topics and a lakeview city with gateway keys):

- a valid reading published by its gateway reaches the sensor's state in the read model;
- a gateway publishing under another gateway's id is refused by the broker, and an envelope naming another
  gateway than its topic by the bridge: neither reaches the read model, both are dead-lettered with the
  gateway and the reason; a wrong token cannot connect;
- the bridge killed with SIGKILL in the middle of a stream and started again loses nothing: every reading
  is counted exactly once (the re-sent ones are dropped by the worker's envelope dedupe).
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from redis import Redis

from cityops import keys
from cityops.schemas import DeadLetter, decode
from cityops.settings import Settings
from tests.support.mqtt_stack import (
    city_with_keys,
    envelope,
    gateway_client,
    mqtt_env,
    reading_times,
    start_bridge,
    start_broker,
)
from tests.support.workers import stop_process, subprocess_env, wait_until, worker


@pytest.fixture(scope="module")
def stack(broker_url: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory):
    import uuid

    tmp = tmp_path_factory.mktemp("mqtt")
    city, tokens = city_with_keys(tmp)
    db_url = redis_url.rsplit("/", 1)[0] + "/9"
    env = mqtt_env({**subprocess_env(), "KAFKA_BROKER": f"kafka://{broker_url}", "REDIS_URL": db_url,
                    "CITYOPS_TOPIC_PREFIX": f"m{uuid.uuid4().hex[:8]}", "CITYOPS_WORKER_ID": f"m{uuid.uuid4().hex[:8]}",
                    "CITYOPS_WORKER_WEB_PORT": "0"}, city, tmp / "var")
    r = Redis.from_url(db_url, decode_responses=True)
    r.flushdb()
    broker = start_broker(env, tmp / "broker.log")
    bridges = [start_bridge(env, tmp / "bridge.log")]  # a test that restarts the bridge puts the new one here
    try:
        with worker(tmp / "worker.log", env):
            yield {"env": env, "tokens": tokens, "redis": r, "tmp": tmp, "bridge": bridges}
    finally:
        stop_process(bridges[0])
        stop_process(broker)
        r.close()


def _settings(env: dict[str, str]) -> Settings:
    return Settings(kafka_broker=env["KAFKA_BROKER"], topic_prefix=env["CITYOPS_TOPIC_PREFIX"])


def _dead_letters(env: dict[str, str], want: int, timeout: float = 20) -> list[tuple[str | None, DeadLetter]]:
    s = _settings(env)

    async def go() -> list[tuple[str | None, DeadLetter]]:
        consumer = AIOKafkaConsumer(bootstrap_servers=s.bootstrap_servers, enable_auto_commit=False, group_id=None)
        await consumer.start()
        try:
            parts = [TopicPartition(s.topics.deadletter, p) for p in range(s.partitions)]
            consumer.assign(parts)
            for p in parts:
                consumer.seek(p, 0)
            out: list[tuple[str | None, DeadLetter]] = []
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and len(out) < want:
                batch = await consumer.getmany(timeout_ms=300)
                out += [(rec.key.decode() if rec.key else None, decode(DeadLetter, rec.value))
                        for recs in batch.values() for rec in recs]
            return out
        finally:
            await consumer.stop()

    return asyncio.run(go())


def _readings_counted(r: Redis, sensor: str) -> int:
    """Readings of ``sensor`` in its hourly windows: each applied reading counts once in one bucket."""
    total = 0
    for key in r.scan_iter(match=keys.sensor_window("h", sensor, "*").replace(f":{sensor}", "") + f":{sensor}"):
        total += sum(int(v) for f, v in r.hgetall(key).items() if f.endswith(":n") or f == "n")
    return total


def test_a_valid_reading_reaches_the_read_model(stack) -> None:
    env, r = stack["env"], stack["redis"]
    client = gateway_client(env, "LV-GW-01", stack["tokens"]["LV-GW-01"])
    try:
        [t] = reading_times(1)
        client.publish("cityops/gw/LV-GW-01/readings", envelope("LV-GW-01", "LV-NS-01", 0, t, 63.5), qos=1
                       ).wait_for_publish(10)
        wait_until(lambda: r.hget(keys.sensor("LV-NS-01"), "value") is not None, 30, "reading not in the read model")
        assert float(r.hget(keys.sensor("LV-NS-01"), "value")) == 63.5
    finally:
        client.loop_stop()


def test_a_gateway_may_publish_only_under_its_own_id(stack) -> None:
    env, r = stack["env"], stack["redis"]
    with pytest.raises(ConnectionRefusedError):
        gateway_client(env, "LV-GW-02", stack["tokens"]["LV-GW-01"])  # another gateway's token
    client = gateway_client(env, "LV-GW-01", stack["tokens"]["LV-GW-01"])
    try:
        [t] = reading_times(1)
        # under another gateway's topic: the broker's ACL refuses it
        client.publish("cityops/gw/LV-GW-02/readings", envelope("LV-GW-02", "LV-NS-02", 1, t, 77.0), qos=1
                       ).wait_for_publish(10)
        # under its own topic, naming another gateway: the bridge refuses it
        client.publish("cityops/gw/LV-GW-01/readings", envelope("LV-GW-02", "LV-NS-02", 2, t, 78.0), qos=1
                       ).wait_for_publish(10)
        letters = _dead_letters(env, 3)
        by_reason = {(key, dl.stage): dl for key, dl in letters}
        acl = by_reason[("LV-GW-01", "auth")]
        assert any("may not publish" in dl.reason and "LV-GW-01" in dl.reason for _, dl in letters)
        mismatch = [dl for key, dl in letters if "envelope names 'LV-GW-02'" in dl.reason]
        assert mismatch and mismatch[0].key == "LV-GW-01" and mismatch[0].source_topic.endswith("LV-GW-01/readings")
        assert b"78.0" in mismatch[0].raw_payload()
        assert acl.key == "LV-GW-01"
        assert any("connect refused" in dl.reason and key == "LV-GW-02" for key, dl in letters)
        time.sleep(1.0)
        assert r.hget(keys.sensor("LV-NS-02"), "value") is None, "a refused reading reached the read model"
    finally:
        client.loop_stop()


def test_killing_the_bridge_mid_stream_loses_nothing(stack) -> None:
    env, r, tmp = stack["env"], stack["redis"], stack["tmp"]
    n = 600
    sensor = "LV-NR-01"
    client = gateway_client(env, "LV-GW-01", stack["tokens"]["LV-GW-01"])
    bridge = stack["bridge"][0]
    try:
        infos = []
        for i, t in enumerate(reading_times(n)):
            if i == n // 3:  # the bridge stops reading: what the broker sends it now stays unacknowledged ...
                wait_until(lambda: _readings_counted(r, sensor) > 0, 30, "nothing forwarded before the stop")
                os.killpg(bridge.pid, signal.SIGSTOP)
            if i == 2 * n // 3:  # ... longer than amqtt's own 5 s PUBACK wait, then it dies; the rest is queued
                time.sleep(6)
                os.killpg(bridge.pid, signal.SIGKILL)
                bridge.wait()
            infos.append(client.publish("cityops/gw/LV-GW-01/readings", envelope("LV-GW-01", sensor, i, t, 50 + i % 7),
                                        qos=1))
        for info in infos:
            info.wait_for_publish(10)
        counted_while_down = _readings_counted(r, sensor)
        assert counted_while_down < n
        log = Path(tmp / "bridge.log")
        stack["bridge"][0] = start_bridge(env, log, connections=log.read_text().count("bridge connected") + 1)
        wait_until(lambda: _readings_counted(r, sensor) >= n, 60,
                   f"readings lost: {_readings_counted(r, sensor)} of {n} counted")
        time.sleep(1.5)  # re-sent duplicates would show up by now
        assert _readings_counted(r, sensor) == n
    finally:
        client.loop_stop()
