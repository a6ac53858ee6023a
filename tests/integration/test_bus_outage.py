"""A broker outage under a running producer: the publisher buffers, retries and delivers everything, in order per key.

A private broker on its own port (not the session's), stopped while the producer keeps sending and started
again on the same port. The embedded broker keeps topics in memory only, so it comes back empty: what was
delivered before the outage is read before stopping it, and the publisher must re-create the topics itself.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from pathlib import Path

from aiokafka import AIOKafkaConsumer, TopicPartition

from cityops.bus import Backoff, Publisher, ensure_topics
from cityops.services.broker import start_broker
from cityops.services.readiness import wait_for_broker
from cityops.settings import Settings
from tests.support.workers import free_port, stop_process

KEYS = [f"case-{i}" for i in range(12)]


async def _read_all(s: Settings) -> tuple[list[tuple[str, int]], int]:
    """Every (key, n) on the cases topic, partition by partition (order within a key is kept by its partition),
    and the topic's number of partitions."""
    consumer = AIOKafkaConsumer(bootstrap_servers=s.bootstrap_servers, enable_auto_commit=False,
                                auto_offset_reset="earliest")
    await consumer.start()
    try:
        parts = consumer.partitions_for_topic(s.topics.cases) or set()
        if not parts:
            await consumer._client.force_metadata_update()  # noqa: SLF001 - a fresh consumer may know no topics yet
            parts = consumer.partitions_for_topic(s.topics.cases) or set()
        tps = [TopicPartition(s.topics.cases, p) for p in sorted(parts)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        end = await consumer.end_offsets(tps)
        out: list[tuple[str, int]] = []
        for tp in tps:
            while await consumer.position(tp) < end[tp]:
                batch = await consumer.getmany(tp, timeout_ms=2000)
                for msg in batch.get(tp, []):
                    out.append((msg.key.decode(), int(msg.value)))
        return out, len(tps)
    finally:
        await consumer.stop()


def test_publisher_rides_out_a_broker_restart(tmp_path: Path, caplog) -> None:
    port = free_port()
    s = Settings(kafka_broker=f"kafka://127.0.0.1:{port}", topic_prefix=f"o{uuid.uuid4().hex[:8]}")
    broker = start_broker("127.0.0.1", port, tmp_path / "broker.log")
    wait_for_broker(s, 30)
    seq = iter(range(10_000))
    sent: list[tuple[str, int]] = []

    async def send_some(pub: Publisher, n: int, pause: float = 0.0) -> None:
        for _ in range(n):
            i = next(seq)
            sent.append((KEYS[i % len(KEYS)], i))
            await pub.send(s.topics.cases, KEYS[i % len(KEYS)], str(i).encode())
            if pause:
                await asyncio.sleep(pause)

    async def scenario() -> tuple[list[tuple[str, int]], Publisher, float]:
        nonlocal broker
        await ensure_topics(s)
        async with Publisher(s, pending_limit=50, request_timeout_ms=2_000,
                             backoff=Backoff(0.2, 2.0, 1.0)) as pub:
            await send_some(pub, 300)
            await pub.flush()
            before, _ = await _read_all(s)
            assert sorted(before) == sorted(sent), "everything sent before the outage is on the broker"
            stop_process(broker)
            t0 = time.monotonic()
            await send_some(pub, 200, pause=0.01)  # a producer going on as if nothing happened: never blocks
            blocked = time.monotonic() - t0
            deadline = time.monotonic() + 30
            while not pub.degraded and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
            assert pub.degraded and pub.buffered > 0
            await asyncio.sleep(3)
            await send_some(pub, 100)
            broker = start_broker("127.0.0.1", port, tmp_path / "broker.log")
            await asyncio.wait_for(pub.flush(), 60)
            assert not pub.degraded and pub.buffered == 0
            after, partitions = await _read_all(s)
            assert partitions == s.partitions, "the publisher re-created the topics, not the broker's auto-creation"
            return before + after, pub, blocked

    caplog.set_level(logging.WARNING, logger="cityops.bus")
    try:
        arrived, pub, blocked = asyncio.run(scenario())
    finally:
        stop_process(broker)
    assert blocked < 10, "send() must buffer, not wait for the broker"
    assert set(arrived) == set(sent), f"missing: {sorted(set(sent) - set(arrived))[:10]}"
    for key in KEYS:  # in order per key; a message re-sent after a lost acknowledgement may repeat
        firsts: list[int] = []
        for k, i in arrived:
            if k == key and i not in firsts:
                firsts.append(i)
        assert firsts == sorted(firsts), f"{key} out of order"
    assert pub.outages == 1 and pub.reordered == 0 and pub.failed == 0
    assert pub.sent >= len(sent)
    messages = " ".join(r.getMessage() for r in caplog.records)
    assert "producer degraded" in messages and "producer recovered" in messages
    assert "re-created" in messages


def test_console_publisher_starts_without_a_broker_and_delivers_once_it_is_up(tmp_path: Path) -> None:
    """The console's publisher is created on the first command: with the broker down it must not hang the page.
    ``publish`` says the command is not delivered yet; it is delivered, once, when the broker comes up."""
    from cityops.bus import SyncPublisher

    port = free_port()
    s = Settings(kafka_broker=f"kafka://127.0.0.1:{port}", topic_prefix=f"c{uuid.uuid4().hex[:8]}")
    t0 = time.monotonic()
    pub = SyncPublisher(s)
    try:
        assert time.monotonic() - t0 < 10, "creating the publisher does not wait for the broker"
        t1 = time.monotonic()
        assert pub.publish(s.topics.commands, "alert-1", b"1") is False
        assert pub.degraded
        assert pub.publish(s.topics.commands, "alert-1", b"2") is False
        assert time.monotonic() - t1 < 15, "an unreachable broker costs seconds, not minutes"
        broker = start_broker("127.0.0.1", port, tmp_path / "broker.log")
        try:
            wait_for_broker(s, 30)
            deadline = time.monotonic() + 60
            while pub.degraded and time.monotonic() < deadline:
                time.sleep(0.2)
            assert not pub.degraded, "the publisher reconnected"
            assert pub.publish(s.topics.commands, "alert-1", b"3") is True

            async def commands() -> list[bytes]:
                consumer = AIOKafkaConsumer(s.topics.commands, bootstrap_servers=s.bootstrap_servers,
                                            auto_offset_reset="earliest", enable_auto_commit=False)
                await consumer.start()
                try:
                    batch = await consumer.getmany(timeout_ms=5000)
                    return [m.value for msgs in batch.values() for m in msgs]
                finally:
                    await consumer.stop()

            assert asyncio.run(commands()) == [b"1", b"2", b"3"], "queued commands arrive once, in order"
        finally:
            pub.close()
            pub = None
            stop_process(broker)
    finally:
        if pub is not None:
            pub.close()
