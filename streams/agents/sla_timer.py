"""The SLA timer: marks a case overdue when its running clock expires, even if no event arrives.

Every second each worker takes the cases whose deadline has passed from ``co:sla`` and marks them in
one Lua script per case that first checks the deadline is still the one it read: a step that moved
the case on in the meantime (new stage, new deadline) wins, and two workers never mark a case twice.
"""

from __future__ import annotations

import time

import orjson
from redis.commands.core import AsyncScript
from redis.exceptions import ResponseError

from cityops import bad_member, keys
from streams import runtime, sla
from streams.agents.redis_outage import skip_tick_if_unavailable
from streams.app import app
from streams.case_projection import CaseView
from streams.effects import SERVER_CONDITIONS

# Checks first (a script is not rolled back): every key of the type it needs, the weight a number; then writes.
_MARK_OVERDUE = """
local function bad(k, want) local t = redis.call('TYPE', k)['ok']; return t ~= 'none' and t ~= want end
if bad(KEYS[1], 'hash') or bad(KEYS[2], 'zset') or bad(KEYS[3], 'hash') or bad(ARGV[7], 'zset')
   or bad(ARGV[4], 'stream') then
  return redis.error_reply('WRONGTYPE a key of the case, its clock or its alert has the wrong type')
end
for i = 4, #KEYS do
  if bad(KEYS[i], 'zset') then return redis.error_reply('WRONGTYPE overdue set ' .. KEYS[i] .. ' is no sorted set') end
end
local current = redis.call('ZSCORE', KEYS[2], ARGV[1])
if (not current) or tonumber(current) ~= tonumber(ARGV[2]) then return 0 end
local weight = redis.call('HGET', KEYS[1], 'weight') or '1'
if tonumber(weight) == nil then return redis.error_reply('case weight ' .. weight .. ' is not a number') end
redis.call('ZREM', KEYS[2], ARGV[1])
if redis.call('HGET', KEYS[1], 'overdue') == '1' or redis.call('HGET', KEYS[1], 'deadline') ~= ARGV[3] then
  return 0
end
redis.call('HSET', KEYS[1], 'overdue', '1')
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
    """Mark every case whose clock ran out by ``now``; returns how many were marked.

    A case that cannot be read or marked (a key of the wrong type, a field that does not parse) is skipped
    with a log line; the others are marked all the same.
    """
    r = runtime.redis()
    now = time.time() if now is None else now
    due = await r.zrangebyscore(keys.sla_clock(), "-inf", now, start=0, num=BATCH, withscores=True)
    if not due:
        return 0
    async with r.pipeline(transaction=False) as pipe:
        for case_id, _ in due:
            pipe.hgetall(keys.case(case_id))
        views = await pipe.execute(raise_on_error=False)
    script = r.register_script(_MARK_OVERDUE)
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
            marked += await _mark(script, case_id, score, view, city_code)
        except (ResponseError, TypeError, ValueError) as err:
            if isinstance(err, SERVER_CONDITIONS):
                raise
            bad_member.skip("SLA timer", case_id, err)
    return marked


async def _mark(script: AsyncScript, case_id: str, score: float, view: CaseView, city_code: str) -> int:
    """Mark one case overdue (1), or find it moved on meanwhile (0)."""
    sets = [keys.overdue(scope, sid) for scope, sid in view.scopes(city_code)]
    alert = {"id": sla.alert_id(case_id, view.stage, score), "type": "sla_overdue",
             "severity": "critical" if view.urgent else "major", "case_id": case_id, "stage": view.stage,
             "deadline": view.deadline, "district": view.district, "street": view.street, "grid": view.grid,
             "category": view.category, "department": view.department, "lon": view.lon, "lat": view.lat,
             "at": time.time()}
    return int(await script(keys=[keys.case(case_id), keys.sla_clock(), keys.alert(alert["id"]), *sets],
                            args=[case_id, repr(score), view.deadline, keys.alerts(), keys.ALERTS_MAXLEN,
                                  orjson.dumps(alert).decode(), keys.active_alerts()]))


@app.timer(interval=1.0)
async def sla_timer() -> None:
    await skip_tick_if_unavailable(mark_expired, "SLA timer")
