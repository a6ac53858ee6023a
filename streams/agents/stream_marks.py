"""Each partition's mark of how far its events have been read (``cityops/stream_clock.py``), written by the case
and sensor agents around every batch, read by the SLA and offline timers so a backlog is not taken for silence
or for missed deadlines."""

from __future__ import annotations

import time
from collections.abc import Iterable

from faust.types import TP, EventT

from cityops import stream_clock
from streams import runtime
from streams.app import app


class PartitionMarks:
    """This process's marks of one topic's partitions, mirrored to the Redis hash ``key``."""

    def __init__(self, key: str) -> None:
        self.key = key
        self._marks: dict[int, stream_clock.Mark] = {}

    async def record(self, events: Iterable[tuple[EventT, float]], reading: bool = False) -> None:
        """``events``: (event, its event time). While a batch is applied (``reading``), each partition's oldest
        event time, marked behind, so a clock cannot pass what is not applied yet; once applied, the newest,
        and whether more is waiting in the partition."""
        times: dict[TP, list[float]] = {}
        for event, ts in events:
            times.setdefault(TP(event.message.topic, event.message.partition), []).append(ts)
        wall = time.time()
        moved = {}
        for tp, stamps in times.items():
            if reading:
                mark = stream_clock.advance(self._marks.get(tp.partition), min(stamps), wall, behind=True)
            else:
                mark = stream_clock.advance(self._marks.get(tp.partition), max(stamps), wall, _behind(tp))
            if mark is not None:
                self._marks[tp.partition] = moved[str(tp.partition)] = mark
        if moved:
            await runtime.redis().hset(self.key, mapping={k: m.encode() for k, m in moved.items()})


def _behind(tp: TP) -> bool:
    """Whether messages of ``tp`` were known to be waiting (the highwater of the last fetch) after this read."""
    consumer = app._consumer  # None outside a running worker (an agent's batch function driven by a test)
    if consumer is None:
        return False
    high, read = consumer.highwater(tp), consumer._read_offset.get(tp)
    return high is not None and read is not None and int(high) - (int(read) + 1) > 0
