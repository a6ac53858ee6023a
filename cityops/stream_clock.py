"""The case stream's clock: how far the city's events have got, so the SLA timer judges a deadline against the
time the events have reached, not against the wall clock while older events are still being read. Pure.

Why: a backlog (after an outage, or the demo publishing two months of history at full speed) is read hours after
it happened; judged on the wall clock, every clock a case starts has run out before its next step is read, and
the duty console fills with 案件超期 alerts the city never had.

Each partition of the case topic keeps a mark: the newest event time read from it, the wall time it was read,
and whether more was waiting in the partition then (``behind``). A mark's clock is its event time plus the wall
time since (it runs on while the partition is quiet), never ahead of the wall clock. The stream's clock is the
furthest mark's (events are published in time order, so a partition that has read everything holds no step
older than that), held back by every partition still behind: a step of one of its cases may not have been read
yet. Marks not renewed for ``FRESH_S`` are left out (the consumer is gone, or the city is quiet), and with no
mark at all the wall clock rules: a caught-up live city runs on the wall clock.

A partition's ``behind`` is known only once its consumer has fetched: when a burst arrives on two partitions, the
one read first may move the clock before the other says it is behind. The timer therefore acts on the lowest
clock of the last ``SETTLE_S`` seconds (:class:`Settled`): a jump counts once the others have had time to speak.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

FRESH_S = 300.0
SETTLE_S = 3.0


@dataclass(frozen=True)
class Mark:
    event_ts: float  # newest event time read from the partition (epoch seconds)
    wall_ts: float  # wall time when it was read
    behind: bool = False  # messages were waiting in the partition after that read

    def encode(self) -> str:
        return f"{self.event_ts:.3f} {self.wall_ts:.3f} {int(self.behind)}"

    @classmethod
    def decode(cls, text: str) -> Mark | None:
        """A stored mark; None for anything else (a bad field must not stop the timer)."""
        try:
            event_ts, wall_ts, behind = text.split()
            return cls(float(event_ts), float(wall_ts), behind == "1")
        except (AttributeError, ValueError):
            return None

    def clock(self, wall_now: float) -> float:
        return min(wall_now, self.event_ts + max(0.0, wall_now - self.wall_ts))


def advance(mark: Mark | None, newest_event_ts: float, wall_now: float, behind: bool) -> Mark | None:
    """The partition's mark after a batch whose newest event is ``newest_event_ts``; None when it changes nothing
    worth writing (an older event does not take the clock back; a future one counts as now)."""
    event_ts = min(newest_event_ts, wall_now)
    if mark is None or event_ts > mark.event_ts:
        return Mark(event_ts, wall_now, behind)
    return Mark(mark.event_ts, mark.wall_ts, behind) if behind != mark.behind else None


def stream_now(marks: Iterable[Mark | None], wall_now: float, fresh_s: float = FRESH_S) -> float:
    """The stream's clock (see the module's text)."""
    fresh = [m for m in marks if m is not None and wall_now - m.wall_ts <= fresh_s]
    if not fresh:
        return wall_now
    reach = max(m.clock(wall_now) for m in fresh)
    return min([reach, *(m.clock(wall_now) for m in fresh if m.behind)])


def caught_up(marks: Iterable[Mark | None], wall_now: float, since_ts: float) -> bool:
    """Whether the case stream has read past ``since_ts`` and nothing is waiting: every fresh partition up to
    date (the demo's briefing and report schedulers wait for this before writing yesterday's)."""
    fresh = [m for m in marks if m is not None and wall_now - m.wall_ts <= FRESH_S]
    return bool(fresh) and not any(m.behind for m in fresh) and stream_now(fresh, wall_now) >= since_ts


def decode_all(fields: Mapping[str, str]) -> list[Mark | None]:
    return [Mark.decode(v) for v in fields.values()]


@dataclass
class Settled:
    """The lowest of the clocks computed in the last ``window_s`` seconds of wall time."""

    window_s: float = SETTLE_S
    _seen: deque[tuple[float, float]] = field(default_factory=deque)

    def update(self, wall_now: float, clock: float) -> float:
        self._seen.append((wall_now, clock))
        while self._seen and self._seen[0][0] < wall_now - self.window_s:
            self._seen.popleft()
        return min(c for _, c in self._seen)
