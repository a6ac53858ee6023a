"""Cases whose ids once spelled each other's keys, through a real worker: each is counted once and timed."""

from __future__ import annotations

import asyncio
from datetime import datetime

import orjson

from cityops import keys, read
from cityops.bus import Publisher, ensure_topics
from tests.support.stack import previous_working_day
from tests.support.workers import wait_until, worker


def test_cases_whose_ids_spelled_each_others_keys_are_each_counted_once_and_timed(stack_env, redis_client, tmp_path):
    """Through the real worker: case X1's timeline was case ``X1:timeline``'s hash (WRONGTYPE, SLA timer stopped)."""
    s = stack_env
    asyncio.run(ensure_topics(s))
    day = previous_working_day(datetime.now(s.tz).date())
    reported = datetime(day.year, day.month, day.day, 9, 0, tzinfo=s.tz)  # its register limit passed long ago
    ids = ["KX1", "KX1:timeline", "KX1:timeline:timeline"]
    reports = [{"event_id": f"{cid}-report", "case_id": cid, "action": "report", "event_time": reported.isoformat(),
                "source": "hotline_12345", "category_code": "E0102", "lon": 118.0894, "lat": 24.4798} for cid in ids]

    async def send() -> None:
        async with Publisher(s) as pub:
            for e in reports:
                await pub.send(s.topics.cases, e["case_id"], orjson.dumps(e))

    with worker(tmp_path / "worker.log") as proc:
        asyncio.run(send())
        wait_until(lambda: all(redis_client.type(keys.case(cid)) == "hash"
                               and redis_client.hget(keys.case(cid), "overdue") == "1" for cid in ids),
                   45, "not every case was stored and marked overdue", proc)
        log = (tmp_path / "worker.log").read_text(errors="replace")
    for cid in ids:
        assert redis_client.type(keys.case_timeline(cid)) == "list"
        assert [step["action"] for step in read.case_timeline(redis_client, cid)] == ["report"]
        assert redis_client.zscore(keys.overdue("city", "350200"), cid) == 1.0
    assert read.day_counters(redis_client, reported, "city", "350200")["received"] == len(ids)
    assert read.recent_dead_letters(redis_client) == []
    assert "WRONGTYPE" not in log
