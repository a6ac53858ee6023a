"""The stale-case timer: an open case with no step for ``CITYOPS_STALE_CASE_DAYS`` (400) is expired.

Why: a case that never closes (a lost closing step, a test report nobody voided) would otherwise stay in
the SLA clock, the open-case map and the overdue sets forever, and its hash would never be dropped. Every
minute each worker takes the cases whose latest step is older than the window from ``co:cases:laststep``
(kept by the case projection) and, in one Lua script per case, removes it from every live set, clears its
running overdue alert, marks the hash (``expired=1``, ``expired_at``; the state stays), gives the hash and
timeline the retention of a closed case, and counts ``expired`` in today's daily KPI hashes of its scopes.
The script first checks the case's latest step is still older than the window and its state the one read,
so a step that arrived in the meantime wins, and two workers never expire a case twice.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from datetime import UTC, datetime

from redis.exceptions import ResponseError

from cityops import keys
from cityops.alerts import sla_alert_id
from cityops.metrics import Metric
from cityops.settings import env_number
from streams import lifecycle as lc
from streams import runtime
from streams.agents.redis_outage import skip_tick_if_unavailable
from streams.app import app
from streams.case_projection import CLOSED_CASE_RETENTION_S, MAX_STALE_CASE_DAYS, CaseView
from streams.lua import source

log = logging.getLogger(__name__)

BATCH = 500
INTERVAL_S = 60.0

# KEYS: case, index, sla clock, open geo set, timeline, active alerts, alert (or the case again when none),
# then ARGV[6] overdue sets, then the daily KPI hashes. ARGV: case id, cutoff, expired_at, retention,
# KPI retention, number of overdue sets, alert id ('' for none), state read, the KPI counter to count.
_EXPIRE_CASE = source("expire_stale_case")


def stale_case_days() -> float:
    """``CITYOPS_STALE_CASE_DAYS``, read on every tick; a clear error for a value outside (0, 3650]."""
    days = env_number("CITYOPS_STALE_CASE_DAYS", 400)
    if not 0 < days <= MAX_STALE_CASE_DAYS:
        raise ValueError(f"CITYOPS_STALE_CASE_DAYS={days:g} must be above 0 and at most {MAX_STALE_CASE_DAYS}")
    return days


def expiry_plan(view: CaseView, city_code: str, day: str) -> tuple[list[str], list[str], str]:
    """What expiring ``view`` touches: (its overdue sets, its daily KPI hashes of ``day``, the id of its
    running overdue alert or '')."""
    scopes = view.scopes(city_code)
    alert = ""
    if view.stage and view.deadline:
        alert = sla_alert_id(view.case_id, view.stage, datetime.fromisoformat(view.deadline).timestamp())
    overdue = [keys.overdue(s, i) for s, i in [*scopes, ("centre", city_code)]]  # any stage's set it may be in
    return (overdue, [keys.kpi_daily(day, s, i) for s, i in scopes], alert)


def is_stale(view: CaseView | None, cutoff: float) -> bool:
    """An open, not yet expired case whose latest step happened before ``cutoff`` (a POSIX time)."""
    if view is None or view.expired or view.state in lc.FINAL_STATES or not view.updated_at:
        return False
    return datetime.fromisoformat(view.updated_at).timestamp() <= cutoff


async def expire_stale(now: float | None = None, days: float | None = None) -> int:
    """Expire the cases silent since ``days`` before ``now``; returns how many were expired."""
    r = runtime.redis()
    now = time.time() if now is None else now
    cutoff = now - (stale_case_days() if days is None else days) * keys.DAY
    due: Sequence[str] = await r.zrangebyscore(keys.open_cases_by_step(), "-inf", cutoff, start=0, num=BATCH)
    if not due:
        return 0
    async with r.pipeline(transaction=False) as pipe:
        for case_id in due:
            pipe.hgetall(keys.case(case_id))
        hashes = await pipe.execute(raise_on_error=False)
    script = r.register_script(_EXPIRE_CASE)
    ctx = runtime.case_context()
    local_now = datetime.fromtimestamp(now, UTC).astimezone(ctx.tz)
    day, stamp = keys.day_bucket(local_now), local_now.isoformat()
    expired = 0
    for case_id, data in zip(due, hashes, strict=True):
        try:
            view = CaseView.from_hash(case_id, data) if not isinstance(data, Exception) else None
            if not is_stale(view, cutoff):
                await r.zrem(keys.open_cases_by_step(), case_id)  # closed, gone or unreadable: not a live case
                if isinstance(data, Exception):
                    log.warning("stale cases: case %r unreadable (%s); left out of the index", case_id, data)
                continue
            overdue, kpis, alert = expiry_plan(view, ctx.city.code, day)
            expired += int(await script(
                keys=[keys.case(case_id), keys.open_cases_by_step(), keys.sla_clock(), keys.open_cases(),
                      keys.case_timeline(case_id), keys.active_alerts(),
                      keys.alert(alert) if alert else keys.case(case_id), *overdue, *kpis],
                args=[case_id, repr(cutoff), stamp, CLOSED_CASE_RETENTION_S, keys.DAILY_RETENTION_S, len(overdue),
                      alert, view.state, Metric.EXPIRED.value]))
        except (ResponseError, ValueError) as err:  # one bad case is its own problem, not the city's
            log.warning("stale cases: case %r skipped and left out of the index: %s", case_id, err)
            await r.zrem(keys.open_cases_by_step(), case_id)
    if expired:
        log.info("stale cases: %d expired (no step for %g days)", expired, (now - cutoff) / keys.DAY)
    return expired


@app.timer(interval=INTERVAL_S)
async def stale_case_timer() -> None:
    await skip_tick_if_unavailable(expire_stale, "stale-case timer")
