"""A backlog of old case events read by a real worker: the SLA timer judges deadlines on the events' time.

Events of ten hours ago published at full speed (as after an outage, or the demo's history): a case that went
from report to close within every limit must not be marked overdue while its next step is still unread, however
long ago its deadline is on the wall clock; a case never registered is marked once the events read have passed
its deadline.
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta
from datetime import time as dtime

import orjson

from cityops import keys, read
from cityops.bus import Publisher, ensure_topics
from cityops.workcalendar import get_calendar
from tests.support.workers import wait_until, worker

SIMING = (118.0894, 24.4798)


def _working_morning_before(latest: datetime) -> datetime:
    """09:00 of the last working day whose 09:00 is before ``latest``: the scenario's steps and its 30-minute
    clocks (working time) all fall in that morning, long before now, whatever the hour the test runs at (ten
    hours back from 01:30 is an evening, whose clocks run out the next working morning: after now)."""
    calendar = get_calendar()
    day = latest.date()
    while True:
        morning = datetime.combine(day, dtime(9), latest.tzinfo)
        if morning <= latest and calendar.is_working_day(day):
            return morning
        day -= timedelta(days=1)


def test_a_backlog_raises_no_alert_the_city_did_not_have(stack_env, redis_client, tmp_path):
    s = stack_env
    asyncio.run(ensure_topics(s))
    start = _working_morning_before(datetime.now(s.tz) - timedelta(hours=3))

    def report(cid: str, t: datetime) -> dict:
        return {"event_id": f"{cid}-report", "case_id": cid, "action": "report", "event_time": t.isoformat(),
                "source": "grid_patrol", "category_code": "E0102", "lon": SIMING[0], "lat": SIMING[1]}

    async def publish(events: list[dict]) -> None:
        async with Publisher(s) as pub:
            for e in events:
                await pub.send(s.topics.cases, e["case_id"], orjson.dumps(e))

    with worker(tmp_path / "worker.log"):
        asyncio.run(publish([report("ON-TIME", start), report("NEVER", start + timedelta(minutes=1))]))
        wait_until(lambda: redis_client.hget(keys.case("NEVER"), "state") == "reported", 60, "reports not applied")
        time.sleep(3)  # the SLA timer ticks each second: on the wall clock both 30-minute clocks ran out long ago
        assert redis_client.hget(keys.case("ON-TIME"), "overdue") != "1", "judged on the wall clock"
        assert redis_client.hget(keys.case("NEVER"), "overdue") != "1"
        deadline = datetime.fromisoformat(redis_client.hget(keys.case("NEVER"), "deadline"))
        steps = [("register", 5), ("dispatch", 10), ("handle", 40), ("verify", 50), ("close", 55)]
        later = [{"event_id": f"ON-TIME-{a}", "case_id": "ON-TIME", "action": a, "department_id": "DSAN-350203",
                  "event_time": (start + timedelta(minutes=m)).isoformat()} for a, m in steps]
        # the backlog goes on past NEVER's deadline (and ON-TIME's close): its clock has run out in the events too
        later.append(report("LATER", max(deadline, start + timedelta(minutes=55)) + timedelta(minutes=5)))
        asyncio.run(publish(later))
        wait_until(lambda: redis_client.hget(keys.case("NEVER"), "overdue") == "1", 60,
                   "the unregistered case was not marked once the events passed its deadline")
    assert redis_client.hget(keys.case("ON-TIME"), "overdue") != "1"
    alerts = [a for a in read.alerts_current(redis_client) if a.get("case_id") in ("ON-TIME", "NEVER")]
    assert [a["case_id"] for a in alerts] == ["NEVER"], alerts
    # dated on the events' clock, or on the wall clock when the timer first ticked after the stream went quiet
    # (QUIET_S: a loaded machine); never before the deadline
    assert datetime.fromtimestamp(float(alerts[0]["at"]), s.tz) > deadline
    assert redis_client.hget(keys.case("ON-TIME"), "state") == "closed"
