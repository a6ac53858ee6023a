"""Every second: check newly reported located cases for repeated problems (see streams/repeats.py).

Reads the queue the case projection fills, compares each report with the same category's reports
within the radius, marks the repeats (set members, so a second check changes nothing), forgets reports
too old to matter, and only then drops the checked entries from the queue.
"""

from __future__ import annotations

from datetime import datetime

import orjson

from cityops import keys
from cityops.settings import get_settings
from streams import runtime
from streams.agents.redis_outage import skip_tick_if_unavailable
from streams.app import app
from streams.repeats import Report, repeated_cases, stale_before

BATCH = 500


async def check_reports(batch: int = BATCH) -> int:
    """Check up to ``batch`` queued reports; returns how many were checked."""
    r = runtime.redis()
    settings = get_settings()
    window_s = settings.repeat_window_days * keys.DAY
    entries = await r.xrange(keys.repeat_queue(), count=batch)
    if not entries:
        return 0
    reports = [orjson.loads(fields["json"]) for _id, fields in entries]
    async with r.pipeline(transaction=False) as pipe:
        for rep in reports:
            pipe.geosearch(keys.repeat_geo(rep["category"]), longitude=rep["lon"], latitude=rep["lat"],
                           radius=settings.repeat_radius_m, unit="m")
        nearby: list[list[str]] = await pipe.execute()
    async with r.pipeline(transaction=False) as pipe:
        for rep, members in zip(reports, nearby, strict=True):
            pipe.zmscore(keys.repeat_times(rep["category"]), members or [rep["case_id"]])
        times = await pipe.execute()
    marked: set[str] = set()
    for rep, members, scores in zip(reports, nearby, times, strict=True):
        neighbours = [Report(float(s), m) for m, s in zip(members, scores, strict=False) if s is not None]
        marked |= repeated_cases(Report(float(rep["t"]), rep["case_id"]), neighbours, window_s)
    await _mark(sorted(marked))
    await _forget_stale({rep["category"] for rep in reports}, window_s, settings.max_lateness_s)
    await r.xdel(keys.repeat_queue(), *[entry_id for entry_id, _ in entries])
    return len(entries)


async def _mark(case_ids: list[str]) -> None:
    if not case_ids:
        return
    r = runtime.redis()
    tz = get_settings().tz
    city_code = runtime.city().code
    fields = ("district", "street", "category", "t_report")
    async with r.pipeline(transaction=False) as pipe:
        for cid in case_ids:
            pipe.hmget(keys.case(cid), fields)
        rows = await pipe.execute()
    async with r.pipeline(transaction=False) as pipe:
        for cid, (district, street, category, t_report) in zip(case_ids, rows, strict=True):
            if not t_report:  # the case is gone (expired); never recreate its hash with one field
                continue
            reported = datetime.fromisoformat(t_report)
            day = keys.day_bucket(reported.astimezone(tz))
            pipe.hset(keys.case(cid), "repeat", "1")
            for scope, scope_id in (("city", city_code), ("district", district), ("street", street),
                                    ("category", category)):
                if scope_id:
                    key = keys.repeats_daily(day, scope, scope_id)
                    pipe.zadd(key, {cid: reported.timestamp()})
                    pipe.expire(key, keys.DAILY_RETENTION_S)
        await pipe.execute()


async def _forget_stale(categories: set[str], window_s: float, lateness_s: float) -> None:
    r = runtime.redis()
    for category in sorted(categories):
        newest = await r.zrange(keys.repeat_times(category), -1, -1, withscores=True)
        if not newest:
            continue
        stale = await r.zrangebyscore(keys.repeat_times(category), "-inf",
                                      f"({stale_before(newest[0][1], window_s, lateness_s)}")
        if stale:
            async with r.pipeline(transaction=True) as pipe:
                pipe.zrem(keys.repeat_geo(category), *stale)
                pipe.zrem(keys.repeat_times(category), *stale)
                await pipe.execute()


@app.timer(interval=1.0)
async def repeat_finder() -> None:
    await skip_tick_if_unavailable(_check_all, "repeat finder")


async def _check_all() -> None:
    while await check_reports() == BATCH:
        pass
