"""Every second: check newly reported located cases for repeated problems (see streams/repeats.py).

Reads the queue the case projection fills, compares each report with the same category's reports
within the radius, marks the repeats (set members, so a second check changes nothing), forgets reports
too old to matter, and only then drops the checked entries from the queue.
"""

from __future__ import annotations

from datetime import datetime

import orjson
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from cityops import bad_member, keys
from cityops.settings import get_settings
from streams import runtime
from streams.agents.redis_outage import skip_tick_if_unavailable
from streams.app import app
from streams.effects import SERVER_CONDITIONS
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
    reports = [rep for entry_id, fields in entries if (rep := _report(entry_id, fields)) is not None]
    async with r.pipeline(transaction=False) as pipe:
        for rep in reports:
            pipe.geosearch(keys.repeat_geo(rep["category"]), longitude=rep["lon"], latitude=rep["lat"],
                           radius=settings.repeat_radius_m, unit="m")
        nearby: list[list[str] | Exception] = await pipe.execute(raise_on_error=False)
    async with r.pipeline(transaction=False) as pipe:
        for rep, members in zip(reports, nearby, strict=True):
            pipe.zmscore(keys.repeat_times(rep["category"]),
                         [rep["case_id"]] if isinstance(members, Exception) or not members else members)
        times = await pipe.execute(raise_on_error=False)
    marked: set[str] = set()
    for rep, members, scores in zip(reports, nearby, times, strict=True):
        if isinstance(members, Exception) or isinstance(scores, Exception):
            bad_member.skip("repeat finder", rep["case_id"], members if isinstance(members, Exception) else scores)
            continue
        neighbours = [Report(float(s), m) for m, s in zip(members, scores, strict=False) if s is not None]
        marked |= repeated_cases(Report(rep["t"], rep["case_id"]), neighbours, window_s)
    await _mark(sorted(marked))
    await _forget_stale({rep["category"] for rep in reports}, window_s, settings.max_lateness_s)
    await r.xdel(keys.repeat_queue(), *[entry_id for entry_id, _ in entries])
    return len(entries)


def _report(entry_id: str, fields: dict[str, str]) -> dict | None:
    """A queued report, or None (logged) for an entry that is not one: it is dropped from the queue with the rest."""
    try:
        rep = orjson.loads(fields["json"])
        rep["lon"], rep["lat"], rep["t"] = float(rep["lon"]), float(rep["lat"]), float(rep["t"])
        if not (isinstance(rep["category"], str) and isinstance(rep["case_id"], str)):
            raise TypeError("category and case_id must be text")
        return rep
    except (KeyError, TypeError, ValueError, orjson.JSONDecodeError) as err:
        bad_member.skip("repeat finder", entry_id, f"queue entry unreadable: {err!r}")
        return None


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
        rows = await pipe.execute(raise_on_error=False)
    async with r.pipeline(transaction=False) as pipe:
        for cid, row in zip(case_ids, rows, strict=True):
            if isinstance(row, Exception):
                bad_member.skip("repeat finder", cid, row)
                continue
            district, street, category, t_report = row
            if not t_report:  # the case is gone (expired); never recreate its hash with one field
                continue
            try:
                reported = datetime.fromisoformat(t_report)
            except ValueError as err:
                bad_member.skip("repeat finder", cid, f"t_report unreadable: {err}")
                continue
            day = keys.day_bucket(reported.astimezone(tz))
            pipe.hset(keys.case(cid), "repeat", "1")
            for scope, scope_id in (("city", city_code), ("district", district), ("street", street),
                                    ("category", category)):
                if scope_id:
                    key = keys.repeats_daily(day, scope, scope_id)
                    pipe.zadd(key, {cid: reported.timestamp()})
                    pipe.expire(key, keys.DAILY_RETENTION_S)
        for reply in await pipe.execute(raise_on_error=False):
            if isinstance(reply, Exception):
                bad_member.skip("repeat finder", "repeat marks", reply)


async def _forget_stale(categories: set[str], window_s: float, lateness_s: float) -> None:
    r = runtime.redis()
    for category in sorted(categories):
        try:
            await _forget_stale_of(r, category, window_s, lateness_s)
        except ResponseError as err:  # this category's keys, not the others'
            if isinstance(err, SERVER_CONDITIONS):
                raise
            bad_member.skip("repeat finder", f"category {category}", err)


async def _forget_stale_of(r: Redis, category: str, window_s: float, lateness_s: float) -> None:
    """Forget one category's reports too old to be anyone's neighbour."""
    newest = await r.zrange(keys.repeat_times(category), -1, -1, withscores=True)
    if not newest:
        return
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
