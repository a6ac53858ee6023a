"""The SLA timer: marks a case overdue when its running clock expires, even if no event arrives.

Every second each worker takes the cases whose deadline has passed from ``co:sla`` (passed on the case stream's
clock: the wall clock, unless the case agent is reading older events) and marks them in
one Lua script per case that first checks the deadline is still the one it read: a step that moved
the case on in the meantime (new stage, new deadline) wins, and two workers never mark a case twice.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from redis.commands.core import AsyncScript
from redis.exceptions import ResponseError

from cityops import bad_member, keys, stream_clock
from cityops.alerts import Alert
from streams import runtime
from streams.agents.redis_outage import skip_tick_if_unavailable
from streams.app import app
from streams.case_projection import CaseView, overdue_scopes
from streams.effects import SERVER_CONDITIONS
from streams.lua import source

BATCH = 1000
_settled = stream_clock.Settled()  # this process's recent stream clocks (cityops/stream_clock.py)


async def mark_expired(now: float | None = None) -> int:
    """Mark every case whose clock ran out by ``now`` (default: the case stream's clock, which is the wall clock
    unless the case agent is catching up: ``cityops/stream_clock.py``); returns how many were marked.

    A case that cannot be read or marked (a key of the wrong type, a field that does not parse) is skipped
    with a log line; the others are marked all the same.
    """
    r = runtime.redis()
    if now is None:
        wall = time.time()
        now = _settled.update(wall, stream_clock.stream_now(
            stream_clock.decode_all(await r.hgetall(keys.stream_clock())), wall))
    due = await r.zrangebyscore(keys.sla_clock(), "-inf", now, start=0, num=BATCH, withscores=True)
    if not due:
        return 0
    async with r.pipeline(transaction=False) as pipe:
        for case_id, _ in due:
            pipe.hgetall(keys.case(case_id))
        views = await pipe.execute(raise_on_error=False)
    script = r.register_script(source("mark_overdue"))
    city_code = runtime.city().code
    marked = 0
    for (case_id, score), data in zip(due, views, strict=True):
        try:
            if isinstance(data, Exception):
                raise data
            view = CaseView.from_hash(case_id, data)
            if view is None or not view.deadline:
                await r.zrem(keys.sla_clock(), case_id)
                continue
            marked += await _mark(script, case_id, score, view, city_code, now)
        except (ResponseError, TypeError, ValueError) as err:
            if isinstance(err, SERVER_CONDITIONS):
                raise
            bad_member.skip("SLA timer", case_id, err)
    return marked


async def _mark(script: AsyncScript, case_id: str, score: float, view: CaseView, city_code: str,
                now: float) -> int:
    """Mark one case overdue (1), or find it moved on meanwhile (0); the alert is dated ``now``."""
    sets = [keys.overdue(scope, sid) for scope, sid in overdue_scopes(view, city_code, view.stage)]
    alert = Alert.sla_overdue(case_id=case_id, stage=view.stage, deadline_ts=score, deadline=view.deadline,
                              urgent=view.urgent, at=datetime.fromtimestamp(now, UTC), district=view.district,
                              street=view.street, grid=view.grid, category=view.category, department=view.department,
                              lon=_coordinate(view.lon), lat=_coordinate(view.lat))
    return int(await script(keys=[keys.case(case_id), keys.sla_clock(), keys.alert(alert.id), *sets],
                            args=[case_id, repr(score), view.deadline, keys.alerts(), keys.ALERTS_MAXLEN,
                                  alert.to_json(), keys.active_alerts(), alert.id, *alert.hash_flat()]))


def _coordinate(text: str) -> float | None:
    """A case hash's coordinate; one that does not parse is left off the alert rather than stop the mark."""
    try:
        return float(text) if text else None
    except ValueError:
        return None


@app.timer(interval=1.0)
async def sla_timer() -> None:
    await skip_tick_if_unavailable(mark_expired, "SLA timer")
