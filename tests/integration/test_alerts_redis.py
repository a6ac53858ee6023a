"""The offline timer's Lua script on a real Redis stores the Alert model, and the readers read it back."""

from __future__ import annotations

from datetime import UTC, datetime

from cityops.alerts import Alert

NOW = 1_764_036_000.25


def _offline() -> Alert:
    return Alert.device_offline(sensor_id="NS-2", silent_since=1764035000.5, at=datetime.fromtimestamp(NOW, UTC),
                                name_zh="工地2", grid="G2", lon=118.2, lat=24.6)


def test_the_offline_timers_script_stores_the_model_and_the_readers_read_it(redis_client):
    """The offline timer's script takes the alert's hash fields as arguments (no id parsing) and the feed and the
    active alerts read it back; the big screen's overview finds the sensor offline from the alert's own hash."""
    from cityops import keys, read
    from streams.lua import source

    r = redis_client
    alert = _offline()
    r.zadd(keys.sensors_seen(), {"NS-2": alert.silent_since})
    r.zadd(keys.sensors_index(), {"NS-2": alert.silent_since})
    r.hset(keys.sensor("NS-2"), mapping={"kind": "noise", "value": "70"})
    args = ["NS-2", repr(alert.silent_since), alert.id, keys.ALERTS_MAXLEN, alert.to_json(), *alert.hash_flat()]
    sensor_keys = [keys.sensor("NS-2"), keys.sensors_seen(), keys.alert(alert.id), keys.active_alerts(), keys.alerts()]
    script = r.register_script(source("raise_offline"))
    assert script(keys=sensor_keys, args=args) == 1 and script(keys=sensor_keys, args=args) == 0, "raised once"
    assert r.hgetall(keys.alert(alert.id)) == alert.to_hash()
    assert r.hget(keys.sensor("NS-2"), "offline_alert") == alert.id
    assert read.alert_feed(r) == [alert]
    assert read.sensor_overview(r) == {"NS-2": {"offline": "1"}}
    row, = read.alerts_current(r, active_beyond=0)
    assert row["id"] == alert.id and row["at"] == NOW and float(row["silent_since"]) == alert.silent_since
