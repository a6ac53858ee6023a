"""The read API against a real worker: cases published to Kafka, searched, paged and read back through HTTP, KPIs
equal to cityops.read's; and the case search's paging on real Redis (ties, the scan budget)."""

from __future__ import annotations

import asyncio
import random
from datetime import datetime, time, timedelta

import orjson
import pytest
from fastapi.testclient import TestClient

from cityops import read
from cityops.apikeys import add_client, keys_path, update_api_clients
from cityops.bus import Publisher, ensure_topics
from cityops.catalogue import get_catalogue
from cityops.read.case_search import CaseQuery, Cursor, search_cases
from cityops.schemas import CaseAction, CaseEvent, CaseSource
from cityops.settings import Settings, get_settings
from cityops.workcalendar import WorkCalendar
from doors.api.app import create_app
from fixtures.xiamen import load_city
from streams.case_projection import CaseContext, project_case_event
from tests.support.effects import apply_effects
from tests.support.workers import wait_until, worker


def make_keys(tmp_path, monkeypatch) -> tuple[Settings, dict[str, str]]:  # noqa: ANN001
    """A read key and a key of another scope, in a keys file of this test's own; the settings that name it."""
    path = tmp_path / "apikeys.json"
    monkeypatch.setenv("CITYOPS_APIKEYS_FILE", str(path))
    get_settings.cache_clear()
    settings = get_settings()
    out: dict[str, str] = {}

    def change(clients):  # noqa: ANN001, ANN202
        clients, out["read"] = add_client(clients, "province", name="省平台", source="inspection", scopes=("read",),
                                          rate_per_s=1000, burst=1000)
        clients, out["report"] = add_client(clients, "hotline", name="12345", source="hotline_12345",
                                            scopes=("open311.report",), rate_per_s=1000, burst=1000)
        return clients

    update_api_clients(keys_path(settings.city_dir, settings.apikeys_file), change)
    return settings, out


def case_steps(city, day, n: int) -> tuple[list[CaseEvent], dict[str, dict]]:  # noqa: ANN001
    """``n`` cases reported on ``day`` across three districts, two categories and two sources; every third is
    closed, the others dispatched. Returns the events and what each case is."""
    tz = city_tz()
    grids = {}
    for g in city.grids.values():
        grids.setdefault(g.district_code, g)
    districts = sorted(grids)[:3]
    department = sorted(city.departments)[0]
    events, cases = [], {}
    for i in range(n):
        grid = grids[districts[i % 3]]
        cid = f"RA{day:%Y%m%d}{i:03d}"
        t = datetime.combine(day, time(8, 0), tz) + timedelta(minutes=7 * i)
        closed = i % 3 == 0
        cases[cid] = {"district": grid.district_code, "grid": grid.code, "street": grid.street_code,
                      "category": ("E0101", "E0102")[i % 2], "source": ("citizen_app", "grid_patrol")[i % 2],
                      "state": "closed" if closed else "dispatched", "t": t}
        actions = [CaseAction.REPORT, CaseAction.REGISTER, CaseAction.DISPATCH]
        if closed:
            actions += [CaseAction.HANDLE, CaseAction.VERIFY, CaseAction.CLOSE]
        for k, action in enumerate(actions):
            extra: dict = {}
            if action is CaseAction.REPORT:
                extra = {"source": CaseSource(cases[cid]["source"]), "category_code": cases[cid]["category"],
                         "grid_id": grid.code}
            if action is CaseAction.DISPATCH:
                extra = {"department_id": department}
            events.append(CaseEvent(event_id=f"{cid}-{k}", case_id=cid, action=action,
                                    event_time=t + timedelta(minutes=k), **extra))
    return events, cases


def city_tz():  # noqa: ANN201
    return get_settings().tz


def publish_cases(settings, events: list[CaseEvent]) -> None:  # noqa: ANN001
    async def go() -> None:
        await ensure_topics(settings)
        async with Publisher(settings) as pub:
            for e in events:
                await pub.send(settings.topics.cases, e.case_id, e.model_dump_json(exclude_none=True).encode())

    asyncio.run(go())


def test_cases_kpis_and_refusals_through_the_read_api(stack_env, redis_client, tmp_path, monkeypatch):
    s, keys = make_keys(tmp_path, monkeypatch)
    city = load_city()
    today = datetime.now(s.tz).date()
    d1, d2 = today - timedelta(days=2), today - timedelta(days=1)
    e1, c1 = case_steps(city, d1, 9)
    e2, c2 = case_steps(city, d2, 6)
    cases = c1 | c2
    with worker(tmp_path / "worker.log"):
        publish_cases(s, e1 + e2)
        wait_until(lambda: all(read.case(redis_client, cid).get("state") == c["state"] for cid, c in cases.items()),
                   60, "the worker did not apply every case")
    newest_first = sorted(cases, key=lambda cid: cases[cid]["t"], reverse=True)
    auth = {"X-Api-Key": keys["read"]}
    with TestClient(create_app(s)) as api:
        def get(path: str, **params) -> dict:  # noqa: ANN003
            res = api.get(path, params=params, headers=auth)
            assert res.status_code == 200, res.text
            return res.json()

        # every case of both days, four at a time, newest first, each once
        seen, cursor = [], None
        while True:
            page = get("/api/v1/cases", **{"from": d1.isoformat(), "to": d2.isoformat(), "limit": 4},
                       **({"cursor": cursor} if cursor else {}))
            seen += [row["case_id"] for row in page["cases"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert seen == newest_first

        district = cases[newest_first[0]]["district"]
        for params, want in [
            ({"district": district}, lambda c: c["district"] == district),
            ({"district": district, "category": "E0102"}, lambda c: c["district"] == district
             and c["category"] == "E0102"),
            ({"source": "grid_patrol", "status": "final"}, lambda c: c["source"] == "grid_patrol"
             and c["state"] == "closed"),
            ({"status": "dispatched,handled"}, lambda c: c["state"] == "dispatched"),
            ({"grid": cases[newest_first[0]]["grid"]}, lambda c: c["grid"] == cases[newest_first[0]]["grid"]),
        ]:
            page = get("/api/v1/cases", **{"from": d1.isoformat(), "to": d2.isoformat(), "limit": 100}, **params)
            expected = [cid for cid in newest_first if want(cases[cid])]
            assert [row["case_id"] for row in page["cases"]] == expected, params
        only_d1 = get("/api/v1/cases", **{"from": d1.isoformat(), "to": d1.isoformat(), "limit": 100})
        assert {row["case_id"] for row in only_d1["cases"]} == set(c1)
        overdue = get("/api/v1/cases", **{"from": d1.isoformat(), "to": d2.isoformat(), "overdue": "true"})
        marked = {cid for cid in cases if read.case(redis_client, cid).get("overdue") == "1"}
        assert {row["case_id"] for row in overdue["cases"]} == {c for c in marked if cases[c]["state"] != "closed"}

        closed = next(cid for cid in newest_first if cases[cid]["state"] == "closed")
        one = get(f"/api/v1/cases/{closed}")
        assert one["case"] == read.case(redis_client, closed)
        assert [step["action"] for step in one["timeline"]] == ["report", "register", "dispatch", "handle", "verify",
                                                                "close"]

        for scope, sid in [("city", city.code), ("district", district), ("category", "E0101")]:
            day_figures = get("/api/v1/kpis", scope=scope, id=sid, **{"from": d1.isoformat(), "to": d1.isoformat()})
            expected = read.kpis(redis_client, datetime.combine(d1, time(12), s.tz), scope, sid).as_dict()
            assert day_figures["kpis"] == orjson.loads(orjson.dumps(expected)), scope
        both = get("/api/v1/kpis", **{"from": d1.isoformat(), "to": d2.isoformat()})
        assert both["id"] == city.code and both["kpis"]["counters"]["received"] == len(cases)
        assert both["kpis"]["counters"]["closed"] == sum(c["state"] == "closed" for c in cases.values())

        assert get("/api/v1/alerts")["alerts"] == [
            row for row in read.alerts_current(redis_client) if row.get("state") in ("active", "acknowledged")][:200]

        def refused(path: str, code: int, field: str | None, headers=auth, **params) -> None:  # noqa: ANN001, ANN003
            res = api.get(path, params=params, headers=headers)
            assert res.status_code == code, (path, params, res.text)
            assert res.json()["error"]["field"] == field, res.text

        refused("/api/v1/cases", 401, "api_key", headers={})
        refused("/api/v1/cases", 401, "api_key", headers={"X-Api-Key": keys["read"] + "x"})
        refused("/api/v1/cases", 403, "api_key", headers={"X-Api-Key": keys["report"]})
        refused("/api/v1/cases", 400, "from", **{"from": "2026-13-01"})
        refused("/api/v1/cases", 400, "to", **{"from": d2.isoformat(), "to": d1.isoformat()})
        refused("/api/v1/cases", 400, "limit", limit=0)
        refused("/api/v1/cases", 400, "cursor", cursor="bm90IGEgY3Vyc29y")
        refused("/api/v1/cases", 400, "district", district="999999")
        refused("/api/v1/cases", 400, "status", status="lost")
        refused("/api/v1/cases", 400, "overdue", overdue="maybe")
        refused("/api/v1/cases/NOPE-1", 404, "case_id")
        refused("/api/v1/cases/bad id", 400, "case_id")
        refused("/api/v1/kpis", 400, "scope", scope="planet")
        refused("/api/v1/kpis", 400, "id", scope="district")
        refused("/api/v1/kpis", 400, "id", scope="category", id="Z9999")
        refused("/api/v1/sensors/NOPE", 404, "sensor_id")
        refused("/api/v1/sensors/NOPE", 400, "window", window="y")


def test_search_pages_through_ties_and_stops_at_the_scan_budget(redis_client, redis_url):
    """Thirty cases reported at the very same second, paged three at a time: each once, in a fixed order; a scan
    budget smaller than the filter needs gives a short page with a cursor that continues where it stopped."""
    tz = city_tz()
    city = load_city()
    ctx = CaseContext(city, get_catalogue(), WorkCalendar.load(tz=tz), tz)
    t = datetime.combine(datetime.now(tz).date() - timedelta(days=1), time(9), tz)
    ids = [f"TIE{i:02d}" for i in range(30)]
    random.Random(3).shuffle(ids)
    effects = []
    for i, cid in enumerate(ids):
        source = CaseSource.DRONE if i % 10 == 0 else CaseSource.CITIZEN_APP
        event = CaseEvent(event_id=f"{cid}-r", case_id=cid, action=CaseAction.REPORT, event_time=t, source=source,
                          category_code="E0101")
        effects.append(project_case_event(event, None, ctx)[0])
    assert all(apply_effects(redis_url, effects))
    day = t.date()

    def pages(**kw) -> tuple[list[str], list[bool]]:  # noqa: ANN003
        budget = kw.pop("scan_budget", 5000)
        got, complete, cursor = [], [], None
        while True:
            page = search_cases(redis_client, CaseQuery(day, day, cursor=cursor, **kw), city.code, tz, budget)
            got += [row["case_id"] for row in page.cases]
            complete.append(page.complete)
            if page.next_cursor is None:
                return got, complete
            cursor = Cursor.decode(page.next_cursor)

    got, _ = pages(limit=3)
    assert got == sorted(ids, reverse=True)  # equal times: by id, descending, and no case twice or lost
    app, complete = pages(limit=5, source="citizen_app", scan_budget=4)  # the source index: 27, 4 a page
    assert app == sorted((cid for i, cid in enumerate(ids) if i % 10), reverse=True) and complete[0] is False
    none, complete = pages(limit=5, category="E0101", overdue=True, scan_budget=7)  # none match: 7 looked at a time
    assert none == [] and complete == [False] * 4 + [True]


@pytest.mark.parametrize("path", ["/api/v1/kpis", "/api/v1/alerts"])
def test_the_read_api_writes_nothing(stack_env, redis_client, tmp_path, monkeypatch, path):
    settings, keys = make_keys(tmp_path, monkeypatch)
    before = redis_client.dbsize()
    with TestClient(create_app(settings)) as api:
        assert api.get(path, headers={"X-Api-Key": keys["read"]}).status_code == 200
    assert redis_client.dbsize() == before
