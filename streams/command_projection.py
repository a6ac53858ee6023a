"""Duty officers' commands → changes to alerts and cases, each kept in the audit trail.

| command | on an alert | on a case |
|---|---|---|
| ``acknowledge`` 确认 | active → acknowledged | marks the case acknowledged |
| ``dispatch`` 派遣 | dispatches the alert's case | a 派遣 step to the department |
| ``escalate`` 督办 | severity → critical, escalated | marks the case escalated (督办) |
| ``false_alarm`` 误报 | cleared as a false alarm; its case is voided | voids (作废) the case |
| ``close`` 关闭/结案 | cleared | closes (结案) a verified case |
| ``handle`` 处置 (department) | | a 处置 step with the note and photo |
| ``return`` 退回 (department) | | a 退回 step with the reason: back to the centre |
| ``reply`` 督办回复 (department) | | closes the case's 督办单 |

A 督办 of a dispatched case (or of its alert) also opens its 督办单 against the case's department, or raises the
open one a level (``cityops/supervision_orders.py``); the supervision timer reminds and escalates it, and the
department's reply closes it. A department user acts only on its own department's cases.

On a ``capture`` waiting in the review queue (:func:`project_capture_command`): ``confirm`` 确认立案 opens and
dispatches its case with the steps a trusted type gets at once (same ids: a double click or a re-sent
command opens one case) and ``false_alarm`` 误报 discards it, its alert cleared as a false alarm; either way
it leaves the queue and is counted per camera and type (false-alarm rate = 误报 / reviewed). A command on a
capture that no longer waits (already confirmed or discarded, dispatched without review, expired, unknown)
is refused with that reason.

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
from zoneinfo import ZoneInfo

import orjson

from cityops import keys
from cityops import supervision_orders as orders
from cityops.alerts import Alert, capture_alert_id, cleared_fields
from cityops.case_states import DISPATCHED, REWORKED
from cityops.read import supervision
from cityops.schemas import CaseAction, CaseEvent, CommandAction, Detection, OperatorCommand, derived_id
from streams.detection_projection import DetectionContext, capture_case_events, capture_review_s, record_lag
from streams.effects import Effects

AUDITED = ("state", "severity", "acknowledged", "acknowledged_by", "escalated", "false_alarm", "department")


class CommandRefused(ValueError):
    """A command that cannot apply to its target (unknown target, wrong state)."""


@dataclass
class CommandOutcome:
    effects: Effects
    cases: list[CaseEvent] = field(default_factory=list)


def project_command(cmd: OperatorCommand, target: Mapping[str, str], alert_case: Mapping[str, str], *,
                    received_at: datetime, tz: ZoneInfo, order: Mapping[str, str] | None = None,
                    remind_before_s: float = 3600.0) -> CommandOutcome:
    """``target`` is the alert's or case's hash; ``alert_case`` the hash of an alert's case (if any);
    ``received_at`` when the command agent received the command (audited beside the sender's ``issued_at``);
    ``tz`` the city's zone (a 督办 counts on its local day); ``order`` the case's 督办单 hash (if any) and
    ``remind_before_s`` how long before its deadline the department is reminded."""
    if not target:
        raise CommandRefused(f"unknown {cmd.target_kind} {cmd.target_id!r}")
    if cmd.role == "department":
        return _project_department_command(cmd, target, order or {}, received_at=received_at)
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
            if case_id and not alert_case:  # e.g. an AI capture still waiting for review: 确认立案 opens its case
                raise CommandRefused(f"alert {cmd.target_id}: its case {case_id} is not open, nothing to dispatch")
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
    if cmd.action is CommandAction.ESCALATE:
        case = target if cmd.target_kind == "case" else alert_case
        _count_supervision(eff, case_id, case, cmd, tz)
        if case_id and case.get("department"):
            _raise_order(eff, cmd, case_id, case, order or {}, remind_before_s)
    _audit(eff, cmd, received_at, {k: target.get(k) for k in AUDITED if k in target}, after, cases)
    return CommandOutcome(eff, cases)


def _raise_order(eff: Effects, cmd: OperatorCommand, case_id: str, case: Mapping[str, str],
                 stored: Mapping[str, str], remind_before_s: float) -> None:
    """Open the case's 督办单 (or raise the open one a level) and give it to the supervision timer."""
    try:
        order = orders.raise_order(orders.Order.from_hash(stored), case_id=case_id, command_id=cmd.command_id,
                                   department=case.get("department", ""), user=cmd.user, at=cmd.issued_at,
                                   level=cmd.level, reply_due=cmd.reply_due, note=cmd.note)
    except orders.OrderError as err:
        raise CommandRefused(str(err)) from None
    _store_order(eff, order, remind_before_s)


def _store_order(eff: Effects, order: orders.Order, remind_before_s: float) -> None:
    key = keys.supervision_order(order.case_id)
    eff.hset(key, order.as_hash()).expire(key, keys.DAILY_RETENTION_S)
    if order.is_open:
        eff.zadd(keys.supervision_open(), datetime.fromisoformat(order.reply_due).timestamp(), order.case_id)
        check = order.next_check(remind_before_s)
        if check is not None:
            eff.zadd(keys.supervision_due(), check.timestamp(), order.case_id)
    else:
        eff.zrem(keys.supervision_open(), order.case_id)
        eff.zrem(keys.supervision_due(), order.case_id)


def _project_department_command(cmd: OperatorCommand, case: Mapping[str, str], stored_order: Mapping[str, str], *,
                                received_at: datetime) -> CommandOutcome:
    """处置, 退回 or 督办回复 by a department user, on a case of that user's department only."""
    if cmd.target_kind != "case":
        raise CommandRefused(f"a department user acts on cases, not on a {cmd.target_kind}")
    department = cmd.department_id or ""
    eff = Effects(cmd.command_id)
    cases: list[CaseEvent] = []
    after: dict[str, object] = {}
    if cmd.action is CommandAction.REPLY:
        try:
            order = orders.reply(orders.Order.from_hash(stored_order), case_id=cmd.target_id, department=department,
                                 user=cmd.user, at=cmd.issued_at, text=cmd.note or "")
        except orders.OrderError as err:
            raise CommandRefused(str(err)) from None
        _store_order(eff, order, 0.0)
        for alert_id in order.alerts:  # its reminders and escalations on the duty feed end with the reply
            eff.zrem(keys.active_alerts(), alert_id)
            eff.hset_if_exists(keys.alert(alert_id), cleared_fields(cmd.issued_at.isoformat()))
        after = {"supervision": "replied"}
    else:
        if case.get("department") != department:
            raise CommandRefused(f"case {cmd.target_id} is not dispatched to department {department} "
                                 f"(it is with {case.get('department') or 'no department'})")
        if case.get("state") not in (DISPATCHED, REWORKED):
            raise CommandRefused(f"case {cmd.target_id} is {case.get('state')}: only a case dispatched to the "
                                 f"department (or sent back to it) can be handled or returned")
        action = CaseAction.HANDLE if cmd.action is CommandAction.HANDLE else CaseAction.RETURN
        cases.append(CaseEvent(event_id=derived_id(cmd.command_id, action.value), case_id=cmd.target_id,
                               action=action, event_time=cmd.issued_at, actor=cmd.user, department_id=department,
                               description=cmd.note, evidence_ref=cmd.evidence_ref))
    _audit(eff, cmd, received_at, {k: case.get(k) for k in AUDITED if k in case}, after, cases)
    return CommandOutcome(eff, cases)


def project_finding(cmd: OperatorCommand, known_units: frozenset[str], *, received_at: datetime,
                    tz: ZoneInfo) -> CommandOutcome:
    """督查发现 against a street or department: its points counted on the command's local day for the 考核, and
    audited like every command (who entered it, the note, the points)."""
    if cmd.target_id not in known_units:
        raise CommandRefused(f"unknown {cmd.target_kind} {cmd.target_id!r} (not in the city data)")
    eff = Effects(cmd.command_id)
    key = keys.findings_daily(keys.day_bucket(cmd.issued_at.astimezone(tz)), cmd.target_kind, cmd.target_id)
    eff.hincrby(key, "count").hincrbyfloat(key, "points", float(cmd.points or 0.0)).expire(key, keys.DAILY_RETENTION_S)
    _audit(eff, cmd, received_at, {}, {"points": cmd.points}, [])
    return CommandOutcome(eff)


def _count_supervision(eff: Effects, case_id: str, case: Mapping[str, str], cmd: OperatorCommand,
                       tz: ZoneInfo) -> None:
    """A case's first 督办 counts once against its district, street and department, on the command's local day;
    a second 督办 of the same case (or of its alert) counts nothing."""
    if not case or case.get("escalated") == "1":
        return
    day = keys.day_bucket(cmd.issued_at.astimezone(tz))
    for scope in supervision.SCOPES:
        if case.get(scope):
            key = keys.supervision_daily(day, scope, case[scope])
            eff.hincrby(key, "received").expire(key, keys.DAILY_RETENTION_S)
    if cmd.target_kind == "alert":  # the 督办 of an alert is its case's: marked there too, so it counts once
        eff.hset(keys.case(case_id), {"escalated": 1, "escalated_by": cmd.user,
                                      "escalated_at": cmd.issued_at.isoformat()})


def _audit(eff: Effects, cmd: OperatorCommand, received_at: datetime, before: Mapping[str, object],
           after: Mapping[str, object], cases: list[CaseEvent]) -> None:
    """The audit record and the feed's echo of a command (``after``: only the audited fields are kept)."""
    record = {"command_id": cmd.command_id, "user": cmd.user, "role": cmd.role, "kid": cmd.kid,
              "at": cmd.issued_at.isoformat(), "received_at": received_at.isoformat(), "action": cmd.action.value,
              "target_kind": cmd.target_kind, "target_id": cmd.target_id, "department_id": cmd.department_id,
              "note": cmd.note, "before": dict(before), "after": {**before, **{k: v for k, v in after.items()
                                                                             if k in AUDITED}},
              "case_steps": [c.action.value for c in cases]}
    eff.xadd_kept_for(keys.audit(), keys.AUDIT_RETENTION_S, orjson.dumps(record).decode(), keys.AUDIT_MAXLEN)
    eff.xadd(keys.alerts(), keys.ALERTS_MAXLEN, Alert.command_record(
        command_id=cmd.command_id, target_kind=cmd.target_kind, target_id=cmd.target_id, action=cmd.action.value,
        user=cmd.user, at=cmd.issued_at).to_json())


_NOT_PENDING = {"confirmed": "is already confirmed (确认立案) by {reviewed_by}: case {case_id}",
                "false_alarm": "was already discarded as a false alarm (误报) by {reviewed_by}",
                "auto": "was dispatched without review (its type is trusted, capture_review.yml): case {case_id}"}


def project_capture_command(cmd: OperatorCommand, capture: Mapping[str, str], ctx: DetectionContext, *,
                            received_at: datetime) -> CommandOutcome:
    """确认立案 or 误报 on a capture of the review queue; ``capture`` is its ``keys.capture_review`` hash."""
    name = f"capture {cmd.target_id}"
    if not capture:
        raise CommandRefused(f"unknown {name}: never queued for review, or it expired unreviewed")
    status = capture.get("status", "")
    if status != "pending":
        reason = _NOT_PENDING.get(status, "is {status}, not waiting for review")
        raise CommandRefused(f"{name} " + reason.format(status=status, reviewed_by=capture.get("reviewed_by", "?"),
                                                        case_id=capture.get("case_id", "?")))
    try:
        det = Detection.model_validate_json(capture.get("detection", ""))
    except ValueError as err:
        raise CommandRefused(f"{name}: its stored record is unreadable ({str(err)[:120]})") from None
    waited = (cmd.issued_at - det.last_seen).total_seconds()
    if waited > capture_review_s():
        raise CommandRefused(f"{name} expired unreviewed: seen {waited:.0f} s before the command, the review "
                             f"window is {capture_review_s():.0f} s (CITYOPS_CAPTURE_REVIEW_S)")
    camera = ctx.cameras.get(det.camera_id)
    if camera is None:
        raise CommandRefused(f"{name}: camera {det.camera_id!r} is no longer in the city data")
    confirm = cmd.action is CommandAction.CONFIRM
    if not confirm and cmd.action is not CommandAction.FALSE_ALARM:
        raise CommandRefused(f"{cmd.action.value} does not apply to a capture (确认立案 confirm or 误报 false_alarm)")
    eff = Effects(cmd.command_id)
    stamp = cmd.issued_at.isoformat()
    after = {"status": "confirmed" if confirm else "false_alarm", "reviewed_by": cmd.user, "reviewed_at": stamp,
             "command_id": cmd.command_id}
    eff.hset(keys.capture_review(det.event_id), after)  # its expiry stays: refusals say why until then
    eff.zrem(keys.capture_queue(keys.hour_bucket(det.last_seen.astimezone(ctx.tz))), det.event_id)
    stats = keys.capture_stats_daily(keys.day_bucket(cmd.issued_at.astimezone(ctx.tz)))
    outcome = "confirmed" if confirm else "false_alarm"
    for prefix in ("reviewed", outcome):
        eff.hincrby(stats, prefix).hincrby(stats, f"{prefix}:camera:{det.camera_id}")
        eff.hincrby(stats, f"{prefix}:type:{det.ai_type}")
    eff.expire(stats, keys.DAILY_RETENTION_S)
    cases: list[CaseEvent] = []
    if confirm:
        cases = capture_case_events(det, camera, ctx, at=cmd.issued_at, actor=cmd.user)
        record_lag(eff, det, max(cmd.issued_at, det.last_seen), ctx.tz)
    else:  # its alert is cleared as a false alarm, as 误报 on an alert does
        alert_key = keys.alert(capture_alert_id(det.event_id))
        eff.hset(alert_key, {"state": "cleared", "cleared_at": stamp, "cleared_by": cmd.user, "false_alarm": 1})
        eff.expire(alert_key, keys.DAILY_RETENTION_S)
    _audit(eff, cmd, received_at, {"state": status}, {"state": after["status"]}, cases)
    return CommandOutcome(eff, cases)
