"""Repeated problems (重复问题): a case whose category was reported within R metres in the N days before it.

A bureau watches these because a problem that keeps coming back at one spot means the handling did not
fix its cause. The definition only depends on the cases' report times and positions, never on the
order the worker happens to see them in: case B repeats case A when both have the same category, lie
within R metres, and A was reported before B (ties broken by case id) by at most N days.

How it is kept exact under any processing order: the case projection records every located report in
a per-category geo set and a queue (both in the same atomic write as the report). The repeat finder
(``streams/agents/repeat_finder.py``) takes each queued report after it was applied and compares it with
its neighbours *in both directions*: it marks itself when an earlier neighbour exists, and marks any
later neighbour it is earlier than. Whichever of two neighbours is checked second therefore sees the
other, whatever the partitions, the workers or a crash did to the order. Marks are set members, so
checking a report twice changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Report:
    """One located report: the time it was reported (epoch seconds) and its case id (the tie-break)."""

    t: float
    case_id: str


def repeated_cases(subject: Report, neighbours: Iterable[Report], window_s: float) -> set[str]:
    """The case ids that ``subject`` shows to be repeats: itself and/or later neighbours.

    ``neighbours`` are the same category's reports within the radius (``subject`` may be among them).
    """
    out: set[str] = set()
    for other in neighbours:
        if other.case_id == subject.case_id:
            continue
        earlier, later = (other, subject) if other < subject else (subject, other)
        if later.t - earlier.t <= window_s:
            out.add(later.case_id)
    return out


def stale_before(latest_t: float, window_s: float, lateness_s: float) -> float:
    """Reports older than this can no longer be the earlier half of a repeat: forget them.

    Measured from the newest report of the category, not the wall clock, so replaying an old file
    (LA 311 from 2020) finds its repeats too; the allowed lateness keeps a late report's neighbours.
    """
    return latest_t - window_s - lateness_s
