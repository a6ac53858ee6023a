"""The console's view models, map layers, evidence thumbnails and read functions, without a browser."""

from __future__ import annotations

import json
import math
import re
from datetime import datetime, timedelta
from pathlib import Path

import orjson
import pydeck as pdk
import pytest
from PIL import Image

from cityops import keys, read
from cityops.catalogue import get_catalogue
from cityops.metrics import Counters, Kpis, OverdueGauge, Ranked, Rates
from cityops.settings import get_settings
from dashboard import evidence, map_layers
from dashboard.views import bigscreen, common, drill, duty
from dashboard.views import tiles as tile_views
from fixtures.xiamen import load_city, load_sensors

TZ = get_settings().tz


def test_md_escape_defuses_markup_links_images_and_directives():
    nasty = '<script>alert(1)</script> ![x](http://evil/x.png) [a](javascript:1) :red[x] **b** $x$ `c`\nnext'
    out = common.md_escape(nasty)
    assert re.search(r"(?<!\\)[<>\[\]()*`$:!]", out) is None, "every special character is backslash-escaped"
    assert "\n" not in out
    assert out.replace("\\", "") == nasty.replace("\n", " ")


def test_countdown_and_formats():
    assert common.fmt_countdown(3909) == "1:05:09"
    assert common.fmt_countdown(-190) == "-0:03:10"
    assert common.pct(None) == "—" and common.pct(0.9876) == "98.8%"
    assert common.fmt_int(1234.4) == "1,234"


def test_kpi_tiles_compare_with_the_same_time_yesterday():
    today = Kpis.of(Counters({"received": 120, "registered": 100, "closed": 80}).with_gauge(OverdueGauge(20, 20.0)),
                    {"reg": 100, "due": 100, "closed": 80, "on_time": 70})
    assert (today.rates.closure_rate, today.rates.on_time_rate) == (0.8, 0.7)
    before = Kpis.of(Counters({"received": 100.0, "registered": 90.0, "closed": 60.0}).with_gauge(today.overdue),
                     {"reg": 90, "due": 80, "closed": 60, "on_time": 60})
    tiles = {t.key: t for t in tile_views.kpi_tiles(today, before, sensors_alarm=3, captures_today=7,
                                               captures_delta=-2)}
    assert len(tiles) == 8
    assert tiles["kpi_received"].value == "120" and tiles["kpi_received"].delta == "+20"
    assert tiles["kpi_closed"].delta == "+20"
    # yesterday's cohort: 60 closed of 80 due = 75 % → today 80 % is +5 pp
    assert tiles["kpi_closure_rate"].delta == "+5.0 pp"
    assert tiles["kpi_overdue_open"].delta is None and tiles["kpi_overdue_open"].delta_color == "inverse"
    assert tiles["kpi_sensors_alarm"].value == "3"
    assert tiles["kpi_captures"].delta == "-2"
    english = tile_views.kpi_tiles(today, before, 0, 0, None, lang="en")
    assert english[0].label == "Received today" and english[-1].delta is None


def test_hourly_frame_leaves_future_hours_empty():
    today = list(range(24))
    yesterday = [2 * h for h in range(24)]
    frame = bigscreen.hourly_frame(today, yesterday, datetime(2026, 11, 25, 9, 30, tzinfo=TZ))
    assert frame.loc["09", "今日"] == 9 and math.isnan(frame.loc["10", "今日"])
    assert frame.loc["23", "昨日"] == 46


def test_top_categories_and_ranking_frame():
    cat = get_catalogue()
    codes = [c.code for c in cat][:3]
    top = bigscreen.top_categories({codes[0]: 5, codes[1]: 9, codes[2]: 0}, cat, n=5)
    assert list(top["数量"]) == [9, 5]
    city = load_city()
    rates = Rates(100, 0.99, None, None, None, None)
    kpis = Kpis(Counters({"closed": 99}), Counters({"due": 100, "closed": 99}), rates, rates, None, 97.25)
    frame = bigscreen.ranking_frame([Ranked(1, "350203", kpis)], city)
    assert frame.iloc[0]["区"] == "思明区" and frame.iloc[0]["按期结案率"] == "—"


def test_alert_rows_filters_and_new_critical():
    city = load_city()
    alerts = [
        {"id": "sla:A:handle:1", "type": "sla_overdue", "severity": "critical", "state": "active", "case_id": "A",
         "district": "350203", "stage": "handle", "at": 1_700_000_000.0, "has_hash": True},
        {"id": "capture:c1", "type": "ai_capture", "severity": "minor", "state": "acknowledged", "case_id": "AI-c1",
         "grid": next(g for g in city.grids.values() if g.district_code == "350206").code, "camera_id": "CAM-1",
         "ai_type": "illegal_parking",
         "at": "2026-11-25T10:00:00+08:00", "has_hash": False},
    ]
    rows = duty.alert_rows(alerts, city, TZ)
    assert rows[0]["severity_label"] == "紧急" and rows[0]["district_label"] == "思明区"
    assert rows[0]["target"] == ("alert", "sla:A:handle:1")
    assert rows[1]["target"] == ("case", "AI-c1"), "alerts without a state hash are acted on through their case"
    assert rows[1]["district"] == city.grids[alerts[1]["grid"]].district_code
    assert [r["id"] for r in duty.filter_rows(rows, severity="critical")] == ["sla:A:handle:1"]
    assert duty.filter_rows(rows, district="350203", kind="ai_capture") == []
    assert [r["id"] for r in duty.filter_rows(rows, status="acknowledged")] == ["capture:c1"]
    assert [r["id"] for r in duty.new_critical(rows, set())] == ["sla:A:handle:1"]
    assert duty.new_critical(rows, {"sla:A:handle:1"}) == []
    # the stage of an overdue case reads as its Chinese name, never the code (issue 17 point 7)
    assert rows[0]["detail"] == "A · 处置"
    assert duty.alert_rows(alerts, city, TZ, "en")[0]["detail"] == "A · handle"


def test_countdown_rows_name_the_stage_in_chinese():
    city, cat = load_city(), get_catalogue()
    due = [{"case_id": "B", "due_ts": "1700003600", "stage": "dispatch", "district": "350203",
            "category": next(iter(cat)).code}]
    assert [d["stage"] for d in duty.due_rows(due, 1_700_000_000.0, city, cat)] == ["派遣"]


def test_every_case_state_and_stage_has_a_chinese_label():
    from cityops.case_states import STATE_ZH
    from dashboard import i18n
    from streams.sla import STAGE_OF_STATE

    assert set(STATE_ZH) <= set(i18n.CASE_STATE), "a state would show as its code (e.g. parked)"
    assert set(STAGE_OF_STATE.values()) <= set(i18n.STAGE)


def test_children_of_walks_the_hierarchy():
    city = load_city()
    level, districts = drill.children_of(city, "city", city.code)
    assert level == "district" and len(districts) == 6
    level, streets = drill.children_of(city, "district", "350203")
    assert level == "street" and streets and all(s.startswith("350203") for s in streets)
    level, communities = drill.children_of(city, "street", streets[0])
    level, grids = drill.children_of(city, "community", communities[0])
    assert level == "grid" and grids
    assert drill.children_of(city, "grid", grids[0]) == ("", [])


def test_map_has_no_base_map_and_tooltips_are_text():
    city = load_city()
    sensors = load_sensors()[:3]
    states = {sensors[0].id: {"phase": "active", "value": "80", "metric": "laeq", "unit": "dB(A)"},
              sensors[1].id: {"phase": "normal", "offline": "1"}}
    points = map_layers.sensor_points(sensors, states)
    assert {p["status"] for p in points} == {"alarm", "offline"} and len(points) == 2, "unknown sensors left off"
    cams = map_layers.camera_points([{"camera_id": "C1", "lon": 118.1, "lat": 24.5, "camera_name": "<img onerror=x>"},
                                     {"camera_id": "C1", "lon": 118.2, "lat": 24.6}])
    assert len(cams) == 1 and cams[0]["title"] == "<img onerror=x>"
    drawn = map_layers.point_layer(points, cams).data
    assert [p["status"] for p in drawn] == ["offline", "camera", "alarm"], "alarms drawn last, on top"
    assert drawn[2]["r"] > drawn[0]["r"], "and larger"
    units = json.loads(map_layers.point_layer(points, cams).to_json())
    assert (units["radiusUnits"], units["lineWidthUnits"]) == ("pixels", "pixels"), "words, not deck.gl code"
    deck = map_layers.deck([map_layers.district_layer(city), map_layers.point_layer(points, cams),
                            map_layers.hotspot_layer([(118.1, 24.5)])],
                           map_layers.view_of((118.0, 24.4, 118.2, 24.6)))
    spec = json.loads(deck.to_json())
    assert spec["mapStyle"] == map_layers.NO_BASE_MAP and spec.get("mapProvider") is None
    tooltip = deck._tooltip  # what st.pydeck_chart sends as the tooltip
    assert "html" not in tooltip and "{title}" in tooltip["text"]
    assert "cartocdn" not in deck.to_json() and "mapbox" not in deck.to_json()


def test_map_spec_is_pydecks_own_without_the_indentation():
    """The spec sent on every refresh is the one pydeck would send, only smaller."""
    city = load_city()
    deck = map_layers.deck([map_layers.district_layer(city), map_layers.hotspot_layer([(118.1, 24.5)] * 50)],
                           map_layers.view_of((118.0, 24.4, 118.2, 24.6)))
    compact, pydecks = deck.to_json(), pdk.Deck.to_json(deck)
    assert json.loads(compact) == json.loads(pydecks)
    assert len(compact) < 0.7 * len(pydecks) and "\n" not in compact


def test_view_fits_bounds():
    small = map_layers.view_of((118.08, 24.47, 118.10, 24.49), 800, 600)
    large = map_layers.view_of((117.8, 24.4, 118.5, 24.95), 800, 600)
    assert small.zoom > large.zoom + 4
    assert 9 < large.zoom < 11


def test_evidence_paths_stay_inside_the_store_and_boxes_are_drawn(tmp_path: Path):
    store = tmp_path / "evidence"
    (store / "cam").mkdir(parents=True)
    Image.new("RGB", (640, 360), (0, 0, 0)).save(store / "cam" / "f.jpg")
    (tmp_path / "secret.jpg").write_bytes(b"x")
    assert evidence.resolve(store, "cam/f.jpg") == (store / "cam" / "f.jpg").resolve()
    assert evidence.resolve(store, "../secret.jpg") is None
    assert evidence.resolve(store, "/etc/passwd") is None
    assert evidence.resolve(store, "cam/missing.jpg") is None
    import io

    thumb = Image.open(io.BytesIO(evidence.thumbnail(store / "cam" / "f.jpg", [64, 36, 320, 180], (640, 360), 320)))
    assert thumb.size == (320, 180)
    r, g, b = thumb.getpixel((32, 60))  # on the box's left edge (scaled by 1/2)
    assert r > 150 and g < 120, "the capture box is drawn in red"
    assert thumb.getpixel((100, 60))[0] < 60, "inside the box stays the image"


# ------------------------------------------------------------------------------ read functions


def test_counters_until_prorates_the_running_hour(redis_client):
    at = datetime(2026, 11, 24, 10, 30, tzinfo=TZ)
    for h, n in ((8, 10), (9, 20), (10, 40), (11, 1000)):
        redis_client.hset(keys.kpi_hourly(f"20261124{h:02d}", "city", "350200"), "received", n)
    got = read.counters_until(redis_client, at, "city", "350200")
    assert got["received"] == pytest.approx(10 + 20 + 40 * 0.5)


def test_alerts_current_merges_the_feed_and_state(redis_client):
    feed = [{"id": "sensor:S1:1", "type": "noise_exceedance", "severity": "major", "state": "active",
             "sensor_id": "S1", "case_id": "IOT-S1-1", "since": "2026-11-25T10:00:00+08:00"},
            {"id": "capture:c9", "type": "ai_capture", "severity": "minor", "state": "active", "case_id": "AI-c9",
             "at": "2026-11-25T10:01:00+08:00"},
            {"id": "command:x", "type": "command", "severity": "info", "state": "done"},
            {"id": "sensor:S1:1", "type": "noise_cleared", "severity": "info", "state": "cleared", "sensor_id": "S1",
             "at": "2026-11-25T10:20:00+08:00"}]
    for entry in feed:
        redis_client.xadd(keys.alerts(), {"json": orjson.dumps(entry).decode()})
    redis_client.hset(keys.alert("sensor:S1:1"), mapping={"state": "cleared", "severity": "major"})
    redis_client.hset(keys.case("AI-c9"), mapping={"state": "dispatched", "acknowledged": "1",
                                                   "acknowledged_by": "张三(zs)", "district": "350206"})
    rows = read.alerts_current(redis_client, 50)
    assert [r["id"] for r in rows] == ["sensor:S1:1", "capture:c9"], "one row per alert, newest entry first"
    sensor, capture = rows
    assert sensor["type"] == "noise_exceedance" and sensor["state"] == "cleared" and sensor["has_hash"]
    assert sensor["at"] == datetime.fromisoformat("2026-11-25T10:00:00+08:00").timestamp(), \
        "raised when the raising entry says (an older entry's since), not when it cleared"
    assert capture["at"] == datetime.fromisoformat("2026-11-25T10:01:00+08:00").timestamp()
    assert capture["state"] == "acknowledged" and capture["acknowledged_by"] == "张三(zs)"
    assert capture["district"] == "350206" and not capture["has_hash"]


def test_a_flood_of_newer_alerts_does_not_hide_an_open_one(redis_client):
    """Hundreds of sensors going offline at once must not push an overdue case off the duty console."""
    overdue = {"id": "sla:C1:dispatch:1764400000", "type": "sla_overdue", "severity": "critical", "state": "active",
               "case_id": "C1", "stage": "dispatch", "at": 1764400000}
    redis_client.xadd(keys.alerts(), {"json": orjson.dumps(overdue).decode()})
    redis_client.hset(keys.alert(overdue["id"]), mapping={k: overdue[k] for k in ("id", "type", "severity", "state",
                                                                                  "case_id", "stage")})
    redis_client.zadd(keys.active_alerts(), {overdue["id"]: 1764400000})
    redis_client.zadd(keys.active_alerts(), {"sensor:S9:1": 1764300000})  # active, but its hash has expired
    redis_client.hset(keys.case("C1"), mapping={"state": "registered", "district": "350203"})
    for i in range(30):
        offline = {"id": f"offline:S{i}:1764400100", "type": "device_offline", "severity": "minor",
                   "state": "active", "sensor_id": f"S{i}"}
        redis_client.xadd(keys.alerts(), {"json": orjson.dumps(offline).decode()})
        redis_client.hset(keys.alert(offline["id"]), mapping=offline)
        redis_client.zadd(keys.active_alerts(), {offline["id"]: 1764400100})
    rows = read.alerts_current(redis_client, 10)
    ids = [r["id"] for r in rows]
    assert len([i for i in ids if i.startswith("offline:")]) == 10, "the window holds the 10 newest entries"
    assert overdue["id"] in ids, "the open overdue alert raised before them is still listed"
    assert "sensor:S9:1" not in ids, "an active alert whose hash has expired has nothing to show"
    row = next(r for r in rows if r["id"] == overdue["id"])
    assert row["severity"] == "critical" and row["state"] == "active" and row["feed_ts"] == 1764400000
    assert row["district"] == "350203", "filled from its case, as for rows from the feed"
    assert ids.index(overdue["id"]) > ids.index("offline:S29:1764400100"), "older, so listed after them"
    assert read.alerts_current(redis_client, 10, active_beyond=0)[-1]["id"].startswith("offline:")


def test_sensor_overview_agrees_with_sensor_states(redis_client):
    now = datetime.now(TZ).timestamp()
    redis_client.zadd(keys.sensors_index(), {"S1": now, "S2": now, "S3": now})
    redis_client.hset(keys.sensor("S1"), mapping={"kind": "noise", "value": "88", "metric": "laeq", "unit": "dB(A)",
                                                  "phase": "active"})
    redis_client.hset(keys.sensor("S2"), mapping={"kind": "smoke", "value": "1", "offline": "1", "phase": "normal"})
    redis_client.hset(keys.sensor("S3"), mapping={"kind": "dust", "value": "40", "phase": "normal"})
    redis_client.zadd(keys.active_alerts(), {"sensor:S1:3": now, "offline:S2:1700000000": now, "sla:C9:handle:1": now,
                                             "sensor:GONE:1": now, "sensor:S3:1": now})
    for alert_id, fields in {"sensor:S1:3": {"type": "noise_exceedance", "sensor_id": "S1"},
                             "offline:S2:1700000000": {"type": "device_offline", "sensor_id": "S2"},
                             "sla:C9:handle:1": {"type": "sla_overdue", "case_id": "C9"},
                             "sensor:GONE:1": {"type": "dust_exceedance", "sensor_id": "GONE"}}.items():
        redis_client.hset(keys.alert(alert_id), mapping=fields)  # sensor:S3:1 has none (expired): not in alarm
    overview = read.sensor_overview(redis_client)
    assert overview == {"S1": {"phase": "active", "value": "88", "metric": "laeq", "unit": "dB(A)"},
                        "S2": {"offline": "1"}, "S3": {"phase": "normal"}}
    states = read.sensor_states(redis_client)
    assert {k: map_layers.sensor_status(v) for k, v in overview.items()} == \
           {k: map_layers.sensor_status(v) for k, v in states.items()}
    assert tile_views.sensors_in_alarm(overview) == tile_views.sensors_in_alarm(states) == 1


def test_open_case_lonlat_decodes_geohash_scores_like_geopos(redis_client):
    import numpy as np

    points = [(118.0894, 24.4798), (118.13, 24.505), (117.9, 24.7), (118.3, 24.6)]
    for i, (lon, lat) in enumerate(points):
        redis_client.geoadd(keys.open_cases(), (lon, lat, f"C{i}"))
    got = read.open_case_lonlat(redis_client)
    want = np.array([[lon, lat] for _, lon, lat in read.open_case_positions(redis_client)])
    assert got.shape == (4, 2) and np.abs(got - want).max() < 1e-9
    assert np.abs(np.sort(got, axis=0) - np.sort(np.array(points), axis=0)).max() < 1e-5
    redis_client.delete(keys.open_cases())
    assert read.open_case_lonlat(redis_client).shape == (0, 2)


def test_hotspots_come_from_the_workers_snapshot_while_there_is_one(redis_client):
    import numpy as np

    from tests.support.console_seed import snapshot_hotspots

    for i, (lon, lat) in enumerate([(118.0894, 24.4798), (118.13, 24.505), (117.9, 24.7)]):
        redis_client.geoadd(keys.open_cases(), (lon, lat, f"C{i}"))
    built_here = read.open_case_lonlat(redis_client)  # no snapshot yet: built on the spot
    assert snapshot_hotspots(redis_client) == 3 and 0 < redis_client.ttl(keys.open_cases_snapshot()) <= 30
    assert np.array_equal(read.open_case_lonlat(redis_client), built_here)
    redis_client.zrem(keys.open_cases(), "C0")  # a case closes: the screens see it at the next refresh
    assert read.open_case_lonlat(redis_client).shape == (3, 2)
    assert read.open_case_lonlat(redis_client, limit=2).shape == (2, 2)
    snapshot_hotspots(redis_client)
    assert read.open_case_lonlat(redis_client).shape == (2, 2)
    redis_client.zrem(keys.open_cases(), "C1")
    redis_client.delete(keys.open_cases_snapshot())  # expired: no worker refreshed it
    assert read.open_case_lonlat(redis_client).shape == (1, 2)


def test_sla_due_and_sensor_states(redis_client):
    now = datetime.now(TZ).timestamp()
    redis_client.zadd(keys.sla_clock(), {"C1": now + 600, "C2": now + 99_999, "C3": now - 5})
    redis_client.hset(keys.case("C1"), mapping={"stage": "handle", "district": "350203"})
    due = read.sla_due(redis_client, now, 3600)
    assert [d["case_id"] for d in due] == ["C1"] and due[0]["due_ts"] == pytest.approx(now + 600)
    redis_client.zadd(keys.sensors_index(), {"S1": now, "S2": now})
    redis_client.hset(keys.sensor("S1"), mapping={"kind": "noise", "value": "71", "phase": "active"})
    states = read.sensor_states(redis_client)
    assert set(states) == {"S1"} and states["S1"]["phase"] == "active"
    assert read.sensor_states(redis_client, fields=("value", "phase")) == {"S1": {"value": "71", "phase": "active"}}
    assert tile_views.sensors_in_alarm(states) == 1
    assert read.audit_trail(redis_client) == []
    redis_client.xadd(keys.audit(), {"json": orjson.dumps({"user": "u", "action": "acknowledge"}).decode()})
    assert read.audit_trail(redis_client)[0]["user"] == "u"
    assert (datetime.now(TZ) - timedelta(days=1)) < datetime.now(TZ)


def test_alert_type_labels_are_the_stored_types_with_each_sensor_kinds_own_label():
    """The duty console's type filter and labels list what the writers store (cityops/alerts.py), one exceedance
    type per sensor kind labelled by its spec, so a new kind needs no second list."""
    from cityops import alerts, sensor_kinds
    from dashboard.i18n import ALERT_TYPE, SEVERITY, STATUS, label

    stored = [k for k in ALERT_TYPE if k != "sla_due"]  # sla_due: the countdown rows, not a stored alert
    assert all(alerts.kind_of_type(k) for k in stored)
    for kind, spec in sensor_kinds.kinds().items():
        assert label(ALERT_TYPE, alerts.exceedance_type(kind), "zh") == spec.alert_zh
    assert label(ALERT_TYPE, "sla_overdue", "zh") == "案件超期"
    assert label(ALERT_TYPE, "ai_capture", "en") == "AI capture"
    assert set(SEVERITY) == {s.value for s in alerts.Severity}
    assert set(STATUS) == {s.value for s in alerts.AlertState} - {alerts.AlertState.DONE.value}
