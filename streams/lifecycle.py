"""The case lifecycle state machine (CJ/T 315 / GB/T 30428.8 workflow), as plain data and one function.

Actions and the states they may follow (the table ``TRANSITIONS`` below is the whole rule):

| action | 中文 | from | to |
|---|---|---|---|
| report | 上报 | (new case) | reported |
| accept | 受理 | reported | accepted |
| register | 立案 | reported, accepted | registered |
| reject | 不予立案 | reported, accepted | rejected |
| dispatch | 派遣 (also 退回重派) | registered, dispatched, reworked | dispatched |
| handle | 处置 (also 现场处置 right after registering) | registered, dispatched, reworked | handled |
| verify | 核查 | handled | verified |
| rework | 返工 | handled, verified | reworked |
| extend | 延期 | dispatched, reworked | (unchanged) |
| close | 结案 | verified | closed |
| park | 缓办/挂账 (approved) | dispatched, reworked | parked |
| resume | 恢复 | parked | dispatched |
| return | 退回 (the department: not ours, with the reason) | dispatched, reworked | registered |
| void | 作废 | any open state | voided |

``rejected``, ``closed`` and ``voided`` are final: any later step is illegal and goes to the dead
letter with the reason. ``extend`` (延期) keeps the state and moves the handling deadline.
``rework`` (返工) returns a handled or verified case to its department for handling again. ``return`` (退回)
gives a case back to the command centre, whose dispatch clock starts again for the re-dispatch.
"""

from __future__ import annotations

from cityops.case_states import (
    ACCEPTED,
    CLOSED,
    DISPATCHED,
    FINAL_STATES,
    HANDLED,
    OPEN_STATES,
    PARKED,
    REGISTERED,
    REJECTED,
    REPORTED,
    REWORKED,
    STATE_ZH,
    VERIFIED,
    VOIDED,
)
from cityops.schemas import CaseAction

__all__ = ["ACCEPTED", "CLOSED", "DISPATCHED", "FINAL_STATES", "HANDLED", "OPEN_STATES", "PARKED", "REGISTERED",
           "REJECTED", "REPORTED", "REWORKED", "STATE_ZH", "TRANSITIONS", "VERIFIED", "VOIDED", "IllegalTransition",
           "next_state"]

# action → (states it may follow, state it leads to; None = unchanged)
TRANSITIONS: dict[CaseAction, tuple[frozenset[str | None], str | None]] = {
    CaseAction.REPORT: (frozenset({None}), REPORTED),
    CaseAction.ACCEPT: (frozenset({REPORTED}), ACCEPTED),
    CaseAction.REGISTER: (frozenset({REPORTED, ACCEPTED}), REGISTERED),
    CaseAction.REJECT: (frozenset({REPORTED, ACCEPTED}), REJECTED),
    CaseAction.DISPATCH: (frozenset({REGISTERED, DISPATCHED, REWORKED}), DISPATCHED),
    CaseAction.HANDLE: (frozenset({REGISTERED, DISPATCHED, REWORKED}), HANDLED),
    CaseAction.VERIFY: (frozenset({HANDLED}), VERIFIED),
    CaseAction.REWORK: (frozenset({HANDLED, VERIFIED}), REWORKED),
    CaseAction.EXTEND: (frozenset({DISPATCHED, REWORKED}), None),
    CaseAction.CLOSE: (frozenset({VERIFIED}), CLOSED),
    CaseAction.VOID: (frozenset(OPEN_STATES), VOIDED),
    CaseAction.PARK: (frozenset({DISPATCHED, REWORKED}), PARKED),
    CaseAction.RESUME: (frozenset({PARKED}), DISPATCHED),
    CaseAction.RETURN: (frozenset({DISPATCHED, REWORKED}), REGISTERED),
}


class IllegalTransition(ValueError):
    """A well-formed step that cannot follow the case's current state."""


def next_state(state: str | None, action: CaseAction) -> str:
    """The state after ``action``, or :class:`IllegalTransition` naming both ends."""
    allowed, target = TRANSITIONS[action]
    if state not in allowed:
        if state is None:
            raise IllegalTransition(f"{action.value} for a case that was never reported")
        if state in FINAL_STATES:
            raise IllegalTransition(f"{action.value} after the case was {state} (final)")
        if action is CaseAction.REPORT:
            raise IllegalTransition("the case was already reported")
        wanted = ", ".join(sorted(s for s in allowed if s))
        raise IllegalTransition(f"{action.value} is not allowed when the case is {state} (needs {wanted})")
    return target if target is not None else state  # type: ignore[return-value]
