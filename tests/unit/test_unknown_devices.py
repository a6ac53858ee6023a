"""The effects that count readings of unknown devices per gateway (pure: the ops recorded, no Redis)."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from cityops import keys
from streams.effects import Effects
from streams.unknown_devices import count_unknown_devices

TZ = ZoneInfo("Asia/Shanghai")
NOW = 1_767_225_600.0  # 2026-01-01 08:00 in Xiamen
DAY = keys.unknown_devices_daily("20260101")


def _ops(readings: list[tuple[str, str]], registered: set[str]) -> list[tuple]:
    return count_unknown_devices(Effects("e1"), readings, registered, NOW, TZ).ops


def test_three_readings_of_two_ids_count_three_and_list_two_ids():
    ops = _ops([("GW-1", "ghost-a"), ("GW-1", "ghost-b"), ("GW-1", "ghost-a")], {"GW-1"})
    assert ("HINCRBY", DAY, "GW-1", "3", "") in ops
    counts = {op[2]: op[3] for op in ops if op[0] == "HINCRBY" and op[1] == keys.unknown_device_counts("GW-1")}
    assert counts == {"ghost-a": "2", "ghost-b": "1"}
    [ids] = [op for op in ops if op[0] == "ZADDCAP" and op[1] == keys.unknown_device_ids("GW-1")]
    assert ids[2] == [repr(NOW), "ghost-a", repr(NOW), "ghost-b"] and ids[3] == str(keys.UNKNOWN_DEVICE_IDS_CAP)
    assert ids[4] == [["h", keys.unknown_device_counts("GW-1")]], "a dropped id takes its count with it"
    assert ("ZADD", keys.unknown_device_gateways(), repr(NOW), "GW-1", "") in ops
    assert not any(op[1] == keys.unknown_device_strangers() for op in ops), "a registered gateway is never capped"


def test_an_unregistered_gateway_is_tracked_capped_and_owns_its_keys():
    ops = _ops([("GW-X", "ghost")], {"GW-1"})
    [index] = [op for op in ops if op[1] == keys.unknown_device_strangers()]
    assert index[0] == "ZADDCAP" and index[2] == [repr(NOW), "GW-X"] and index[3] == str(keys.UNKNOWN_GATEWAYS_CAP)
    assert index[4] == [["h", DAY], ["k", keys.unknown_device_ids("")], ["k", keys.unknown_device_counts("")]]
    assert keys.unknown_device_ids("") + "GW-X" == keys.unknown_device_ids("GW-X")
    assert ops.index(index) > max(i for i, op in enumerate(ops) if op[1] != keys.unknown_device_strangers()
                                  and op[0] != "EXPIRE"), "indexed last: dropped at once, it leaves nothing"
    assert not any(op[1] == keys.unknown_device_gateways() for op in ops)


def test_every_key_written_expires_and_no_readings_write_nothing():
    ops = _ops([("GW-1", "a"), ("GW-2", "b")], {"GW-1"})
    written = {op[1] for op in ops if op[0] in ("HINCRBY", "ZADDCAP") and not op[1].startswith("co:unkdev:strangers")}
    expired = {op[1] for op in ops if op[0] == "EXPIRE" and op[2] == str(keys.UNKNOWN_DEVICES_RETENTION_S)}
    assert written <= expired
    assert _ops([], {"GW-1"}) == []
