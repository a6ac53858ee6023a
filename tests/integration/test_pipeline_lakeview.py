"""A second city through broker → Faust → Redis for real: with ``CITYOPS_CITY_DIR`` on the hand-written
Lakeview folder (irregular grids, R-tree lookup), cases resolve to its grids, districts and departments and
are counted under its city code; its sensor and camera are known, Xiamen's are not. The copy used has no
holidays for this year, and the worker says so when it starts. The console, on the same folder, then shows
Lakeview's districts, streets and counts, and no Xiamen name."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
from datetime import datetime

import orjson
import pytest

from cityops import keys
from cityops.bus import Publisher, ensure_topics
from cityops.city_data import load_city_data
from cityops.settings import REPO_ROOT, get_settings
from dashboard.i18n import t as label
from tests.support.console_run import deck_layer, fresh_city, rendered_text, run_page
from tests.support.workers import subprocess_env, wait_until, worker

LAKEVIEW = REPO_ROOT / "cities" / "lakeview"
XIAMEN = REPO_ROOT / "cities" / "xiamen"


@pytest.fixture
def lakeview_env(stack_env, monkeypatch, tmp_path):  # noqa: ANN001, ANN201
    folder = tmp_path / "lakeview"
    shutil.copytree(LAKEVIEW, folder)
    year = str(datetime.now(stack_env.tz).year)
    rows = (folder / "holidays.csv").read_text(encoding="utf-8").splitlines()
    (folder / "holidays.csv").write_text("\n".join(r for r in rows if not r.startswith(year)) + "\n", encoding="utf-8")
    monkeypatch.setenv("CITYOPS_CITY_DIR", str(folder))
    get_settings.cache_clear()
    yield get_settings()
    get_settings.cache_clear()


def test_cases_in_the_second_city_resolve_to_its_grids_and_are_counted(lakeview_env, redis_client, tmp_path):
    s = lakeview_env
    assert s.city_dir.name == "lakeview"
    city = load_city_data(LAKEVIEW).city
    asyncio.run(ensure_topics(s))
    t = datetime.now(s.tz).replace(microsecond=0).isoformat()
    # one point in each district, inside irregular grids (a triangle and a skewed quadrilateral)
    west, east = (120.101384, 30.2023), (120.113575, 30.2076)
    west_grid, east_grid = city.index.lookup(*west), city.index.lookup(*east)
    assert (west_grid, east_grid) == ("990101001001002", "990102001002001")

    def case(cid: str, lonlat: tuple[float, float], category: str) -> list[dict]:
        owner = load_city_data(LAKEVIEW).catalogue.get(category).owner_role
        department = city.responsible_department(owner, city.index.lookup(*lonlat))  # what the console offers
        return [
            {"event_id": f"{cid}-report", "case_id": cid, "action": "report", "event_time": t,
             "source": "citizen_app", "category_code": category, "lon": lonlat[0], "lat": lonlat[1]},
            {"event_id": f"{cid}-register", "case_id": cid, "action": "register", "event_time": t},
            {"event_id": f"{cid}-dispatch", "case_id": cid, "action": "dispatch", "event_time": t,
             "department_id": department},
        ]

    cases = case("LV1", west, "E0102") + case("LV2", east, "E0102")
    envelope = {"envelope_id": "lv-env-1", "gateway_id": "LV-GW-01", "sent_at": t, "readings": [
        {"sensor_id": "LV-NS-01", "kind": "noise", "value": 61.5, "unit": "dB(A)", "time": t},
        {"sensor_id": "NS-0001-LAEQ", "kind": "noise", "value": 61.5, "unit": "dB(A)", "time": t}]}  # Xiamen's
    capture = {"event_id": "lv-cap-1", "camera_id": "LV-CAM-01", "ai_type": "illegal_parking", "confidence": 0.9,
               "box": [1, 2, 30, 40], "frame_width": 640, "frame_height": 360, "track_id": "1", "first_seen": t,
               "last_seen": t, "dwell_s": 150.0, "evidence_ref": "LV-CAM-01/x.jpg", "detector": "test"}
    stray = capture | {"event_id": "lv-cap-2", "camera_id": "CAM-0001", "track_id": "2"}  # a Xiamen camera

    async def publish() -> None:
        async with Publisher(s) as pub:
            for e in cases + cases:  # the second copy changes nothing
                await pub.send(s.topics.cases, e["case_id"], orjson.dumps(e))
            await pub.send(s.topics.sensors, "LV-GW-01", orjson.dumps(envelope))
            await pub.send(s.topics.detections, "LV-CAM-01", orjson.dumps(capture))
            await pub.send(s.topics.detections, "CAM-0001", orjson.dumps(stray))

    day = keys.day_bucket(datetime.now(s.tz))
    city_key = keys.kpi_daily(day, "city", "990100")
    with worker(tmp_path / "worker.log"):
        log = (tmp_path / "worker.log").read_text(errors="replace")
        assert f"city 990100: holidays.csv has no entries for {datetime.now(s.tz).year}" in log
        asyncio.run(publish())
        wait_until(lambda: redis_client.hget(city_key, "dispatched") == "3"
                   and redis_client.exists(keys.sensor("LV-NS-01")), 60, "Lakeview events did not reach Redis")
    assert redis_client.hget(city_key, "received") == "3"  # two reported cases and the capture's case
    assert not redis_client.exists(keys.kpi_daily(day, "city", "350200"))
    west_case, east_case = redis_client.hgetall(keys.case("LV1")), redis_client.hgetall(keys.case("LV2"))
    assert (west_case["district"], west_case["grid"]) == ("990101", west_grid)
    assert (east_case["district"], east_case["grid"]) == ("990102", east_grid)
    assert (west_case["department"], east_case["department"]) == ("CJ-SAN", "LW-SAN")
    assert redis_client.hget(keys.kpi_daily(day, "district", "990101"), "registered") == "1"
    assert redis_client.hget(keys.kpi_daily(day, "district", "990102"), "registered") == "2"  # LV2 + the capture
    assert redis_client.hget(keys.kpi_daily(day, "department", "CJ-SAN"), "dispatched") == "1"
    ai_case = redis_client.hgetall(keys.case("AI-lv-cap-1"))
    assert ai_case["grid"] == "990102001001002" and ai_case["department"] == "LV-TRAFFIC"
    assert not redis_client.exists(keys.sensor("NS-0001-LAEQ"))
    out = subprocess.run([sys.executable, "-m", "cityops", "snapshot", "--json"], cwd=REPO_ROOT,
                         env=subprocess_env(), capture_output=True, text=True, timeout=120, check=True)
    snap = json.loads(out.stdout)
    assert snap["scope"] == {"kind": "city", "id": "990100", "name": "湖景市"}
    assert snap["kpis"]["counters"]["registered"] == 3
    assert {d["id"] for d in snap["districts"]} == {"990101", "990102"}
    with fresh_city():
        _console_shows_lakeview(datetime.now(s.tz).year)


def _xiamen_names() -> set[str]:
    """The Xiamen fixture's city, district and street names (Chinese and English)."""
    names = {"厦门", "Xiamen"}
    for layer in ("districts", "streets"):
        for feature in json.loads((XIAMEN / f"{layer}.geojson").read_text(encoding="utf-8"))["features"]:
            names |= {feature["properties"]["name_zh"], feature["properties"]["name_en"]}
    return names


def _console_shows_lakeview(year: int) -> None:
    """The big screen and the drill-down, run on the worker's read model with ``CITYOPS_CITY_DIR`` on Lakeview."""
    xiamen = _xiamen_names()
    screen = run_page("bigscreen", "leader")
    tiles = {m.label: m.value for m in screen.metric}
    assert tiles[label("kpi_received")] == "3" and tiles[label("kpi_registered")] == "3"
    assert tiles[label("kpi_captures")] == "1", "the Lakeview camera's capture; the Xiamen camera's was refused"
    ranking = screen.dataframe[0].value
    assert set(ranking[label("district")]) == {"澄江区", "澜湾区"}
    assert any(f"节假日数据缺少 {year} 年" in w.value for w in screen.warning), "this copy has no holidays this year"
    districts = [f["properties"]["title"] for f in deck_layer(screen, "districts")]
    assert set(districts) == {"澄江区", "澜湾区"}, "the map draws Lakeview's districts"
    shown = rendered_text(screen)
    assert not [n for n in xiamen if n in shown], "a Xiamen name on the Lakeview big screen"

    drill = run_page("drill", "leader")
    children = drill.dataframe[0].value
    assert dict(zip(children[label("district")], children[label("kpi_registered")], strict=True)) == \
        {"澄江区": 1, "澜湾区": 2}
    assert "湖景市" in rendered_text(drill)
    drill.selectbox(key="drill_district").select("990101").run()
    assert not drill.exception, drill.exception
    assert drill.metric[0].value == "1", "one case received in 澄江区 today"
    assert list(drill.selectbox(key="drill_street").options)[1:] == ["湖滨街道", "柳岸街道"]
    streets = drill.dataframe[0].value
    assert dict(zip(streets[label("district")], streets[label("kpi_registered")], strict=True)) == \
        {"湖滨街道": 1, "柳岸街道": 0}, "the case at the triangle grid is 湖滨街道's"
    shown = rendered_text(drill)
    assert not [n for n in xiamen if n in shown], "a Xiamen name in the Lakeview drill-down"
