"""Bookkeeping of the fault-injection run (``make chaos``, ``tools/chaos.py``): the plan, the comparison, the table.

Why a module of its own: the runner is processes and timing; what it decides (which fault is due, what
counts as a lost or doubly counted case, when the run failed) is pure and unit-tested here, so a bug in
the judge cannot hide a bug in the system.

The verdict compares the read model after the faults with an undisturbed run of the same seeded input,
key by key (minus the wall-clock keys of ``VOLATILE``):

- *cases lost*: case hashes (``keys.case``) of the reference missing after the faults;
- *cases counted twice*: the excess of the city's daily ``received`` counter over the reference's
  (a case reported once but counted more than once); the shortfall is also lost cases;
- *differences*: every key whose value differs, or exists on one side only. Non-zero fails the run.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from cityops import keys

FAULT_KINDS = ("worker SIGKILL", "redis restart (AOF)", "broker stopped")


@dataclass(frozen=True)
class Fault:
    """One planned fault: inject ``kind`` once the producer has sent ``at`` (0..1) of the input."""

    at: float
    kind: str
    duration_s: float = 0.0


def plan_faults(kills: int, redis_restarts: int, broker_outages: int, outage_s: float) -> list[Fault]:
    """Spread the faults over the run, one at a time, none at the very start.

    All kills but the last land early (0.10–0.45 of the input), Redis restarts between them (from
    0.30), broker outages after them (from 0.55), and the last kill at 0.95: a worker killed while it
    catches up after the broker came back empty.
    """
    faults: list[Fault] = []
    early = max(kills - 1, 0)
    for i in range(early):
        faults.append(Fault(round(0.1 + 0.35 * i / max(early - 1, 1), 3), "worker SIGKILL"))
    if kills:
        faults.append(Fault(0.95 if kills > 1 or broker_outages else 0.25, "worker SIGKILL"))
    for i in range(redis_restarts):
        faults.append(Fault(round(0.3 + 0.2 * i / max(redis_restarts, 1), 3), "redis restart (AOF)"))
    for i in range(broker_outages):
        faults.append(Fault(round(0.55 + 0.3 * i / max(broker_outages, 1), 3), "broker stopped", outage_s))
    return sorted(faults, key=lambda f: (f.at, FAULT_KINDS.index(f.kind)))


def due(plan: list[Fault], done: int, progress: float) -> list[Fault]:
    """The faults of ``plan`` after the first ``done`` whose time has come at ``progress`` (0..1)."""
    return [f for f in plan[done:] if f.at <= progress]


def _is_case(key: str) -> bool:
    return keys.family_of(key) == "case"


def _received(model: dict[str, object]) -> int:
    total = 0
    for key, value in model.items():
        parsed = keys.parse(key)
        if parsed and parsed[0] == "kpi_daily" and parsed[1]["scope"] == "city" and isinstance(value, dict):
            total += int(value.get("received", 0) or 0)
    return total


@dataclass
class Comparison:
    keys_compared: int
    differences: list[str]
    cases_reference: int
    cases_lost: int
    cases_counted_twice: int


def compare(reference: dict[str, object], model: dict[str, object]) -> Comparison:
    """Key-by-key comparison of two read-model dumps (as ``tests/support/stack.dump_day_model`` makes them)."""
    compared = set(reference) | set(model)
    diff = sorted(k for k in compared if model.get(k) != reference.get(k))
    ref_cases = {k for k in reference if _is_case(k)}
    missing = len(ref_cases - {k for k in model if _is_case(k)})
    excess = _received(model) - _received(reference)
    return Comparison(keys_compared=len(compared), differences=diff, cases_reference=len(ref_cases),
                      cases_lost=max(missing, -excess if excess < 0 else 0),
                      cases_counted_twice=max(excess, 0))


@dataclass
class Report:
    """What ``make chaos`` prints. ``ok`` is the exit status's source."""

    faults: Counter[str] = field(default_factory=Counter)
    notes: list[str] = field(default_factory=list)
    events_input: int = 0
    events_sent: int = 0            # transmissions by the producer, re-sends included
    events_resent: int = 0          # of which re-sent after the memory-only broker came back empty
    producer_outages: int = 0
    producer_reordered: int = 0
    events_applied: int = 0         # event ids claimed in the read model (``co:seen:*``), derived events included
    events_applied_reference: int = 0
    worker_restarts_unplanned: int = 0
    comparison: Comparison | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        c = self.comparison
        return (c is not None and not c.differences and c.cases_lost == 0 and c.cases_counted_twice == 0
                and self.events_applied == self.events_applied_reference and self.producer_reordered == 0)

    def table(self) -> str:
        c = self.comparison
        rows: list[tuple[str, str]] = [(f"faults injected: {k}", str(self.faults.get(k, 0))) for k in FAULT_KINDS]
        rows += [
            ("worker exits not injected (restarted by the runner)", str(self.worker_restarts_unplanned)),
            ("producer outages seen (degraded → recovered)", str(self.producer_outages)),
            ("events in the input", f"{self.events_input:,}"),
            ("events sent (transmissions, re-sends included)", f"{self.events_sent:,}"),
            ("  of which re-sent after the broker came back empty", f"{self.events_resent:,}"),
            ("events applied (co:seen ids; reference run)",
             f"{self.events_applied:,} ({self.events_applied_reference:,})"),
            ("keys compared", f"{c.keys_compared:,}" if c else "-"),
            ("differences", str(len(c.differences)) if c else "-"),
            ("cases (reference)", f"{c.cases_reference:,}" if c else "-"),
            ("cases lost", str(c.cases_lost) if c else "-"),
            ("cases counted twice", str(c.cases_counted_twice) if c else "-"),
            ("keys reordered by the producer", str(self.producer_reordered)),
            ("wall time", f"{self.seconds:.0f} s"),
            ("verdict", "PASS" if self.ok else "FAIL"),
        ]
        width = max(len(k) for k, _ in rows)
        lines = [f"| {'what'.ljust(width)} | value |", f"|{'-' * (width + 2)}|-------|"]
        lines += [f"| {k.ljust(width)} | {v} |" for k, v in rows]
        if c and c.differences:
            lines.append(f"first differing keys: {', '.join(c.differences[:8])}")
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)
