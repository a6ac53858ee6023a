"""Broker → worker → Redis for real with the two kinds added as data: a city folder that lists gas-pressure and
drain-level sensors (the simulator's profiles), readings below and above their limits, alerts and cases; then the
duty console lists the alerts under the kinds' Chinese labels and the big screen's map draws those sensors."""

from __future__ import annotations

import asyncio
import shutil
from datetime import datetime, timedelta

import orjson

from cityops import keys, sensor_kinds
from cityops.bus import Publisher, ensure_topics
from cityops.city_data import load_city_data
from cityops.devices import Sensor
from cityops.settings import get_settings
from dashboard import map_layers
from dashboard.i18n import t as label
from fixtures.simulator.profiles import add_to_folder, profile_sensors
from tests.support.console_run import deck_layer, fresh_city, run_page
from tests.support.workers import wait_until, worker


def test_gas_pressure_and_drain_level_raise_alerts_and_open_cases(stack_env, redis_client, tmp_path, monkeypatch):
    folder = tmp_path / "city"
    shutil.copytree(stack_env.city_dir, folder)
    city = load_city_data(folder).city
    added = profile_sensors(city)
    add_to_folder(folder, added, city)
    monkeypatch.setenv("CITYOPS_CITY_DIR", str(folder))
    get_settings.cache_clear()
    s = get_settings()
    assert {x.id for x in added} <= {x.id for x in load_city_data(folder).sensors}
    asyncio.run(ensure_topics(s))
    gas, water = next(x for x in added if x.kind == "gas_pressure"), next(x for x in added if x.kind == "water_level")
    start = datetime.now(s.tz).replace(second=0, microsecond=0) - timedelta(minutes=20)

    async def send() -> None:
        async with Publisher(s) as pub:
            for minute in range(10):
                t = (start + timedelta(minutes=minute)).isoformat()
                for sensor, value in ((gas, 0.8), (water, 93.5)):  # gas below 1.5 kPa, the drain above 80 %
                    env = {"envelope_id": f"{sensor.id}-{minute}", "gateway_id": sensor.gateway_id, "sent_at": t,
                           "readings": [{"sensor_id": sensor.id, "kind": sensor.kind, "value": value,
                                         "unit": sensor.unit, "time": t}]}
                    await pub.send(s.topics.sensors, sensor.gateway_id, orjson.dumps(env))

    with worker(tmp_path / "worker.log"):
        asyncio.run(send())
        for sensor in (gas, water):
            case_key = keys.case(f"IOT-{sensor.id}-1")
            wait_until(lambda case_key=case_key: redis_client.hget(case_key, "state") == "dispatched", 60,
                       f"no IoT case for {sensor.id}")
    gas_alert = redis_client.hgetall(keys.alert(f"sensor:{gas.id}:1"))
    water_alert = redis_client.hgetall(keys.alert(f"sensor:{water.id}:1"))
    assert gas_alert["type"] == "gas_pressure_exceedance" and gas_alert["severity"] == "critical"
    assert float(gas_alert["limit"]) == 1.5 and gas_alert["state"] == "active"
    assert water_alert["type"] == "water_level_exceedance" and float(water_alert["limit"]) == 80.0
    assert redis_client.hget(keys.case(f"IOT-{gas.id}-1"), "category") == "E0403"
    assert redis_client.hget(keys.case(f"IOT-{water.id}-1"), "category") == "E0406"
    assert redis_client.hget(keys.case(f"IOT-{gas.id}-1"), "source") == "iot_sensor"
    assert redis_client.hget(keys.sensor(gas.id), "unit") == "kPa"
    hour = redis_client.hgetall(keys.sensor_window("h", water.id, keys.day_bucket(start)))
    assert sum(int(v) for k, v in hour.items() if k.endswith(":n")) == 10
    with fresh_city():
        _console_shows_the_new_kinds(gas, water)


def _console_shows_the_new_kinds(gas: Sensor, water: Sensor) -> None:
    """The duty console and the big screen, run on the worker's read model with the folder that lists them."""
    duty = run_page("duty", "duty")
    feed = duty.dataframe[0].value
    rows = {case: row for case, row in zip(feed[label("case_id")], feed.to_dict("records"), strict=True)}
    gas_row, water_row = rows[f"IOT-{gas.id}-1"], rows[f"IOT-{water.id}-1"]
    assert (gas_row[label("type")], gas_row[label("severity")]) == ("燃气压力异常", "紧急")
    assert (water_row[label("type")], water_row[label("severity")]) == ("管网液位超限", "重要")
    assert "1.5" in gas_row[label("detail")] and "kPa" in gas_row[label("detail")]
    assert "80" in water_row[label("detail")] and "%" in water_row[label("detail")]
    assert any("新的紧急告警" in e.value and "燃气压力异常" in e.value for e in duty.error), "critical: a banner"
    duty.selectbox(key="f_type").select("water_level_exceedance").run()
    assert not duty.exception, duty.exception
    assert set(duty.dataframe[0].value[label("type")]) == {"管网液位超限"}, "the kind is a filter of its own"

    screen = run_page("bigscreen", "leader")
    assert {m.label: m.value for m in screen.metric}[label("kpi_sensors_alarm")] == "2"
    points = deck_layer(screen, "points")
    drawn = {p["detail"].split(" · ")[1]: p for p in points if p["status"] == "alarm"}
    assert drawn.keys() == {gas.id, water.id}, "both in alarm"
    assert drawn[gas.id]["r"] > map_layers.POINT_RADIUS_PX["normal"], "drawn larger than quiet sensors"
    assert drawn[gas.id]["detail"].startswith("燃气管网压力 · ") and drawn[gas.id]["p"] == [gas.lon, gas.lat]
    assert drawn[water.id]["detail"].startswith("排水管网液位 · ") and drawn[water.id]["p"] == [water.lon, water.lat]
    specs = sensor_kinds.kinds()
    assert drawn[gas.id]["k"] == list(specs["gas_pressure"].colour), "outlined in the kind's colour from its spec"
    quiet = {p["detail"].split(" · ")[1] for p in points if p["status"] in ("normal", "offline")}
    assert not quiet & {gas.id, water.id}
