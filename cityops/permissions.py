"""Who may send which operator command: one table, read by the console before it signs a command and by the
command agent before it applies one.

Why one table in one place: the console offering a button and the agent accepting the command must never
disagree; a Kafka producer that is not the console gains nothing by sending what the console would not.

| action | on an alert | on a case | why |
|---|---|---|---|
| ``acknowledge`` 确认 | duty | duty | the duty console's actions |
| ``dispatch`` 派遣 | duty | duty | |
| ``escalate`` 督办 | duty | duty | |
| ``false_alarm`` 误报 | duty | duty | on a case it voids (作废) the case |
| ``close`` 关闭 / 结案 | admin | admin | no console page offers it; 结案 is the supervision centre's decision, taken
  after 核查 through the case topic, so a command only an admin may send is the exception, not the path |

On a ``capture`` (one waiting in the duty console's review queue, ``streams/command_projection.py``):
``confirm`` 确认立案 (opens and dispatches its case) and ``false_alarm`` 误报 (discards it, counted per camera and
type), both duty; no other action applies to a capture, and ``confirm`` to nothing else.

On a ``street`` or ``department`` (a unit of the 考核 scheme): ``finding`` 督查发现, duty: the command centre's
督查 staff enter what an inspection found, with the points it adds or deducts (``streams/command_projection.py``).

On a ``case``, the ``department`` role (a department's user, beside the ladder): ``handle`` 处置 (a note and a
photo), ``return`` 退回 (a case that is not theirs, with the reason) and ``reply`` 督办回复 (the case's 督办单);
the command agent also checks that the case is the user's department's. No other role sends these: the
command centre does not report a department's work for it.

Roles are cumulative (``leader`` < ``duty`` < ``admin``, :func:`cityops.auth.role_at_least`): ``leader``
(big screen, briefing) sends no command at all, and a department user sends only its three.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from cityops.auth import ALL_ROLES, DEPARTMENT, role_at_least
from cityops.schemas import CommandAction

TARGET_KINDS = ("alert", "case", "capture", "street", "department")

_DUTY = {CommandAction.ACKNOWLEDGE, CommandAction.DISPATCH, CommandAction.ESCALATE, CommandAction.FALSE_ALARM}
DEPARTMENT_ACTIONS = (CommandAction.HANDLE, CommandAction.RETURN, CommandAction.REPLY)
_ON_ALERTS_AND_CASES = [a for a in CommandAction
                        if a not in (CommandAction.CONFIRM, CommandAction.FINDING, *DEPARTMENT_ACTIONS)]

# (action, target kind) → the lowest role that may send it. A pair that is not here nobody may send.
COMMAND_ROLES: Mapping[tuple[CommandAction, str], str] = MappingProxyType(
    {(action, kind): ("duty" if action in _DUTY else "admin") for action in _ON_ALERTS_AND_CASES
     for kind in ("alert", "case")}
    | {(CommandAction.CONFIRM, "capture"): "duty", (CommandAction.FALSE_ALARM, "capture"): "duty"}
    | {(CommandAction.FINDING, unit): "duty" for unit in ("street", "department")}
    | {(action, "case"): DEPARTMENT for action in DEPARTMENT_ACTIONS})


def required_role(action: CommandAction, target_kind: str) -> str | None:
    """The lowest role that may send ``action`` on a ``target_kind``; None when no role may."""
    return COMMAND_ROLES.get((CommandAction(action), target_kind))


def command_refusal(role: str, action: CommandAction, target_kind: str) -> str | None:
    """Why ``role`` may not send this command, or None when it may (the reason goes to the dead letter)."""
    if role not in ALL_ROLES:
        return f"unknown role {role!r}"
    needed = required_role(action, target_kind)
    if needed is None:
        return f"no role may send {CommandAction(action).value} on a {target_kind}"
    beside_ladder = DEPARTMENT in (role, needed)  # a department's actions are its own, not the ladder's
    if (role != needed) if beside_ladder else not role_at_least(role, needed):
        return f"role {role} may not send {CommandAction(action).value} on a {target_kind} (needs {needed})"
    return None


def allowed_actions(role: str, target_kind: str) -> list[CommandAction]:
    """The actions ``role`` may send on a ``target_kind``, in the enum's order (what a page may offer)."""
    return [a for a in CommandAction if command_refusal(role, a, target_kind) is None]
