"""How far the sensors topic has been read, and which sensors that makes silent. Pure.

Why: a device is silent when the topic holds nothing from it for its window, not when the worker has read
nothing from it. A worker that gets no turn (reading a big case backlog, a stall) reads no envelope for
minutes while the devices go on sending; judged on the wall clock, every sensor looks silent.

The topic is read up to ``read_until``: every envelope published before it has been processed. For each
partition, what the worker's group has committed is compared with the partition's end offset (asked of the
broker): a partition with nothing waiting is read up to the moment it was asked; one with envelopes waiting,
up to the publish time of the oldest of them. The topic's point is the lowest partition's. A sensor is silent
when its last envelope was published a whole window before that point, so a backlog holds judgement only as
long as its oldest envelope waits, and under live load (a second or two unread) silence is found within its
window plus that lag.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class PartitionRead:
    """One partition as the broker reports it: ``committed``, the group's next offset to process (None: none
    committed, the group starts at ``begin``); ``end``, the offset the next envelope will get; ``oldest_unread_ts``,
    the publish time (epoch s) of the envelope at the group's position when one waits, None when unknown."""

    committed: int | None
    begin: int
    end: int
    oldest_unread_ts: float | None = None

    @property
    def position(self) -> int:
        """The next offset the group processes (earliest when nothing is committed, as the worker starts)."""
        return self.begin if self.committed is None else max(self.committed, self.begin)

    @property
    def waiting(self) -> bool:
        return self.position < self.end


def read_until(partitions: Iterable[PartitionRead], asked_at: float) -> float:
    """The time before which every envelope of the topic has been processed (see the module's text); ``asked_at``:
    the wall time the broker was asked. A partition with envelopes waiting whose publish time is unknown holds
    it at ``-inf``: nothing can be judged silent."""
    horizon = asked_at
    for p in partitions:
        if p.waiting:
            horizon = min(horizon, -math.inf if p.oldest_unread_ts is None else p.oldest_unread_ts)
    return horizon


def is_silent(last_published: float, horizon: float, window_s: float) -> bool:
    """Whether a sensor whose last envelope was published at ``last_published`` had nothing in the topic for a
    whole ``window_s`` by ``horizon`` (what :func:`read_until` gives)."""
    return horizon - last_published >= window_s


def last_published(envelopes: Iterable[tuple[Iterable[str], float | None]], wall_now: float) -> dict[str, float]:
    """Per sensor, the newest publish time of its envelopes in a batch, from (the envelope's sensor ids, its topic
    timestamp in epoch s): a missing or non-positive stamp (a producer that set none) counts as ``wall_now``, and
    none is later than ``wall_now`` (a producer's clock ahead must not postpone its silence).

    Envelopes are taken oldest first and each one's sensors set at C speed (a batch holds tens of thousands of
    readings: this is on the sensor agent's hot path)."""
    stamped = sorted(((wall_now if ts is None or ts <= 0 else min(ts, wall_now)), n, ids)
                     for n, (ids, ts) in enumerate(envelopes))
    out: dict[str, float] = {}
    for t, _, ids in stamped:
        out.update(dict.fromkeys(ids, t))
    return out
