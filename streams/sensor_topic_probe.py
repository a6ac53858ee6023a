"""Asks the broker how far the worker group has processed the sensors topic, for the offline timer.

Why the broker and not the worker's own bookkeeping: a worker that gets no turn fetches nothing, so its last
fetch's highwater says nothing about what the devices have sent since; and each worker holds only some
partitions, while every worker's timer judges every sensor. One request per kind (committed offsets, end and
start offsets), and one small fetch per partition with envelopes waiting, to read the oldest one's publish time;
asked only when some sensor might be silent (:func:`streams.agents.sensor_timer.raise_offline`).
"""

from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaConsumer, TopicPartition

from cityops.bus.security import kafka_security_kwargs
from cityops.settings import Settings
from streams.sensor_silence import PartitionRead

FETCH_BYTES = 64 * 1024  # the oldest waiting envelope is all a probe needs of a partition


class TopicProbe:
    """Two broker clients kept for the process: one in the worker's group (committed offsets only: it never
    subscribes, so it never joins the group or commits), one without a group (offsets, the waiting envelope)."""

    def __init__(self, settings: Settings) -> None:
        common = {"bootstrap_servers": settings.bootstrap_servers, "enable_auto_commit": False,
                  **kafka_security_kwargs(settings)}
        self._group = AIOKafkaConsumer(group_id=settings.worker_id, **common)
        self._reader = AIOKafkaConsumer(group_id=None, max_partition_fetch_bytes=FETCH_BYTES,
                                        fetch_max_bytes=4 * FETCH_BYTES, auto_offset_reset="earliest", **common)
        self._started = False

    async def _start(self) -> None:
        if not self._started:
            await self._group.start()
            await self._reader.start()
            self._started = True

    async def stop(self) -> None:
        await self._group.stop()
        await self._reader.stop()
        self._started = False

    async def read(self, topic: str, fetch_timeout_s: float = 2.0) -> list[PartitionRead]:
        """Each partition of ``topic``: the group's committed offset, its start and end offsets, and the publish
        time of the envelope at the group's position where envelopes wait (None if none came in time)."""
        await self._start()
        parts = self._reader.partitions_for_topic(topic)
        if not parts:
            await self._reader._client.force_metadata_update()  # noqa: SLF001 - a new client may know no topics yet
            parts = self._reader.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(parts)]
        if not tps:
            return []
        committed = {tp: await self._group.committed(tp) for tp in tps}
        begin = await self._reader.beginning_offsets(tps)
        end = await self._reader.end_offsets(tps)
        reads = {tp: PartitionRead(committed[tp], begin[tp], end[tp]) for tp in tps}
        waiting = {tp: r.position for tp, r in reads.items() if r.waiting}
        if waiting:
            stamps = await self._oldest_waiting(waiting, fetch_timeout_s)
            reads.update({tp: PartitionRead(r.committed, r.begin, r.end, stamps.get(tp))
                          for tp, r in reads.items() if tp in waiting})
        return [reads[tp] for tp in tps]

    async def _oldest_waiting(self, positions: dict[TopicPartition, int], timeout_s: float) -> dict[TopicPartition,
                                                                                                   float]:
        """The publish time (epoch s) of the envelope at each position."""
        self._reader.assign(list(positions))
        for tp, offset in positions.items():
            self._reader.seek(tp, offset)
        out: dict[TopicPartition, float] = {}
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while len(out) < len(positions) and loop.time() < deadline:
            pending = [tp for tp in positions if tp not in out]
            batch = await self._reader.getmany(*pending, timeout_ms=int(max(0.05, deadline - loop.time()) * 1000))
            for tp, records in batch.items():
                first = next((r for r in records if r.offset >= positions[tp]), None)
                if first is not None and tp not in out:
                    out[tp] = first.timestamp / 1000.0
        return out
