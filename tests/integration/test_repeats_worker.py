"""Repeated problems marked by a real worker, whatever the order the reports arrive in."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import orjson

from cityops import keys, read
from cityops.bus import Publisher, ensure_topics
from tests.support.workers import wait_until, worker


def _report(case_id: str, t: datetime, lon: float, lat: float, category: str = "E0102") -> dict:
    return {"event_id": f"{case_id}-report", "case_id": case_id, "action": "report", "event_time": t.isoformat(),
            "source": "grid_patrol", "category_code": category, "lon": lon, "lat": lat}


def test_worker_marks_repeated_problems_in_any_arrival_order(stack_env, redis_client, tmp_path):
    s = stack_env
    t0 = (datetime.now(s.tz) - timedelta(days=10)).replace(microsecond=0)
    lon, lat = 118.0894, 24.4798
    reports = [
        _report("RB", t0 + timedelta(hours=1), lon, lat + 0.00027),  # ~30 m from RA, 1 h later: repeat
        _report("RA", t0, lon, lat),  # the first at this spot (arrives after its repeat)
        _report("RC", t0 + timedelta(hours=2), lon, lat + 0.0045),  # ~500 m away: not a repeat
        _report("RD", t0 + timedelta(hours=3), lon, lat, category="C0101"),  # another category: not a repeat
        _report("RF", t0 + timedelta(days=3), lon + 0.0004, lat),  # ~40 m, 3 days after RA/RB: repeat
        _report("RE", t0 + timedelta(days=10, hours=2), lon, lat),  # 7 days after RF, past the window: not one
    ]
    asyncio.run(ensure_topics(s))

    async def publish() -> None:
        async with Publisher(s) as pub:
            for r in reports + reports[:2]:  # re-sent reports change nothing
                await pub.send(s.topics.cases, r["case_id"], orjson.dumps(r))

    with worker(tmp_path / "worker.log"):
        asyncio.run(publish())
        wait_until(lambda: redis_client.exists(*[keys.case(r["case_id"]) for r in reports]) == len(reports)
                   and redis_client.xlen(keys.repeat_queue()) == 0, 60, "reports not checked")
    found = set()
    for r in reports:
        found |= {c["case_id"] for c in read.repeated_problems(redis_client, datetime.fromisoformat(r["event_time"]),
                                                            "city", "350200")}
    assert found == {"RB", "RF"}
    assert redis_client.hget(keys.case("RB"), "repeat") == "1" and not redis_client.hget(keys.case("RA"), "repeat")
    rb_day = datetime.fromisoformat(reports[0]["event_time"])
    by_category = read.repeated_problems(redis_client, rb_day, "category", "E0102")
    assert [c["case_id"] for c in by_category] == ["RB"] and by_category[0]["category"] == "E0102"
