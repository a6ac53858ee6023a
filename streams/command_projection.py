"""Duty officers' commands → changes to alerts and cases, each kept in the audit trail.

| command | on an alert | on a case |
|---|---|---|
| ``acknowledge`` 确认 | active → acknowledged | marks the case acknowledged |
| ``dispatch`` 派遣 | dispatches the alert's case | a 派遣 step to the department |
| ``escalate`` 督办 | severity → critical, escalated | marks the case escalated (督办) |
| ``false_alarm`` 误报 | cleared as a false alarm; its case is voided | voids (作废) the case |
| ``close`` 关闭/结案 | cleared | closes (结案) a verified case |

Case steps are not written here: they are published as case events (ids derived from the command id,
so a re-sent command changes nothing) and the case agent applies them under the lifecycle rules. The
audit record keeps who (name and role) and with which key the console signed, when it was issued (``at``,
the sender's clock) and when the command agent received it (``received_at``), what, and the target's
fields before and after. Who may send what, and the signature, are checked before this projection runs
(``streams/agents/commands.py``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

import orjson

from cityops import keys
from cityops.alerts import Alert
from cityops.schemas import CaseAction, CaseEvent, CommandAction, OperatorCommand, derived_id
from streams.effects import Effects

AUDITED = ("state", "severity", "acknowledged", "acknowledged_by", "escalated", "false_alarm", "department")


class CommandRefused(ValueError):
    """A command that cannot apply to its target (unknown target, wrong state)."""


@dataclass
class CommandOutcome:
    effects: Effects
    cases: list[CaseEvent] = field(default_factory=list)


def project_command(cmd: OperatorCommand, target: Mapping[str, str], alert_case: Mapping[str, str], *,
                    received_at: datetime) -> CommandOutcome:
    """``target`` is the alert's or case's hash; ``alert_case`` the hash of an alert's case (if any);
    ``received_at`` when the command agent received the command (audited beside the sender's ``issued_at``)."""
    if not target:
        raise CommandRefused(f"unknown {cmd.target_kind} {cmd.target_id!r}")
    eff = Effects(cmd.command_id)
    after: dict[str, object] = {}
    cases: list[CaseEvent] = []
    stamp = cmd.issued_at.isoformat()
    case_id = cmd.target_id if cmd.target_kind == "case" else target.get("case_id", "")

    def step(action: CaseAction, **kw: object) -> None:
        if not case_id:
            raise CommandRefused(f"alert {cmd.target_id} has no case to {action.value}")
        cases.append(CaseEvent(event_id=derived_id(cmd.command_id, action.value), case_id=case_id, action=action,
                               event_time=cmd.issued_at, actor=cmd.user, description=cmd.note, **kw))

    if cmd.target_kind == "alert":
        if target.get("state") == "cleared" and cmd.action is not CommandAction.ESCALATE:
            raise CommandRefused(f"alert {cmd.target_id} is already cleared")
        if cmd.action is CommandAction.ACKNOWLEDGE:
            after = {"state": "acknowledged", "acknowledged": 1, "acknowledged_by": cmd.user, "acknowledged_at": stamp}
        elif cmd.action is CommandAction.ESCALATE:
            after = {"severity": "critical", "escalated": 1}
        elif cmd.action in (CommandAction.FALSE_ALARM, CommandAction.CLOSE):
            after = {"state": "cleared", "cleared_at": stamp, "cleared_by": cmd.user,
                     "false_alarm": int(cmd.action is CommandAction.FALSE_ALARM)}
            eff.zrem(keys.active_alerts(), cmd.target_id)
            if cmd.action is CommandAction.FALSE_ALARM and case_id and alert_case.get("state") not in (
                    "closed", "voided", "rejected", None):
                step(CaseAction.VOID)
        elif cmd.action is CommandAction.DISPATCH:
            step(CaseAction.DISPATCH, department_id=cmd.department_id)
            after = {"department": cmd.department_id}
        key = keys.alert(cmd.target_id)
    else:
        if cmd.action is CommandAction.ACKNOWLEDGE:
            after = {"acknowledged": 1, "acknowledged_by": cmd.user, "acknowledged_at": stamp}
        elif cmd.action is CommandAction.ESCALATE:
            after = {"escalated": 1, "escalated_by": cmd.user, "escalated_at": stamp}
        elif cmd.action is CommandAction.FALSE_ALARM:
            step(CaseAction.VOID)
        elif cmd.action is CommandAction.CLOSE:
            if target.get("state") != "verified":
                raise CommandRefused(f"case {cmd.target_id} is {target.get('state')}; only a verified case can close")
            step(CaseAction.CLOSE)
        elif cmd.action is CommandAction.DISPATCH:
            step(CaseAction.DISPATCH, department_id=cmd.department_id)
        key = keys.case(cmd.target_id)
    if after:
        eff.hset(key, after)
    before = {k: target.get(k) for k in AUDITED if k in target}
    record = {"command_id": cmd.command_id, "user": cmd.user, "role": cmd.role, "kid": cmd.kid, "at": stamp,
              "received_at": received_at.isoformat(), "action": cmd.action.value,
              "target_kind": cmd.target_kind, "target_id": cmd.target_id, "department_id": cmd.department_id,
              "note": cmd.note, "before": before, "after": {**before, **{k: v for k, v in after.items()
                                                                       if k in AUDITED}},
              "case_steps": [c.action.value for c in cases]}
    eff.xadd_kept_for(keys.audit(), keys.AUDIT_RETENTION_S, orjson.dumps(record).decode(), keys.AUDIT_MAXLEN)
    eff.xadd(keys.alerts(), keys.ALERTS_MAXLEN, Alert.command_record(
        command_id=cmd.command_id, target_kind=cmd.target_kind, target_id=cmd.target_id, action=cmd.action.value,
        user=cmd.user, at=cmd.issued_at).to_json())
    return CommandOutcome(eff, cases)
