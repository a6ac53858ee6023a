"""Open cases with no step for ``CITYOPS_STALE_CASE_DAYS`` are expired from every live set and counted."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from cityops import keys
from cityops.schemas import CaseAction, CaseEvent, CaseSource
from cityops.settings import get_settings
from streams import runtime
from streams.case_projection import REVIVED_RETENTION_S, CaseView, overdue_scopes, project_case_event
from streams.effects import EffectWriter

NOW = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)  # event times may not lie ahead
TZ = ZoneInfo("Asia/Shanghai")
TODAY = keys.day_bucket(NOW.astimezone(TZ))
LATER = keys.day_bucket((NOW + timedelta(days=2)).astimezone(TZ))
OLD = NOW - timedelta(days=401)
RECENT = NOW - timedelta(days=399)
LON, LAT = 118.0894, 24.4798


def _event(case_id: str, action: CaseAction, t: datetime, n: int = 0, **kw) -> CaseEvent:
    return CaseEvent(event_id=f"{case_id}-{action.value}-{n}", case_id=case_id, action=action, event_time=t, **kw)


def _report(case_id: str, t: datetime) -> CaseEvent:
    return _event(case_id, CaseAction.REPORT, t, source=CaseSource.CITIZEN_APP, category_code="E0101",
                  lon=LON, lat=LAT, address="中华街道", description="占道")


# ----------------------------------------------------------------------------------- pure parts


def test_every_open_step_indexes_the_case_by_its_latest_step_and_a_final_one_removes_it() -> None:
    ctx = runtime.case_context()
    eff, view = project_case_event(_report("S1", OLD - timedelta(minutes=10)), None, ctx)
    assert ("ZADD", keys.open_cases_by_step(), repr((OLD - timedelta(minutes=10)).timestamp()), "S1", "") in eff.ops
    eff, view = project_case_event(_event("S1", CaseAction.ACCEPT, OLD), view, ctx)
    assert ("ZADD", keys.open_cases_by_step(), repr(OLD.timestamp()), "S1", "") in eff.ops
    eff, view = project_case_event(_event("S1", CaseAction.REGISTER, OLD - timedelta(minutes=5)), view, ctx)
    assert ("ZADD", keys.open_cases_by_step(), repr(OLD.timestamp()), "S1", "") in eff.ops, "a late step does not"
    assert "expired" not in view.as_hash(), "no field for a case that never expired (memory per case)"
    eff, view = project_case_event(_event("S1", CaseAction.VOID, OLD + timedelta(hours=1)), view, ctx)
    assert ("ZREM", keys.open_cases_by_step(), "S1", "", "") in eff.ops
    assert not [op for op in eff.ops if op[0] == "ZADD" and op[1] == keys.open_cases_by_step()]


def test_a_step_after_expiry_revives_the_case() -> None:
    from streams.agents.stale_cases import is_stale

    ctx = runtime.case_context()
    _, view = project_case_event(_report("S2", OLD), None, ctx)
    assert is_stale(view, NOW.timestamp() - 400 * keys.DAY) and not is_stale(view, OLD.timestamp() - 1)
    view.expired = 1
    assert not is_stale(view, NOW.timestamp())
    eff, view = project_case_event(_event("S2", CaseAction.REGISTER, NOW), view, ctx)
    assert ("HSET", keys.case("S2"), "expired", "0", "") in eff.ops and view.expired == 0
    assert ("EXPIRE", keys.case("S2"), str(REVIVED_RETENTION_S), "", "") in eff.ops


def test_the_setting_is_checked(monkeypatch) -> None:
    from streams.agents.stale_cases import stale_case_days

    assert stale_case_days() == 400
    monkeypatch.setenv("CITYOPS_STALE_CASE_DAYS", "30")
    assert stale_case_days() == 30
    for bad in ("0", "-1", "5000", "soon"):
        monkeypatch.setenv("CITYOPS_STALE_CASE_DAYS", bad)
        with pytest.raises(ValueError, match="CITYOPS_STALE_CASE_DAYS"):
            stale_case_days()


# ----------------------------------------------------------------------------------- the timer on Redis


@pytest.fixture
def on_redis(redis_url, redis_client, monkeypatch):
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.delenv("CITYOPS_STALE_CASE_DAYS", raising=False)
    get_settings.cache_clear()
    monkeypatch.setattr(runtime, "_redis", None)  # a client on this test's event loop
    monkeypatch.setattr(runtime, "_writer", None)
    yield redis_client
    get_settings.cache_clear()


def _run(coro_fn):  # noqa: ANN001, ANN202
    async def go():  # noqa: ANN202
        try:
            return await coro_fn()
        finally:
            await runtime.redis().aclose()

    return asyncio.run(go())


def _apply(events: list[CaseEvent], views: dict[str, CaseView]) -> None:
    async def go() -> None:
        writer = EffectWriter(runtime.redis(), 3600)
        for event in events:
            eff, views[event.case_id] = project_case_event(event, views.get(event.case_id), runtime.case_context())
            assert await writer.apply([eff]) == [True]

    _run(go)


def test_the_timer_expires_silent_cases_from_every_live_set_once_and_counts_them(on_redis) -> None:
    from streams.agents import sla_timer, stale_cases

    r = on_redis
    views: dict[str, CaseView] = {}
    _apply([_report("OLD-1", OLD), _report("NEW-1", RECENT)], views)
    assert _run(lambda: sla_timer.mark_expired(NOW.timestamp())) == 2, "both clocks ran out long ago"
    # overdue in 立案: the command centre's delay, in the city's and the centre's sets (not the district's)
    overdue_sets = [keys.overdue(s, i) for s, i in overdue_scopes(views["OLD-1"], "350200", "register")]
    assert keys.overdue("centre", "350200") in overdue_sets
    assert all(r.zscore(k, "OLD-1") is not None for k in overdue_sets)
    assert r.zscore(keys.active_alerts(), stale_cases.expiry_plan(views["OLD-1"], "350200", "x")[2]) is not None

    assert _run(lambda: stale_cases.expire_stale(NOW.timestamp())) == 1
    for key in (keys.sla_clock(), keys.open_cases(), keys.open_cases_by_step(), *overdue_sets):
        assert r.zscore(key, "OLD-1") is None, key
        assert key == keys.sla_clock() or r.zscore(key, "NEW-1") is not None, f"the recent case stays in {key}"
    _, _, alert = stale_cases.expiry_plan(views["OLD-1"], "350200", "x")
    assert r.zscore(keys.active_alerts(), alert) is None and r.hget(keys.alert(alert), "state") == "cleared"
    case = r.hgetall(keys.case("OLD-1"))
    assert case["state"] == "reported" and case["expired"] == "1"
    assert case["expired_at"].startswith(NOW.astimezone(TZ).date().isoformat())
    assert 0 < r.ttl(keys.case("OLD-1")) <= 400 * keys.DAY and 0 < r.ttl(keys.case_timeline("OLD-1"))
    assert r.ttl(keys.case("NEW-1")) == -1
    day = keys.kpi_daily(TODAY, "city", "350200")
    assert r.hget(day, "expired") == "1" and r.hget(keys.kpi_daily(TODAY, "district", "350203"), "expired") == "1"

    assert _run(lambda: stale_cases.expire_stale(NOW.timestamp())) == 0, "never twice"
    assert _run(lambda: stale_cases.expire_stale((NOW + timedelta(days=2)).timestamp())) == 1, "the other, later"
    assert r.hget(day, "expired") == "1" and r.hget(keys.kpi_daily(LATER, "city", "350200"), "expired") == "1"

    views["OLD-1"] = CaseView.from_hash("OLD-1", r.hgetall(keys.case("OLD-1")))  # as the case agent reads it
    _apply([_event("OLD-1", CaseAction.REGISTER, NOW)], views)  # a late step revives the case
    assert r.hget(keys.case("OLD-1"), "expired") == "0" and r.zscore(keys.open_cases_by_step(), "OLD-1")
    assert r.ttl(keys.case("OLD-1")) > 3000 * keys.DAY


def test_a_bad_member_is_skipped_and_the_rest_expire(on_redis) -> None:
    """A member whose keys hold the wrong type (or whose hash is gone) is logged and dropped from the index;
    the timer goes on with the next cases."""
    from streams.agents import stale_cases

    r = on_redis
    views: dict[str, CaseView] = {}
    _apply([_report("BAD-1", OLD - timedelta(days=2)), _report("GONE-1", OLD - timedelta(days=1)),
            _report("OK-1", OLD)], views)
    r.delete(keys.case_timeline("BAD-1"))
    r.set(keys.case_timeline("BAD-1"), "not a list")
    r.delete(keys.case("GONE-1"))
    assert _run(lambda: stale_cases.expire_stale(NOW.timestamp())) == 1
    assert r.zcard(keys.open_cases_by_step()) == 0
    assert r.hget(keys.case("OK-1"), "expired") == "1" and r.hget(keys.case("BAD-1"), "expired") is None
    assert r.hget(keys.kpi_daily(TODAY, "city", "350200"), "expired") == "1"
