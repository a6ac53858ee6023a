"""The supervision timer: reminds a 督办单's department before the reply deadline and escalates the order when
the deadline passes unanswered (``cityops/supervision_orders.py`` decides; this tick only reads and writes).

Every second each worker takes the orders whose next check has come from ``co:sup:next`` and applies the step in
one Lua script per order that first checks the order is still the one it read (same order, level, reminder and
deadline, still open): a reply or a new 督办 that came in meanwhile wins, and two workers never step an order
twice. Each step raises an alert on the duty feed (``supervision``), which the notification routes can send on;
an escalation is counted against the department (``co:sup:d:…``, field ``escalated``) for the 考核.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from cityops import bad_member, keys
from cityops import supervision_orders as orders
from cityops.alerts import Alert
from cityops.settings import get_settings
from streams import runtime
from streams.agents.redis_outage import skip_tick_if_unavailable
from streams.app import app
from streams.effects import SERVER_CONDITIONS
from streams.lua import source

BATCH = 200


async def step_due_orders(now: float | None = None) -> int:
    """Step every order whose next check is due by ``now`` (default: the wall clock; 督办 is the command
    centre's own time, not the case stream's); returns how many steps were applied."""
    r = runtime.redis()
    now = time.time() if now is None else now
    due = await r.zrangebyscore(keys.supervision_due(), "-inf", now, start=0, num=BATCH)
    if not due:
        return 0
    async with r.pipeline(transaction=False) as pipe:
        for case_id in due:
            pipe.hgetall(keys.supervision_order(case_id))
        stored = await pipe.execute(raise_on_error=False)
    remind_before = get_settings().supervision_remind_s
    stepped = 0
    for case_id, data in zip(due, stored, strict=True):
        try:
            if isinstance(data, Exception):
                raise data
            stepped += await _step(r, case_id, data, now, remind_before)
        except (ResponseError, TypeError, ValueError) as err:
            if isinstance(err, SERVER_CONDITIONS):
                raise
            bad_member.skip("supervision timer", case_id, err)
    return stepped


async def _step(r: Redis, case_id: str, data: dict[str, str], now: float, remind_before: float) -> int:
    order = orders.Order.from_hash(data)
    at = datetime.fromtimestamp(now, UTC)
    step = orders.due_step(order, at, remind_before) if order is not None else None
    if order is None or step is None:  # replied, re-raised or gone meanwhile: look again when it says
        check = order.next_check(remind_before) if order is not None else None
        if check is None or check.timestamp() <= now:
            await r.zrem(keys.supervision_due(), case_id)
        else:
            await r.zadd(keys.supervision_due(), {case_id: check.timestamp()})
        return 0
    after = orders.apply_step(order, step, at)
    alert_level = after.level if step is orders.Step.ESCALATE else order.level
    case = await r.hgetall(keys.case(case_id))
    alert = Alert.supervision(case_id=case_id, level=alert_level, step=step.value, reply_due=order.reply_due,
                              department=order.department, district=case.get("district", ""),
                              street=case.get("street", ""), at=at)
    after = after.with_alert(alert.id)
    check = after.next_check(remind_before)
    escalation = step is not orders.Step.REMIND
    day = keys.day_bucket(at.astimezone(runtime.case_context().tz))
    daily = keys.supervision_daily(day, "department", order.department)
    fields = [str(part) for item in after.as_hash().items() for part in item]
    due_score = datetime.fromisoformat(after.reply_due).timestamp()
    script = r.register_script(source("supervision_step"))
    return int(await script(
        keys=[keys.supervision_order(case_id), keys.supervision_due(), keys.supervision_open(), keys.alert(alert.id),
              daily if escalation else keys.supervision_order(case_id), keys.active_alerts(), keys.alerts()],
        args=[case_id, order.order_id, str(order.level), str(order.reminded), order.reply_due,
              "" if check is None else repr(check.timestamp()), repr(due_score),
              keys.ALERTS_MAXLEN, alert.to_json(), alert.id, repr(now), keys.DAILY_RETENTION_S, int(escalation),
              len(fields) // 2, *fields, *alert.hash_flat()]))


@app.timer(interval=1.0)
async def supervision_timer() -> None:
    await skip_tick_if_unavailable(step_due_orders, "supervision timer")
