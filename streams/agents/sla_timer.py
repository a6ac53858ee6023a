"""The SLA timer: marks a case overdue when its running clock expires, even if no event arrives.

Every second each worker takes the cases whose deadline has passed from ``co:sla`` and marks them in
one Lua script per case that first checks the deadline is still the one it read: a step that moved
the case on in the meantime (new stage, new deadline) wins, and two workers never mark a case twice.
"""

from __future__ import annotations

import time

import orjson

from cityops import keys
from streams import runtime, sla
from streams.agents.redis_outage import skip_tick_if_unavailable
from streams.app import app
from streams.case_projection import CaseView

_MARK_OVERDUE = """
local current = redis.call('ZSCORE', KEYS[2], ARGV[1])
if (not current) or tonumber(current) ~= tonumber(ARGV[2]) then return 0 end
redis.call('ZREM', KEYS[2], ARGV[1])
if redis.call('HGET', KEYS[1], 'overdue') == '1' or redis.call('HGET', KEYS[1], 'deadline') ~= ARGV[3] then
  return 0
end
redis.call('HSET', KEYS[1], 'overdue', '1')
local weight = redis.call('HGET', KEYS[1], 'weight') or '1'
for i = 4, #KEYS do redis.call('ZADD', KEYS[i], weight, ARGV[1]) end
local alert = cjson.decode(ARGV[6])
redis.call('HSET', KEYS[3], 'id', alert['id'], 'type', 'sla_overdue', 'severity', alert['severity'], 'state', 'active',
           'case_id', ARGV[1], 'stage', alert['stage'], 'deadline', ARGV[3], 'acknowledged', '0')
redis.call('EXPIRE', KEYS[3], 34560000)
redis.call('ZADD', ARGV[7], ARGV[2], alert['id'])
redis.call('XADD', ARGV[4], 'MAXLEN', '~', ARGV[5], '*', 'json', ARGV[6])
return 1
"""

BATCH = 1000


async def mark_expired(now: float | None = None) -> int:
    """Mark every case whose clock ran out by ``now``; returns how many were marked."""
    r = runtime.redis()
    now = time.time() if now is None else now
    due = await r.zrangebyscore(keys.sla_clock(), "-inf", now, start=0, num=BATCH, withscores=True)
    if not due:
        return 0
    async with r.pipeline(transaction=False) as pipe:
        for case_id, _ in due:
            pipe.hgetall(keys.case(case_id))
        views = await pipe.execute()
    script = r.register_script(_MARK_OVERDUE)
    city_code = runtime.city().code
    marked = 0
    for (case_id, score), data in zip(due, views, strict=True):
        view = CaseView.from_hash(case_id, data)
        if view is None or not view.deadline:
            await r.zrem(keys.sla_clock(), case_id)
            continue
        sets = [keys.overdue(scope, sid) for scope, sid in view.scopes(city_code)]
        alert = {"id": sla.alert_id(case_id, view.stage, score), "type": "sla_overdue",
                 "severity": "critical" if view.urgent else "major", "case_id": case_id, "stage": view.stage,
                 "deadline": view.deadline, "district": view.district, "street": view.street, "grid": view.grid,
                 "category": view.category, "department": view.department, "lon": view.lon, "lat": view.lat,
                 "at": time.time()}
        marked += int(await script(keys=[keys.case(case_id), keys.sla_clock(), keys.alert(alert["id"]), *sets],
                                   args=[case_id, repr(score), view.deadline, keys.alerts(), keys.ALERTS_MAXLEN,
                                         orjson.dumps(alert).decode(), keys.active_alerts()]))
    return marked


@app.timer(interval=1.0)
async def sla_timer() -> None:
    await skip_tick_if_unavailable(mark_expired, "SLA timer")
