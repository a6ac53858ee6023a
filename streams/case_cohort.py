"""The KPI cohort of a case: which milestones each step reaches, on which local day (docs/metrics.md, "Case KPIs").

Pure. A case's steps in, per step the writes to its registration day's cohort hashes out: ``(scope, id, field,
amount)`` with field ``{milestone}@{YYYYMMDD}``. A period's KPIs are then the sum, over its registration days, of
the fields dated up to its last day (``cityops/read/kpi_cohort.py``): exact for any range, and a period that is
over never changes, because a milestone is a fact of a step (or of a deadline a step set), never of the time
it is read.

Two milestones are scheduled rather than reached: ``due`` (应结案) falls on the earlier of the close and the end
of the handling time limit, ``due_handle`` (应处置) on the earlier of the handling and that same end. While that
day is ahead, a step that moves the limit (a re-dispatch, a rework, an approved 延期, a resumption) or that comes
first (the close, the handling) moves the milestone; once its instant has passed it is final.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

import orjson

from cityops import keys

# The milestones (field names before the ``@day``); docs/metrics.md has their table.
REG, DUE, CLOSED, ON_TIME = "reg", "due", "closed", "on_time"
DUE_HANDLE, HANDLED, HANDLED_ON_TIME, HANDLED_LATE = "due_handle", "handled", "handled_on_time", "handled_late"
SELF_HANDLED, REWORKED, REWORK_N, EXTENDED = "self_handled", "reworked", "rework_n", "extended"
PARKED, VOIDED = "parked", "voided"
LATE_REGISTER, LATE_DISPATCH, LATE_VERIFY = "late_register", "late_dispatch", "late_verify"

MILESTONES = (REG, DUE, CLOSED, ON_TIME, DUE_HANDLE, HANDLED, HANDLED_ON_TIME, HANDLED_LATE, SELF_HANDLED,
              REWORKED, REWORK_N, EXTENDED, PARKED, VOIDED, LATE_REGISTER, LATE_DISPATCH, LATE_VERIFY)
# Kept also weighted by the category's weight (``w_due``): what the weighted rates need (cityops/metrics.py).
WEIGHTED_MILESTONES = frozenset({DUE, CLOSED, ON_TIME, DUE_HANDLE, HANDLED, HANDLED_ON_TIME, REWORKED})
WEIGHTED_PREFIX = "w_"
# The command centre's own stages: its figures, not a department's (a department's cohort never holds them).
CENTRE_MILESTONES = frozenset({LATE_REGISTER, LATE_DISPATCH, LATE_VERIFY})
# The scopes with cohorts: the areas and groupings fixed at registration, and the department (which can change).
AREA_SCOPES = ("city", "district", "street", "community", "category", "source")
SEP = "@"


def field_name(milestone: str, day: str) -> str:
    return f"{milestone}{SEP}{day}"


def split_field(name: str) -> tuple[str, str]:
    """``("closed", "20261203")`` of ``closed@20261203``; ``ValueError`` for a field of no milestone."""
    milestone, sep, day = name.partition(SEP)
    base = milestone.removeprefix(WEIGHTED_PREFIX)
    if not sep or base not in MILESTONES or len(day) != 8 or not day.isdigit():
        raise ValueError(f"not a cohort field: {name!r}")
    return milestone, day


@dataclass(frozen=True)
class Write:
    """One increment of one cohort hash."""

    scope: str
    scope_id: str
    day: str  # the registration day: whose hash
    field: str
    amount: int

    @property
    def key(self) -> str:
        return keys.cohort(self.day, self.scope, self.scope_id)


@dataclass
class Scheduled:
    """A scheduled milestone's instant (ISO) and the day its +1 was written on; ``at`` '' when none is written."""

    at: str = ""
    day: str = ""


@dataclass
class CohortState:
    """What the cohort needs to remember of a case between its steps; one field of the case hash (``cohort``)."""

    day: str = ""  # the registration day ('' before registration: the case is no period's yet)
    held: dict[str, int] = field(default_factory=dict)  # milestones reached (count for rework_n), non-zero only
    due: Scheduled = field(default_factory=Scheduled)
    due_handle: Scheduled = field(default_factory=Scheduled)
    department: str = ""  # the department whose cohort holds the case

    @classmethod
    def loads(cls, text: str) -> CohortState:
        if not text:
            return cls()
        data = orjson.loads(text)
        return cls(day=str(data.get("d", "")), held={str(k): int(v) for k, v in data.get("h", {}).items()},
                   due=Scheduled(*[str(x) for x in data.get("u", ["", ""])]),
                   due_handle=Scheduled(*[str(x) for x in data.get("uh", ["", ""])]),
                   department=str(data.get("dp", "")))

    def dumps(self) -> str:
        if not self.day:
            return ""
        data: dict[str, object] = {"d": self.day, "h": self.held}
        if self.due.at:
            data["u"] = [self.due.at, self.due.day]
        if self.due_handle.at:
            data["uh"] = [self.due_handle.at, self.due_handle.day]
        if self.department:
            data["dp"] = self.department
        return orjson.dumps(data).decode()


@dataclass
class CohortStep:
    """The cohort's view of one step: the writes it makes, from the state before it (mutated to the state after)."""

    state: CohortState
    areas: list[tuple[str, str]]  # the case's area scopes (AREA_SCOPES that it has)
    weight: int
    tz: ZoneInfo
    now: datetime  # the step's event time
    writes: list[Write] = field(default_factory=list)

    # ------------------------------------------------------------------------------------------ primitives

    def day_of(self, t: datetime) -> str:
        return keys.day_bucket(t.astimezone(self.tz))

    @property
    def today(self) -> str:
        return self.day_of(self.now)

    def _scopes(self, milestone: str, department: str | None = None) -> Iterator[tuple[str, str]]:
        yield from self.areas
        dept = self.state.department if department is None else department
        if dept and milestone not in CENTRE_MILESTONES:
            yield "department", dept

    def add(self, milestone: str, day: str, amount: int = 1, department: str | None = None) -> None:
        """``amount`` more cases reached ``milestone`` on ``day`` (and, weighted, ``amount × weight``)."""
        if not self.state.day or amount == 0:
            return
        for scope, sid in self._scopes(milestone, department):
            self.writes.append(Write(scope, sid, self.state.day, field_name(milestone, day), amount))
            if milestone in WEIGHTED_MILESTONES:
                self.writes.append(Write(scope, sid, self.state.day,
                                         field_name(WEIGHTED_PREFIX + milestone, day), amount * self.weight))

    def reach(self, milestone: str) -> bool:
        """Reach a once-per-case milestone today; False (nothing written) if the case holds it already."""
        if self.state.held.get(milestone):
            return False
        self.state.held[milestone] = 1
        self.add(milestone, self.today)
        return True

    def lose(self, milestone: str) -> None:
        """A held milestone no longer holds, from today."""
        if self.state.held.pop(milestone, 0):
            self.add(milestone, self.today, -1)

    def _slot(self, milestone: str) -> Scheduled:
        return self.state.due if milestone == DUE else self.state.due_handle

    def passed(self, milestone: str) -> bool:
        """The scheduled milestone is written and its instant is not after this step: it is final."""
        slot = self._slot(milestone)
        return bool(slot.at) and datetime.fromisoformat(slot.at) <= self.now

    def schedule(self, milestone: str, at: datetime) -> None:
        """Put a scheduled milestone at ``at`` (moving it from where it was), unless it has passed."""
        if not self.state.day or self.passed(milestone):
            return
        slot = self._slot(milestone)
        day = self.day_of(at)
        if slot.at and slot.day == day:
            slot.at = at.isoformat()
            return
        if slot.at:
            self.add(milestone, slot.day, -1)
        self.add(milestone, day)
        slot.at, slot.day = at.isoformat(), day
        self.state.held[milestone] = 1

    def withdraw(self, milestone: str) -> None:
        """Leave the denominator (缓办/挂账, 作废): a milestone ahead is cancelled on its day; one that has passed
        is taken back from today on."""
        slot = self._slot(milestone)
        if not slot.at:
            return
        self.add(milestone, self.today if self.passed(milestone) else slot.day, -1)
        slot.at = slot.day = ""
        self.state.held.pop(milestone, None)

    def move_department(self, department: str) -> None:
        """The case goes to another department: what it holds moves there from today (the first department's
        periods before today keep it); a milestone ahead is withdrawn, for the new handling limit to set it."""
        old = self.state.department
        if department == old:
            return
        for milestone in (DUE, DUE_HANDLE):
            if not self.passed(milestone):
                self.withdraw(milestone)
        for milestone, value in sorted(self.state.held.items()):
            if milestone in CENTRE_MILESTONES:
                continue
            if old:
                self.writes.extend(self._department_writes(old, milestone, -value))
            self.writes.extend(self._department_writes(department, milestone, value))
        self.state.department = department

    def _department_writes(self, department: str, milestone: str, amount: int) -> list[Write]:
        out = [Write("department", department, self.state.day, field_name(milestone, self.today), amount)]
        if milestone in WEIGHTED_MILESTONES:
            out.append(Write("department", department, self.state.day,
                             field_name(WEIGHTED_PREFIX + milestone, self.today), amount * self.weight))
        return out

    # ------------------------------------------------------------------------------------------ the steps

    def register(self, late: bool) -> None:
        self.state.day = self.today
        self.reach(REG)
        if late:
            self.reach(LATE_REGISTER)

    def dispatch(self, department: str, handle_deadline: datetime | None, late: bool) -> None:
        if late:
            self.reach(LATE_DISPATCH)
        self.move_department(department)
        if handle_deadline is not None:
            self.new_limit(handle_deadline)

    def new_limit(self, handle_deadline: datetime) -> None:
        """A handling time limit starts or moves (dispatch, rework, 延期, resumption)."""
        self.schedule(DUE, handle_deadline)
        self.schedule(DUE_HANDLE, handle_deadline)  # (a no-op once the case was handled: that instant has passed)

    def handle(self, late: bool, on_the_spot: bool) -> None:
        first = self.reach(HANDLED)
        self.schedule(DUE_HANDLE, self.now)
        if on_the_spot:
            self.reach(SELF_HANDLED)
        if late:
            self.reach(HANDLED_LATE)
            self.lose(HANDLED_ON_TIME)
        elif first:
            self.reach(HANDLED_ON_TIME)

    def verify(self, late: bool) -> None:
        if late:
            self.reach(LATE_VERIFY)

    def rework(self, handle_deadline: datetime | None) -> None:
        self.reach(REWORKED)
        self.state.held[REWORK_N] = self.state.held.get(REWORK_N, 0) + 1
        self.add(REWORK_N, self.today)
        if handle_deadline is not None:
            self.new_limit(handle_deadline)

    def extend(self, handle_deadline: datetime) -> None:
        self.reach(EXTENDED)
        self.new_limit(handle_deadline)

    def close(self, on_time: bool) -> None:
        self.reach(CLOSED)
        if on_time:
            self.reach(ON_TIME)
        self.schedule(DUE, self.now)

    def park(self) -> None:
        self.reach(PARKED)
        self.withdraw(DUE)
        self.withdraw(DUE_HANDLE)

    def resume(self, handle_deadline: datetime | None) -> None:
        self.lose(PARKED)
        if handle_deadline is not None:
            self.new_limit(handle_deadline)

    def returned(self) -> None:
        """退回: the department's handling limit no longer runs; the re-dispatch sets the next one."""
        for milestone in (DUE, DUE_HANDLE):
            if not self.passed(milestone):
                self.withdraw(milestone)

    def void(self) -> None:
        self.reach(VOIDED)
        self.lose(PARKED)
        self.withdraw(DUE)
        self.withdraw(DUE_HANDLE)
