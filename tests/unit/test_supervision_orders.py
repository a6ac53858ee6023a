"""督办单: raised, raised again, reminded, escalated, overdue at the top level, replied; and the commands that
open and close it (department users on their own cases only)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import orjson
import pytest

from cityops import keys
from cityops import supervision_orders as so
from cityops.schemas import CaseAction, OperatorCommand
from streams.command_projection import CommandRefused, project_command

T0 = datetime(2026, 11, 24, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
TZ = ZoneInfo("Asia/Shanghai")
RECEIVED = datetime(2026, 11, 24, 2, 0, 3, tzinfo=UTC)


def raise_at(current: so.Order | None = None, at: datetime = T0, window_h: float = 4.0, level: int | None = None,
             department: str = "DSAN-350203") -> so.Order:
    return so.raise_order(current, case_id="XM1", command_id=f"c-{at.isoformat()}", department=department,
                          user="李值班(duty)", at=at, level=level, reply_due=at + timedelta(hours=window_h),
                          note="尽快清理")


def test_a_new_order_and_its_reminder_and_deadline():
    order = raise_at()
    assert (order.level, order.state, order.window_s, order.raised_by) == (1, "open", 14400.0, "李值班(duty)")
    assert order.reply_due == (T0 + timedelta(hours=4)).isoformat()
    # an hour before the deadline, but never before half the window
    assert order.remind_at(3600) == T0 + timedelta(hours=3)
    assert order.remind_at(4 * 3600) == T0 + timedelta(hours=2)
    assert so.due_step(order, T0 + timedelta(hours=2, minutes=59), 3600) is None
    assert so.due_step(order, T0 + timedelta(hours=3), 3600) is so.Step.REMIND
    assert order.next_check(3600) == T0 + timedelta(hours=3)


def test_reminded_then_escalated_with_a_window_as_long_then_overdue_at_the_top():
    order = so.apply_step(raise_at(), so.Step.REMIND, T0 + timedelta(hours=3))
    assert order.reminded == 1 and order.next_check(3600) == T0 + timedelta(hours=4)
    assert so.due_step(order, T0 + timedelta(hours=3, minutes=30), 3600) is None  # reminded once per level
    late = T0 + timedelta(hours=4, seconds=5)
    assert so.due_step(order, late, 3600) is so.Step.ESCALATE
    up = so.apply_step(order, so.Step.ESCALATE, late)
    assert (up.level, up.level_name, up.reminded, up.escalations) == (2, "重点督办", 0, 1)
    assert up.reply_due == (late + timedelta(hours=4)).isoformat()
    top = so.apply_step(up, so.Step.ESCALATE, late + timedelta(hours=4))
    assert top.level == so.TOP_LEVEL == 3
    past = late + timedelta(hours=9)
    assert so.due_step(top, past, 3600) is so.Step.OVERDUE
    stuck = so.apply_step(top, so.Step.OVERDUE, past)
    assert stuck.overdue == 1 and stuck.is_open and stuck.escalations == 3
    assert so.due_step(stuck, past + timedelta(days=5), 3600) is None and stuck.next_check(3600) is None


def test_a_second_supervision_raises_the_open_order_a_level_and_a_replied_one_starts_anew():
    first = raise_at()
    again = raise_at(first, at=T0 + timedelta(hours=1))
    assert (again.order_id, again.level, again.raised_at) == (first.order_id, 2, first.raised_at)
    assert raise_at(first, level=3).level == 3 and raise_at(raise_at(first, level=3)).level == 3
    done = so.reply(first, case_id="XM1", department="DSAN-350203", user="环卫站(dept)", at=T0, text="已清理")
    assert not done.is_open and done.reply == "已清理" and so.due_step(done, T0 + timedelta(days=1), 3600) is None
    fresh = raise_at(done, at=T0 + timedelta(days=1))
    assert fresh.order_id != first.order_id and fresh.level == 1 and fresh.is_open


def test_refusals_say_why():
    with pytest.raises(so.OrderError, match="not been dispatched"):
        raise_at(department="")
    with pytest.raises(so.OrderError, match="between 60 s and 30 days"):
        raise_at(window_h=0.001)
    order = raise_at()
    with pytest.raises(so.OrderError, match="is against department DSAN-350203, not DSQ-350203"):
        so.reply(order, case_id="XM1", department="DSQ-350203", user="x", at=T0, text="好")
    with pytest.raises(so.OrderError, match="no 督办单"):
        so.reply(None, case_id="XM1", department="DSAN-350203", user="x", at=T0, text="好")
    done = so.reply(order, case_id="XM1", department="DSAN-350203", user="x", at=T0, text="好")
    with pytest.raises(so.OrderError, match="already replied"):
        so.reply(done, case_id="XM1", department="DSAN-350203", user="y", at=T0, text="又")


def test_an_order_survives_its_hash():
    order = so.apply_step(raise_at(), so.Step.REMIND, T0).with_alert("sup:XM1:1:remind:1")
    stored = {k: str(v) for k, v in order.as_hash().items()}
    assert so.Order.from_hash(stored) == order and order.alerts == ["sup:XM1:1:remind:1"]
    assert so.Order.from_hash({}) is None and so.Order.from_hash({"order_id": "x"}) is None


# ------------------------------------------------------------------------------------- the commands

CASE = {"state": "dispatched", "department": "DSAN-350203", "district": "350203", "street": "350203001"}


def cmd(action: str, role: str = "duty", **kw) -> OperatorCommand:
    return OperatorCommand.model_validate_json(orjson.dumps(
        {"command_id": f"c-{action}", "action": action, "target_kind": "case", "target_id": "XM1",
         "user": "张三", "role": role, "issued_at": T0.isoformat(), **kw}))


def dept(action: str, **kw) -> OperatorCommand:
    return cmd(action, role="department", department_id="DSAN-350203", **kw)


def project(command: OperatorCommand, case: dict, order: dict | None = None):  # noqa: ANN201
    return project_command(command, case, {}, received_at=RECEIVED, tz=TZ, order=order, remind_before_s=3600)


def order_written(out) -> dict[str, str]:  # noqa: ANN001
    return {op[2]: op[3] for op in out.effects.ops if op[0] == "HSET" and op[1] == keys.supervision_order("XM1")}


def test_escalate_opens_the_order_and_schedules_its_reminder():
    due = T0 + timedelta(hours=2)
    out = project(cmd("escalate", level=2, reply_due=due.isoformat(), note="限时清理"), CASE)
    written = order_written(out)
    assert written["level"] == "2" and written["department"] == "DSAN-350203" and written["note"] == "限时清理"
    assert ("ZADD", keys.supervision_open(), repr(due.timestamp()), "XM1", "") in out.effects.ops
    reminder = due - timedelta(hours=1)  # CITYOPS_SUPERVISION_REMIND_S before the deadline
    assert ("ZADD", keys.supervision_due(), repr(reminder.timestamp()), "XM1", "") in out.effects.ops
    # an undispatched case keeps the old 督办 flag, and no order: there is no department to answer
    out = project(cmd("escalate"), {"state": "registered"})
    assert not order_written(out) and ("HSET", keys.case("XM1"), "escalated", "1", "") in out.effects.ops


def test_the_department_replies_handles_and_returns_only_its_own_cases():
    opened = {k: str(v) for k, v in raise_at().with_alert("sup:XM1:1:remind:9").as_hash().items()}
    out = project(dept("reply", note="已清理完毕"), CASE, opened)
    assert order_written(out)["state"] == "replied" and order_written(out)["reply"] == "已清理完毕"
    assert ("ZREM", keys.active_alerts(), "sup:XM1:1:remind:9", "", "") in out.effects.ops
    assert ("ZREM", keys.supervision_due(), "XM1", "", "") in out.effects.ops
    out = project(dept("handle", note="已清运", evidence_ref="uploads/DSAN-350203/a.jpg"), CASE)
    [step] = out.cases
    assert (step.action, step.evidence_ref, step.description) == (CaseAction.HANDLE, "uploads/DSAN-350203/a.jpg",
                                                                   "已清运")
    [back] = project(dept("return", note="属于园林部门"), CASE).cases
    assert back.action is CaseAction.RETURN and back.description == "属于园林部门"
    other = CASE | {"department": "DSQ-350203"}
    with pytest.raises(CommandRefused, match="not dispatched to department DSAN-350203"):
        project(dept("handle", note="x"), other)
    with pytest.raises(CommandRefused, match="is handled: only a case dispatched"):
        project(dept("return", note="x"), CASE | {"state": "handled"})


def test_department_commands_need_their_text_and_their_department():
    for action in ("reply", "handle", "return"):
        with pytest.raises(ValueError, match="needs"):
            dept(action)
    with pytest.raises(ValueError, match="names the user's department"):
        cmd("handle", role="department", note="x")
    with pytest.raises(ValueError, match="only a 督办"):
        cmd("acknowledge", level=2)
    with pytest.raises(ValueError, match="only a handling report"):
        dept("reply", note="x", evidence_ref="a.jpg")
