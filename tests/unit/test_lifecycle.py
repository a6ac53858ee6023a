"""Case lifecycle state machine: the legal paths, and clear refusals for the illegal ones."""

from __future__ import annotations

import pytest

from cityops.schemas import CaseAction as A
from streams.lifecycle import FINAL_STATES, TRANSITIONS, IllegalTransition, next_state


def run(*actions: A) -> str:
    state = None
    for action in actions:
        state = next_state(state, action)
    return state


def test_full_path_and_side_paths():
    assert run(A.REPORT, A.ACCEPT, A.REGISTER, A.DISPATCH, A.HANDLE, A.VERIFY, A.CLOSE) == "closed"
    assert run(A.REPORT, A.REGISTER, A.DISPATCH, A.EXTEND, A.HANDLE, A.REWORK, A.HANDLE, A.VERIFY, A.CLOSE) == "closed"
    assert run(A.REPORT, A.ACCEPT, A.REJECT) == "rejected"
    assert run(A.REPORT, A.REGISTER, A.HANDLE, A.VERIFY, A.CLOSE) == "closed"  # handled on the spot
    assert run(A.REPORT, A.REGISTER, A.DISPATCH, A.DISPATCH) == "dispatched"  # returned and re-dispatched
    assert run(A.REPORT, A.REGISTER, A.DISPATCH, A.HANDLE, A.VERIFY, A.REWORK, A.DISPATCH) == "dispatched"
    assert run(A.REPORT, A.REGISTER, A.VOID) == "voided"


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ((A.CLOSE,), "never reported"),
        ((A.REPORT, A.CLOSE), "close is not allowed when the case is reported"),
        ((A.REPORT, A.REGISTER, A.CLOSE), "needs verified"),
        ((A.REPORT, A.REPORT), "already reported"),
        ((A.REPORT, A.REGISTER, A.VOID, A.DISPATCH), "after the case was voided (final)"),
        ((A.REPORT, A.REJECT, A.REGISTER), "after the case was rejected (final)"),
        ((A.REPORT, A.REGISTER, A.DISPATCH, A.HANDLE, A.VERIFY, A.CLOSE, A.VOID), "closed (final)"),
        ((A.REPORT, A.EXTEND), "extend is not allowed"),
    ],
)
def test_illegal_steps_are_refused_with_a_reason(path, message):
    with pytest.raises(IllegalTransition, match=message.replace("(", r"\(").replace(")", r"\)")):
        run(*path)


def test_every_action_has_a_rule_and_final_states_have_no_exit():
    assert set(TRANSITIONS) == set(A)
    for action in A:
        for final in FINAL_STATES:
            with pytest.raises(IllegalTransition):
                next_state(final, action)
