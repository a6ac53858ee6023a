"""督办单 and a department's queue as the console shows them: open orders by reply deadline (the duty console,
the department's page), one case's order, and the cases a department has to handle now."""

from __future__ import annotations

from redis import Redis

from cityops import keys
from cityops.read.replies import replies
from cityops.supervision_orders import Order


def case_order(r: Redis, case_id: str) -> Order | None:
    """The case's 督办单 (open or replied), or None."""
    return Order.from_hash(r.hgetall(keys.supervision_order(case_id)))


def open_orders(r: Redis, department: str | None = None, limit: int = 200) -> list[Order]:
    """Open 督办单, soonest reply deadline first; ``department``: only those against it."""
    ids = r.zrange(keys.supervision_open(), 0, -1 if department else limit - 1)
    pipe = r.pipeline(transaction=False)
    for case_id in ids:
        pipe.hgetall(keys.supervision_order(case_id))
    out = []
    for data in replies(pipe, ids, "open 督办单"):
        order = Order.from_hash(data or {})
        if order is not None and order.is_open and (department is None or order.department == department):
            out.append(order)
    return out[:limit]


def department_queue(r: Redis, department: str, limit: int = 200) -> list[dict[str, str]]:
    """The cases dispatched (or sent back) to ``department`` and not yet handled, soonest deadline first: each
    the case's hash plus ``case_id``; a case whose hash has gone is left out."""
    ids = r.zrange(keys.department_queue(department), 0, limit - 1)
    pipe = r.pipeline(transaction=False)
    for case_id in ids:
        pipe.hgetall(keys.case(case_id))
    return [{"case_id": cid, **data} for cid, data in zip(ids, replies(pipe, ids, "department queue"), strict=True)
            if data]
