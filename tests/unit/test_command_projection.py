"""Commands on alerts and cases: state changes, case steps published, refusals, and the audit record."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import orjson
import pytest

from cityops import keys
from cityops.schemas import CaseAction, OperatorCommand
from streams.command_projection import CommandRefused, project_command

T = "2026-11-24T10:00:00+08:00"
RECEIVED = datetime(2026, 11, 24, 2, 0, 3, tzinfo=UTC)
TZ = ZoneInfo("Asia/Shanghai")  # when the command agent received it, 3 s later


def cmd(action: str, kind: str = "alert", target: str = "sensor:NS-1:1", **kw) -> OperatorCommand:
    return OperatorCommand.model_validate_json(orjson.dumps(
        {"command_id": f"c-{action}", "action": action, "target_kind": kind, "target_id": target,
         "user": "值班员张三", "role": "duty", "issued_at": T, **kw}))


def project(command: OperatorCommand, target: dict, alert_case: dict):  # noqa: ANN201
    return project_command(command, target, alert_case, received_at=RECEIVED, tz=TZ)


ALERT = {"id": "sensor:NS-1:1", "state": "active", "severity": "major", "acknowledged": "0", "case_id": "IOT-NS-1-1"}


def audit_of(out) -> dict:
    return orjson.loads(next(op[3] for op in out.effects.ops if op[0] == "XADDKEEP" and op[1] == keys.audit()))


def test_acknowledge_an_alert_is_audited_with_before_and_after():
    out = project(cmd("acknowledge"), ALERT, {})
    assert ("HSET", keys.alert("sensor:NS-1:1"), "state", "acknowledged", "") in out.effects.ops
    record = audit_of(out)
    assert record["user"] == "值班员张三" and record["at"] == T and record["action"] == "acknowledge"
    assert record["role"] == "duty" and record["received_at"] == "2026-11-24T02:00:03+00:00"
    assert record["before"]["state"] == "active" and record["after"]["state"] == "acknowledged"
    assert out.cases == []


def test_false_alarm_clears_the_alert_and_voids_its_case():
    out = project(cmd("false_alarm"), ALERT, {"state": "dispatched"})
    assert ("ZREM", keys.active_alerts(), "sensor:NS-1:1", "", "") in out.effects.ops
    assert [(c.case_id, c.action) for c in out.cases] == [("IOT-NS-1-1", CaseAction.VOID)]
    assert out.cases[0].event_id == "c-false_alarm-void" and out.cases[0].actor == "值班员张三"


def test_dispatch_and_escalate():
    out = project(cmd("dispatch", department_id="DSQ-350203"), ALERT, {"state": "registered"})
    assert out.cases[0].action is CaseAction.DISPATCH and out.cases[0].department_id == "DSQ-350203"
    out = project(cmd("escalate", kind="case", target="XM1"), {"state": "dispatched"}, {})
    assert ("HSET", keys.case("XM1"), "escalated", "1", "") in out.effects.ops
    assert audit_of(out)["after"]["escalated"] == 1


def test_refusals():
    with pytest.raises(CommandRefused, match="unknown alert"):
        project(cmd("acknowledge"), {}, {})
    with pytest.raises(CommandRefused, match="already cleared"):
        project(cmd("acknowledge"), ALERT | {"state": "cleared"}, {})
    with pytest.raises(CommandRefused, match="only a verified case can close"):
        project(cmd("close", kind="case", target="XM1"), {"state": "dispatched"}, {})
    out = project(cmd("close", kind="case", target="XM1"), {"state": "verified"}, {})
    assert out.cases[0].action is CaseAction.CLOSE
    capture_alert = {"id": "ai:det-1", "state": "active", "case_id": "AI-det-1"}  # capture waiting for review
    with pytest.raises(CommandRefused, match="its case AI-det-1 is not open"):
        project(cmd("dispatch", department_id="DSQ-350203"), capture_alert, {})


def test_a_case_s_first_supervision_counts_once_against_its_units():
    case = {"state": "dispatched", "district": "350203", "street": "350203001", "department": "SM-SQUAD"}
    out = project(cmd("escalate", kind="case", target="XM1"), case, {})
    counted = [op[1] for op in out.effects.ops if op[0] == "HINCRBY"]
    assert counted == [keys.supervision_daily("20261124", scope, case[scope])
                       for scope in ("district", "street", "department")]
    again = project(cmd("escalate", kind="case", target="XM1"), {**case, "escalated": "1"}, {})
    assert not [op for op in again.effects.ops if op[0] == "HINCRBY"]


def test_supervising_an_alert_counts_against_its_case_and_marks_the_case():
    case = {"state": "dispatched", "district": "350203", "street": "350203001", "department": "SM-SQUAD"}
    out = project(cmd("escalate"), ALERT, case)
    assert ("HSET", keys.case("IOT-NS-1-1"), "escalated", "1", "") in out.effects.ops
    assert sum(op[0] == "HINCRBY" for op in out.effects.ops) == 3
    assert not [op for op in project(cmd("escalate"), ALERT, {**case, "escalated": "1"}).effects.ops
                if op[0] == "HINCRBY"]


def test_an_inspection_finding_counts_its_points_on_its_unit_and_is_audited():
    from streams.command_projection import project_finding

    finding = cmd("finding", kind="street", target="350203001", points=-4.5, note="路面坑洼未修复")
    out = project_finding(finding, frozenset({"350203001"}), received_at=RECEIVED, tz=TZ)
    key = keys.findings_daily("20261124", "street", "350203001")
    assert ("HINCRBYFLOAT", key, "points", "-4.5", "") in out.effects.ops
    assert ("HINCRBY", key, "count", "1", "") in out.effects.ops
    record = audit_of(out)
    assert record["action"] == "finding" and record["after"] == {} and record["note"] == "路面坑洼未修复"
    with pytest.raises(CommandRefused, match="unknown street"):
        project_finding(cmd("finding", kind="street", target="999", points=1, note="x"), frozenset({"350203001"}),
                        received_at=RECEIVED, tz=TZ)


@pytest.mark.parametrize(("fields", "message"), [
    ({"action": "finding", "target_kind": "street", "note": "x"}, "needs its points"),
    ({"action": "finding", "target_kind": "street", "points": -1}, "needs its points and a note"),
    ({"action": "finding", "target_kind": "case", "points": -1, "note": "x"}, "targets a street or a department"),
    ({"action": "escalate", "target_kind": "street"}, "only a finding does"),
    ({"action": "escalate", "target_kind": "case", "points": 3}, "only a finding carries points"),
    ({"action": "finding", "target_kind": "department", "points": 500, "note": "x"}, "less than or equal"),
])
def test_findings_must_be_whole(fields, message):
    with pytest.raises(ValueError, match=message):
        OperatorCommand.model_validate_json(orjson.dumps(
            {"command_id": "c-1", "target_id": "X", "user": "u", "role": "duty", "issued_at": T, **fields}))


def test_only_duty_and_above_enter_findings():
    from cityops.permissions import command_refusal
    from cityops.schemas import CommandAction

    assert command_refusal("duty", CommandAction.FINDING, "department") is None
    assert "needs duty" in command_refusal("leader", CommandAction.FINDING, "street")
    assert "no role may send" in command_refusal("admin", CommandAction.FINDING, "case")
