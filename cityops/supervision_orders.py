"""督办单: a 督办 that is followed up to the end. Pure: the command projection raises and closes orders, the
supervision timer reminds and escalates them, the console and the read API show them.

A duty officer's 督办 on a dispatched case opens an order against the case's department: a level, the officer
who raised it, a note and a reply deadline. Before the deadline the department is reminded once; when it passes
unanswered the order goes up one level (一般督办 → 重点督办 → 挂牌督办) with a new deadline of the same length, and
at the top level it is marked overdue (逾期未复) and stays open. The department's reply (回复) closes it. A second
督办 of a case whose order is open raises that order one level (or to the level asked, if higher).

| field | meaning |
|---|---|
| ``order_id`` | the raising command's id (a new order after a reply gets a new one) |
| ``level`` | 1 一般督办, 2 重点督办, 3 挂牌督办 |
| ``reply_due`` / ``window_s`` | when the reply is due; the length of a level's reply window |
| ``level_at`` | when the current level began (the window and the reminder count from it) |
| ``reminded`` | 1 once the current level's reminder went out |
| ``escalations`` | how often the deadline passed unanswered (the 考核's ``supervision_overdue``) |
| ``state`` | ``open`` or ``replied`` |
| ``alert_ids`` | the duty feed's alerts of its reminders and escalations (cleared by the reply) |
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

LEVELS = {1: "一般督办", 2: "重点督办", 3: "挂牌督办"}
TOP_LEVEL = max(LEVELS)
MIN_WINDOW_S = 60.0  # a reply window shorter than a minute is a typing mistake
MAX_WINDOW_S = 30 * 86400.0
DEFAULT_WINDOW_S = 86400.0  # a 督办 sent without a deadline (an older producer): one natural day
REPLY_WINDOWS_S = {"2小时": 7200.0, "4小时": 14400.0, "1天": 86400.0, "3天": 259200.0}  # what the console offers


class OrderState(StrEnum):
    OPEN = "open"
    REPLIED = "replied"


class Step(StrEnum):
    """What the supervision timer does with an order whose time came."""

    REMIND = "remind"  # 督办即将到期
    ESCALATE = "escalate"  # 督办升级
    OVERDUE = "overdue"  # 挂牌督办逾期未复: nowhere higher to go


class OrderError(ValueError):
    """A 督办 or a reply that cannot apply (no department yet, already replied …)."""


@dataclass
class Order:
    case_id: str
    order_id: str
    level: int
    department: str
    raised_by: str
    raised_at: str  # ISO
    level_at: str  # ISO
    reply_due: str  # ISO
    window_s: float
    note: str = ""
    state: str = OrderState.OPEN
    reminded: int = 0
    escalations: int = 0
    overdue: int = 0
    replied_by: str = ""
    replied_at: str = ""
    reply: str = ""
    alert_ids: str = ""  # comma-separated

    @property
    def alerts(self) -> list[str]:
        return [a for a in self.alert_ids.split(",") if a]

    def with_alert(self, alert_id: str) -> Order:
        return dataclasses.replace(self, alert_ids=",".join([*self.alerts, alert_id]))

    @classmethod
    def from_hash(cls, data: Mapping[str, str]) -> Order | None:
        """The order a ``co:sup:order:{case}`` hash holds; None for an empty or unreadable one."""
        if not data or not data.get("order_id"):
            return None
        values: dict[str, object] = {}
        for f in dataclasses.fields(cls):
            if f.name in data:
                raw = data[f.name]
                values[f.name] = int(raw or 0) if f.type == "int" else float(raw or 0) if f.type == "float" else raw
        try:
            return cls(**values)  # type: ignore[arg-type]
        except TypeError:
            return None

    def as_hash(self) -> dict[str, object]:
        return dataclasses.asdict(self)

    @property
    def level_name(self) -> str:
        return LEVELS.get(self.level, str(self.level))

    @property
    def is_open(self) -> bool:
        return self.state == OrderState.OPEN

    def remind_at(self, remind_before_s: float) -> datetime:
        """The reminder goes out ``remind_before_s`` before the deadline, but never before half the window."""
        due, start = datetime.fromisoformat(self.reply_due), datetime.fromisoformat(self.level_at)
        return max(start + (due - start) / 2, due - timedelta(seconds=remind_before_s))

    def next_check(self, remind_before_s: float) -> datetime | None:
        """When the timer should look at this order again; None when nothing more will happen to it."""
        if not self.is_open or self.overdue:
            return None
        return datetime.fromisoformat(self.reply_due) if self.reminded else self.remind_at(remind_before_s)


def window_of(issued_at: datetime, reply_due: datetime | None) -> float:
    """The reply window a 督办 asks for, in seconds (the default when it names no deadline)."""
    if reply_due is None:
        return DEFAULT_WINDOW_S
    window = (reply_due - issued_at).total_seconds()
    if not MIN_WINDOW_S <= window <= MAX_WINDOW_S:
        raise OrderError(f"the reply deadline {reply_due.isoformat()} must be between {MIN_WINDOW_S:.0f} s and "
                         f"{MAX_WINDOW_S / 86400:.0f} days after the 督办 ({issued_at.isoformat()})")
    return window


def raise_order(current: Order | None, *, case_id: str, command_id: str, department: str, user: str,
                at: datetime, level: int | None, reply_due: datetime | None, note: str | None) -> Order:
    """The order after a 督办 of the case: a new one, or the open one raised a level (to ``level`` if higher)."""
    if not department:
        raise OrderError(f"case {case_id} has not been dispatched: a 督办单 goes to the department handling it")
    window = window_of(at, reply_due)
    due = at + timedelta(seconds=window)
    if current is not None and current.is_open:
        new_level = min(TOP_LEVEL, max(current.level + 1, level or 0))
        return dataclasses.replace(current, level=new_level, level_at=at.isoformat(), reply_due=due.isoformat(),
                                   window_s=window, reminded=0, overdue=0, department=department,
                                   note=note or current.note)
    start = min(TOP_LEVEL, max(1, level or 1))
    return Order(case_id=case_id, order_id=command_id, level=start, department=department, raised_by=user,
                 raised_at=at.isoformat(), level_at=at.isoformat(), reply_due=due.isoformat(), window_s=window,
                 note=note or "")


def due_step(order: Order, now: datetime, remind_before_s: float) -> Step | None:
    """What the timer does with ``order`` at ``now``: nothing yet, remind, escalate, or mark it overdue."""
    if not order.is_open or order.overdue:
        return None
    if now >= datetime.fromisoformat(order.reply_due):
        return Step.ESCALATE if order.level < TOP_LEVEL else Step.OVERDUE
    if not order.reminded and now >= order.remind_at(remind_before_s):
        return Step.REMIND
    return None


def apply_step(order: Order, step: Step, now: datetime) -> Order:
    """The order after the timer's ``step``: a reminder marks the level reminded; an escalation starts the next
    level with a window as long as the last, from ``now``; at the top level the order is marked overdue."""
    if step is Step.REMIND:
        return dataclasses.replace(order, reminded=1)
    if step is Step.OVERDUE:
        return dataclasses.replace(order, overdue=1, escalations=order.escalations + 1)
    due = now + timedelta(seconds=order.window_s)
    return dataclasses.replace(order, level=order.level + 1, level_at=now.isoformat(), reply_due=due.isoformat(),
                               reminded=0, escalations=order.escalations + 1)


def reply(order: Order | None, *, case_id: str, department: str, user: str, at: datetime, text: str) -> Order:
    """The department's reply: it closes the open order of the case (only the department it is against)."""
    if order is None:
        raise OrderError(f"case {case_id} has no 督办单 to reply to")
    if not order.is_open:
        raise OrderError(f"the 督办单 of case {case_id} was already replied to by {order.replied_by} "
                         f"at {order.replied_at}")
    if department != order.department:
        raise OrderError(f"the 督办单 of case {case_id} is against department {order.department}, not {department}")
    if not text.strip():
        raise OrderError("a reply to a 督办单 needs its text")
    return dataclasses.replace(order, state=OrderState.REPLIED, replied_by=user, replied_at=at.isoformat(),
                               reply=text.strip())
