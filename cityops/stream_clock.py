"""The case stream's clock: how far the city's events have got, so the SLA timer judges a deadline against the
time the events have reached, not against the wall clock while older events are still being read. Pure.

Why: a backlog (after an outage, or the demo publishing two months of history at full speed) is read hours after
it happened; judged on the wall clock, every clock a case starts has run out before its next step is read, and
the duty console fills with 案件超期 alerts the city never had.

Each partition of the case topic keeps a mark: the newest event time read from it, the wall time it was read,
and whether more was waiting in the partition then (``behind``). A mark's clock is its event time plus the wall
time since (it runs on while the partition is quiet), never ahead of the wall clock; the stream's clock is the
slowest fresh mark's: a step of one of its cases may still be on its way (even a partition that had read all it
had may not have fetched what the producer has just written). A mark not renewed for ``FRESH_S`` (one behind)
or ``QUIET_S`` (one that had read everything) is left out: the consumer is gone, or nothing more is coming, as
when one old case arrives alone. With no mark left the wall clock rules: a caught-up live city runs on the wall
clock, and a quiet partition holds the others back for ``QUIET_S`` at most.

The timer acts on the lowest clock of the last ``SETTLE_S`` seconds (:class:`Settled`), so a partition whose
fetch answers a moment after the others' has had time to speak.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

FRESH_S = 300.0
QUIET_S = 10.0
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


def _fresh(marks: Iterable[Mark | None], wall_now: float) -> list[Mark]:
    return [m for m in marks if m is not None and wall_now - m.wall_ts <= (FRESH_S if m.behind else QUIET_S)]


def stream_now(marks: Iterable[Mark | None], wall_now: float) -> float:
    """The stream's clock (see the module's text)."""
    return min((m.clock(wall_now) for m in _fresh(marks, wall_now)), default=wall_now)


def caught_up(marks: Iterable[Mark | None], wall_now: float, since_ts: float) -> bool:
    """Whether the case stream has read past ``since_ts`` and nothing is waiting (no fresh mark is behind): the
    demo's briefing and report schedulers wait for this before writing yesterday's."""
    known = [m for m in marks if m is not None]
    waiting = any(m.behind for m in _fresh(known, wall_now))
    return not waiting and any(m.event_ts >= since_ts for m in known)


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
