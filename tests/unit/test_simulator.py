"""Simulator: deterministic, Xiamen-scale, realistic lifecycle mix; envelopes within limits."""

from __future__ import annotations

import time
from collections import Counter
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from cityops.catalogue import get_catalogue
from cityops.schemas import CaseAction, SensorEnvelope, decode
from cityops.workcalendar import get_calendar
from fixtures.simulator.cases import CaseDayPlanner
from fixtures.simulator.clock import SimClock
from fixtures.simulator.run import sensor_envelopes
from fixtures.simulator.sensors import SensorModel
from fixtures.xiamen import load_city, load_sensors

TZ = ZoneInfo("Asia/Shanghai")
DAY = date(2026, 11, 24)


@pytest.fixture(scope="module")
def plan():
    planner = CaseDayPlanner(load_city(), get_catalogue(), get_calendar(), TZ, seed=7, cases_per_day=3500)
    return planner.plan_day(DAY)


def test_planned_events_satisfy_the_contract(plan):
    from cityops.schemas import CaseEvent

    for p in plan[:2000]:
        CaseEvent.model_validate(dict(p.event) | {"event_time": datetime(2026, 11, 24, 12, 0, tzinfo=TZ)})


def test_day_is_deterministic(plan):
    again = CaseDayPlanner(load_city(), get_catalogue(), get_calendar(), TZ, seed=7).plan_day(DAY)
    assert [p.event.event_id for p in plan] == [p.event.event_id for p in again]
    other = CaseDayPlanner(load_city(), get_catalogue(), get_calendar(), TZ, seed=8).plan_day(DAY)
    assert [p.event.event_id for p in plan][:50] != [p.event.event_id for p in other][:50] or \
        [p.event.category_code for p in plan][:50] != [p.event.category_code for p in other][:50]


def test_volume_sources_and_diurnal_curve(plan):
    reports = [p.event for p in plan if p.event.action is CaseAction.REPORT]
    assert 3300 <= len(reports) <= 3700
    sources = Counter(r.source.value for r in reports)
    assert sources.most_common(1)[0][0] == "grid_patrol"
    assert {"hotline_12345", "citizen_app", "ai_video", "iot_sensor"} <= set(sources)
    hours = Counter(r.event_time.hour for r in reports)
    assert hours[10] > 5 * hours[3]  # busy mornings, quiet nights
    assert all(r.event_time.date() == DAY for r in reports)
    assert all(r.located and r.grid_id for r in reports)


def test_lifecycles_are_ordered_and_realistic(plan):
    by_case: dict[str, list] = {}
    for p in plan:
        by_case.setdefault(p.event.case_id, []).append(p)
    actions = Counter()
    for steps in by_case.values():
        assert steps[0].event.action is CaseAction.REPORT
        times = [s.time for s in steps]
        assert times == sorted(times), "a case's steps must not go back in time"
        actions.update(s.event.action for s in steps)
    n = len(by_case)
    assert actions[CaseAction.CLOSE] > 0.85 * n
    assert 0.01 * n < actions[CaseAction.REWORK] < 0.12 * n
    assert actions[CaseAction.REJECT] > 0 and actions[CaseAction.VOID] > 0 and actions[CaseAction.EXTEND] > 0
    city = load_city()
    dispatches = [p.event for p in plan if p.event.action is CaseAction.DISPATCH]
    assert all(d.department_id in city.departments for d in dispatches)


def test_some_cases_are_handled_after_their_deadline(plan):
    cat, cal = get_catalogue(), get_calendar()
    by_case: dict[str, dict] = {}
    for p in plan:
        by_case.setdefault(p.event.case_id, {})[p.event.action] = p.event
    late = on_time = 0
    for steps in by_case.values():
        if CaseAction.HANDLE in steps and CaseAction.EXTEND not in steps and CaseAction.REWORK not in steps:
            code = steps[CaseAction.REPORT].category_code
            deadline = cal.add(steps[CaseAction.DISPATCH].event_time, cat.get(code).sla["handle"])
            if steps[CaseAction.HANDLE].event_time > deadline:
                late += 1
            else:
                on_time += 1
    assert 0.05 < late / (late + on_time) < 0.25


def test_sensor_values_and_envelopes():
    sensors = load_sensors()
    model = SensorModel(sensors, seed=7)
    day = datetime(2026, 11, 24, 10, 0, tzinfo=TZ)
    night = datetime(2026, 11, 24, 3, 0, tzinfo=TZ)
    v_day, v_night = model.values_at(day), model.values_at(night)
    assert (model.values_at(day) == v_day).all()  # a pure function of time
    noise = model.is_site_noise
    assert v_day[noise].mean() > v_night[noise].mean() + 8
    envelopes = sensor_envelopes(sensors, v_day.tolist(), day)
    total = 0
    for key, payload in envelopes:
        env = decode(SensorEnvelope, payload)
        assert env.gateway_id == key and len(env.readings) <= 100
        total += len(env.readings)
    assert total == len(sensors)
    # over a whole day some sites exceed the night limit and some dust episodes pass 80 µg/m³
    exceed_night = exceed_dust = 0
    for minute in range(0, 24 * 60, 10):
        t = datetime(2026, 11, 24, tzinfo=TZ) + timedelta(minutes=minute)
        v = model.values_at(t)
        if t.hour >= 22 or t.hour < 6:
            exceed_night += int((v[noise] > 55 + 10).sum())
        exceed_dust += int((v[model.is_pm10] > 80).sum())
    assert exceed_night > 0 and exceed_dust > 0


def test_sim_clock_catches_up_then_follows_the_wall_clock():
    start = datetime.now(TZ) - timedelta(hours=1)
    clock = SimClock(start, speed=1e6, realtime_cap=True)
    time.sleep(0.01)  # 10 ms at a million times real time is far past the present
    now = clock.now()
    assert abs((now - datetime.now(TZ)).total_seconds()) < 1
    assert clock.caught_up()
    free = SimClock(start, speed=2.0, realtime_cap=False)
    assert free.now() < datetime.now(TZ)
    with pytest.raises(ValueError):
        SimClock(datetime(2026, 1, 1), speed=1)


def test_history_resumes_after_the_last_whole_day_and_never_counts_a_day_twice(tmp_path):
    from cityops import history_mark as history

    today = date(2026, 12, 3)
    assert history.first_day(today, 60, None, 10) == date(2026, 10, 4)  # a first start: sixty days
    assert history.first_day(today, 60, date(2026, 12, 2), 10) == today  # restarted the next day
    assert history.first_day(today, 60, date(2026, 11, 28), 10) == date(2026, 11, 29)  # the copies are dropped
    # stopped for longer than the exactly-once marks last: the day published in part is left as it was
    assert history.first_day(today, 60, date(2026, 11, 10), 10) == date(2026, 11, 12)
    assert history.first_day(today, 0, None, 10) == today
    mark = history.mark_path(tmp_path)
    assert history.load_through(mark) is None
    history.save_through(mark, date(2026, 12, 2))
    assert history.load_through(mark) == date(2026, 12, 2) and history.load_last_event_ts(mark) is None
    history.save_through(mark, date(2026, 12, 2), 1796227199.5)
    assert history.load_last_event_ts(mark) == 1796227199.5
    mark.write_text("{not json")
    assert history.load_through(mark) is None and history.load_last_event_ts(mark) is None
    mark.write_text('["through"]')
    assert history.load_through(mark) is None and history.load_last_event_ts(mark) is None


def test_history_is_published_in_time_order_a_day_at_a_time():
    import asyncio
    import json

    from cityops.settings import Settings
    from fixtures.simulator.run import FULL_SPEED, Simulator

    class Recorder:
        def __init__(self) -> None:
            self.sent: list[dict] = []

        async def send(self, topic: str, key: str, payload: bytes) -> None:
            self.sent.append(json.loads(payload))

        async def flush(self) -> None:
            pass

    settings = Settings(timezone="Asia/Shanghai")
    start = datetime(2026, 11, 20, tzinfo=TZ)
    done: list[tuple[date, float | None]] = []
    sim = Simulator(settings, 7, start, FULL_SPEED, 30, [], realtime_cap=False, until=start + timedelta(days=3),
                    on_day_done=lambda day, last: done.append((day, last)))
    recorder = Recorder()
    asyncio.run(sim.run(recorder))
    times = [datetime.fromisoformat(e["event_time"]) for e in recorder.sent]
    assert times == sorted(times) and times[0] >= start and times[-1] <= start + timedelta(days=3)
    assert [day for day, _ in done] == [date(2026, 11, 20), date(2026, 11, 21), date(2026, 11, 22)]
    for day, last in done:  # each day's mark carries the last step published before its midnight
        midnight = datetime.combine(day + timedelta(days=1), datetime.min.time(), TZ).timestamp()
        assert last == max(t.timestamp() for t in times if t.timestamp() < midnight)
    reported = {e["case_id"] for e in recorder.sent if e["action"] == "report"}
    assert {e["case_id"] for e in recorder.sent} == reported  # no step of a case that was never reported
    assert len(sim._heap) < 2 * 30 * 8  # a day or two of steps held, not the whole history
