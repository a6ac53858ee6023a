"""Readings of unregistered devices through the sensor agent's batch on a real Redis: counted per gateway with
their dead letters, once per envelope (a re-sent one counts nothing), bounded, and listed on the admin page."""

from __future__ import annotations

from datetime import datetime, timedelta

import orjson
import pytest
from redis import Redis
from streamlit.testing.v1 import AppTest

from cityops import keys
from cityops.read.unknown_devices import gateways_with_unknown_devices
from cityops.settings import REPO_ROOT, get_settings
from fixtures.xiamen import load_sensors
from streams import deadletter
from tests.support.fake_events import FetchedEvent
from tests.support.sensor_agent import dump_db, run_sensor_batch

GATEWAY = "GW-350212-01"  # in cities/xiamen/gateways.csv


def _envelope(envelope_id: str, gateway_id: str, ghosts: list[str]) -> FetchedEvent:
    """One registered sensor's reading and one reading per entry of ``ghosts`` (ids the registry lacks)."""
    sensor = next(s for s in load_sensors() if s.kind == "noise")
    t = (datetime.now(get_settings().tz).replace(microsecond=0) - timedelta(minutes=2)).isoformat()
    readings = [{"sensor_id": sid, "kind": "noise", "metric": "laeq", "unit": "dB(A)", "time": t, "value": 50.0}
                for sid in [sensor.id, *ghosts]]
    return FetchedEvent(orjson.dumps({"v": 1, "envelope_id": envelope_id, "gateway_id": gateway_id, "sent_at": t,
                                      "readings": readings}), 0)


def _today() -> str:
    return keys.day_bucket(datetime.now(get_settings().tz))


@pytest.fixture
def db(redis_url: str) -> str:
    return f"{redis_url.rsplit('/', 1)[0]}/11"


def test_unknown_readings_are_counted_once_per_envelope(agent, db, monkeypatch):
    event = _envelope("ghosts-1", GATEWAY, ["ghost-a", "ghost-b", "ghost-a"])
    run_sensor_batch(agent, db, monkeypatch, [event], part=100)
    r = Redis.from_url(db, decode_responses=True)
    assert r.hget(keys.unknown_devices_daily(_today()), GATEWAY) == "3"
    assert r.hgetall(keys.unknown_device_counts(GATEWAY)) == {"ghost-a": "2", "ghost-b": "1"}
    assert set(r.zrange(keys.unknown_device_ids(GATEWAY), 0, -1)) == {"ghost-a", "ghost-b"}
    assert r.zrange(keys.unknown_device_gateways(), 0, -1) == [GATEWAY]
    assert sum(b"unknown sensor" in value for _, value in deadletter.deadletter_topic.sent) == 3
    before = dump_db(db)

    run_sensor_batch(agent, db, monkeypatch, [event], part=100, fresh=False)  # the same envelope, re-sent
    assert dump_db(db) == before

    async def not_yet_applied(items, event_id):  # noqa: ANN001, ANN202 - another worker applied it meanwhile
        return items

    monkeypatch.setattr(agent, "drop_repeats", not_yet_applied)  # now only the script's claim of its id stops it
    run_sensor_batch(agent, db, monkeypatch, [event], part=100, fresh=False)
    assert dump_db(db) == before
    [row] = gateways_with_unknown_devices(r, datetime.now().timestamp(), get_settings().tz)
    assert (row.gateway_id, row.registered, row.today, row.total) == (GATEWAY, True, 3, 3)
    assert sorted((d.device_id, d.readings) for d in row.devices) == [("ghost-a", 2), ("ghost-b", 1)]
    r.close()


def test_unregistered_gateways_and_their_ids_stay_capped(agent, db, monkeypatch):
    monkeypatch.setattr(keys, "UNKNOWN_GATEWAYS_CAP", 3)
    monkeypatch.setattr(keys, "UNKNOWN_DEVICE_IDS_CAP", 2)
    strangers = [f"GW-FAKE-{i}" for i in range(5)]
    run_sensor_batch(agent, db, monkeypatch, [_envelope("spray-0", strangers[0], ["x-1", "x-2", "x-3", "x-4"])],
                     part=100)
    for i, gw in enumerate(strangers[1:], start=1):  # one batch each: later arrivals, the oldest dropped
        run_sensor_batch(agent, db, monkeypatch, [_envelope(f"spray-{i}", gw, [f"y-{i}"])], part=100, fresh=False)
    r = Redis.from_url(db, decode_responses=True)
    assert r.zrange(keys.unknown_device_strangers(), 0, -1) == strangers[2:]
    assert set(r.hgetall(keys.unknown_devices_daily(_today()))) == set(strangers[2:])
    for dropped in strangers[:2]:
        assert not r.exists(keys.unknown_device_ids(dropped), keys.unknown_device_counts(dropped))
    run_sensor_batch(agent, db, monkeypatch, [_envelope("wide", GATEWAY, ["z-1", "z-2", "z-3", "z-4"])], part=100,
                     fresh=False)
    assert r.zcard(keys.unknown_device_ids(GATEWAY)) == 2
    assert r.hlen(keys.unknown_device_counts(GATEWAY)) == 2, "a dropped id's count goes with it"
    assert r.hget(keys.unknown_devices_daily(_today()), GATEWAY) == "4", "every reading counted all the same"
    r.close()


def test_the_admin_page_lists_unknown_devices_per_gateway(agent, db, monkeypatch, tmp_path):
    run_sensor_batch(agent, db, monkeypatch, [_envelope("page-1", GATEWAY, ["ghost-a", "ghost-a"]),
                                              _envelope("page-2", "GW-FAKE-9", ["ghost:c/1"])], part=100)
    monkeypatch.setenv("CITYOPS_USERS_FILE", str(tmp_path / "users.json"))
    monkeypatch.setenv("CITYOPS_VAR", str(tmp_path))
    get_settings.cache_clear()
    at = AppTest.from_file(str(REPO_ROOT / "dashboard" / "pages" / "admin.py"), default_timeout=60)
    at.session_state["user"] = {"username": "admin", "role": "admin", "display_name": "系统管理员"}
    at.run()
    assert not at.exception, at.exception
    assert any(m.value == "**未登记设备**" for m in at.markdown)
    [table] = [d.value for d in at.dataframe if "网关" in d.value.columns]
    rows = {row["网关"]: row for row in table.to_dict("records")}
    assert rows[GATEWAY]["今日读数"] == 2 and rows[GATEWAY]["30天读数"] == 2
    assert rows[GATEWAY]["最近的未登记设备（最后出现）"].startswith("ghost-a (")
    assert rows["GW-FAKE-9（未登记网关）"]["今日读数"] == 1
    assert rows["GW-FAKE-9（未登记网关）"]["最近的未登记设备（最后出现）"].startswith("ghost:c/1 (")
    get_settings.cache_clear()
