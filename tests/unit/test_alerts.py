"""The alert model: each kind's stored form is what its writer stored before the model (byte for byte, one renamed
field aside), it reads back as it was built, and every older stored form still reads."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest

from cityops import alerts
from cityops.alerts import Alert, AlertKind, AlertState, Severity

AT = datetime.fromisoformat("2026-11-25T10:00:00+08:00")
NOW = 1_764_036_000.25


def _exceedance() -> Alert:
    return Alert.sensor_exceedance(sensor_id="NS-1", sensor_kind="noise", episode=3, severity=Severity.MAJOR,
                                   metric="laeq", value=88.26, limit=85.0, unit="dB(A)", at=AT, case_id="IOT-NS-1-3",
                                   grid="G1", district="350203", lon=118.1, lat=24.5, name_zh="工地1")


def _sla() -> Alert:
    return Alert.sla_overdue(case_id="C1", stage="dispatch", deadline_ts=1764036000.0,
                             deadline="2026-11-25T10:00:00+08:00", urgent=True, at=datetime.fromtimestamp(NOW, UTC),
                             district="350203", street="35020301", grid="G1", category="A0101", department="D1",
                             lon=118.0894, lat=None)


def _offline() -> Alert:
    return Alert.device_offline(sensor_id="NS-2", silent_since=1764035000.5, at=datetime.fromtimestamp(NOW, UTC),
                                name_zh="工地2", grid="G2", lon=118.2, lat=24.6)


def _capture() -> Alert:
    return Alert.ai_capture(capture_event_id="cap-9", case_id="AI-x", camera_id="CAM-1", ai_type="illegal_parking",
                            evidence_ref="evidence/cap-9.jpg", grid="G3", lon=118.3, lat=24.7, at=AT)


def _command() -> Alert:
    return Alert.command_record(command_id="cmd-1", target_kind="alert", target_id="sla:C1:dispatch:1764036000",
                                action="acknowledge", user="张三(zs)", at=AT)


def _cleared() -> Alert:
    return Alert.sensor_cleared(sensor_id="NS-1", sensor_kind="noise", episode=3, case_id="IOT-NS-1-3", at=AT)


def _online() -> Alert:
    return Alert.device_online(alert_id="offline:NS-2:1764035000", sensor_id="NS-2", at=AT)


def _dumps(record: dict) -> str:
    return orjson.dumps(record).decode()


def test_each_kind_is_stored_as_its_writer_stored_it():
    """The dicts below are what the writers built by hand before the model, in their order."""
    iso = AT.isoformat()
    assert _sla().to_json() == _dumps(
        {"id": "sla:C1:dispatch:1764036000", "type": "sla_overdue", "severity": "critical", "case_id": "C1",
         "stage": "dispatch", "deadline": "2026-11-25T10:00:00+08:00", "district": "350203", "street": "35020301",
         "grid": "G1", "category": "A0101", "department": "D1", "lon": "118.0894", "lat": "", "at": NOW})
    assert _offline().to_json() == _dumps(
        {"id": "offline:NS-2:1764035000", "type": "device_offline", "severity": "minor", "state": "active",
         "sensor_id": "NS-2", "silent_since": 1764035000.5, "name_zh": "工地2", "grid": "G2", "lon": 118.2,
         "lat": 24.6, "at": NOW})
    assert _capture().to_json() == _dumps(
        {"id": "capture:cap-9", "type": "ai_capture", "severity": "minor", "state": "active", "case_id": "AI-x",
         "camera_id": "CAM-1", "ai_type": "illegal_parking", "evidence_ref": "evidence/cap-9.jpg", "grid": "G3",
         "lon": 118.3, "lat": 24.7, "at": iso})
    assert _command().to_json() == _dumps(
        {"id": "command:cmd-1", "type": "command", "severity": "info", "state": "done", "target_kind": "alert",
         "target_id": "sla:C1:dispatch:1764036000", "action": "acknowledge", "user": "张三(zs)", "at": iso})
    assert _cleared().to_json() == _dumps(
        {"id": "sensor:NS-1:3", "severity": "info", "state": "cleared", "at": iso, "type": "noise_cleared",
         "sensor_id": "NS-1", "case_id": "IOT-NS-1-3"})
    assert _online().to_json() == _dumps(
        {"id": "offline:NS-2:1764035000", "severity": "info", "state": "cleared", "at": iso, "type": "device_online",
         "sensor_id": "NS-2"})
    # The one change: the exceedance's raised time is ``at`` (it was ``since``), in the same place.
    assert _exceedance().to_json() == _dumps(
        {"id": "sensor:NS-1:3", "type": "noise_exceedance", "severity": "major", "state": "active",
         "sensor_id": "NS-1", "metric": "laeq", "value": 88.3, "limit": 85.0, "unit": "dB(A)", "at": iso,
         "case_id": "IOT-NS-1-3", "grid": "G1", "district": "350203", "lon": 118.1, "lat": 24.5, "name_zh": "工地1"})


def test_each_hash_starts_as_its_writer_wrote_it():
    assert _sla().to_hash() == {"id": "sla:C1:dispatch:1764036000", "type": "sla_overdue", "severity": "critical",
                                "state": "active", "case_id": "C1", "stage": "dispatch",
                                "deadline": "2026-11-25T10:00:00+08:00", "acknowledged": "0"}
    assert _offline().hash_flat() == ["id", "offline:NS-2:1764035000", "type", "device_offline", "severity", "minor",
                                      "state", "active", "sensor_id", "NS-2", "silent_since", "1764035000.5",
                                      "acknowledged", "0"]
    exceedance = _exceedance()
    assert exceedance.to_hash() == {k: str(v) for k, v in orjson.loads(exceedance.to_json()).items()} | {
        "acknowledged": "0"}
    for no_hash in (_capture(), _command(), _cleared(), _online()):
        with pytest.raises(ValueError, match="has no hash"):
            no_hash.to_hash()
    assert alerts.cleared_fields(AT.isoformat()) == {"state": "cleared", "cleared_at": AT.isoformat()}


@pytest.mark.parametrize("build", [_exceedance, _sla, _offline, _capture, _command, _cleared, _online])
def test_an_alert_reads_back_as_it_was_built(build):
    alert = build()
    assert Alert.from_json(alert.to_json()) == alert
    assert Alert.from_json(orjson.loads(alert.to_json())) == alert
    assert Alert.from_json(alert.to_json()).raised_ts == pytest.approx(alert.at.timestamp(), abs=1e-6)


def test_older_stored_forms_still_read():
    old_exceedance = {"id": "sensor:S1:1", "type": "dust_exceedance", "severity": "major", "state": "active",
                      "sensor_id": "S1", "value": 160.0, "limit": 150, "since": "2026-11-25T10:00:00+08:00"}
    alert = Alert.from_json(old_exceedance)
    assert alert.kind is AlertKind.SENSOR_EXCEEDANCE and alert.sensor_kind == "dust" and alert.at == AT
    assert alert.type == "dust_exceedance" and alert.limit == 150.0
    old_exceedance_hash = {k: str(v) for k, v in old_exceedance.items()} | {"acknowledged": "0"}
    assert Alert.from_hash(old_exceedance_hash).at == AT
    # An offline alert's hash kept its silent-since time as ``since`` (text of an epoch number).
    old_offline_hash = {"id": "offline:S2:1764035000", "type": "device_offline", "severity": "minor",
                        "state": "active", "sensor_id": "S2", "since": "1764035000.5", "acknowledged": "0"}
    offline = Alert.from_hash(old_offline_hash, raised=1764035000.5)
    assert offline.silent_since == 1764035000.5 and offline.raised_ts == 1764035000.5
    assert Alert.from_hash(old_offline_hash).at is None
    # The SLA hash keeps no raised time: its score in the active alerts stands in.
    sla_hash = _sla().to_hash()
    assert Alert.from_hash(sla_hash, raised=1764036000.0).raised_ts == 1764036000.0
    assert Alert.from_hash({"type": "sla_overdue"}, "sla:C2:handle:1").id == "sla:C2:handle:1"
    # Hand-written entries: no time, severity or state.
    bare = Alert.from_json({"id": "a-1", "type": "sla_overdue"})
    assert bare.at is None and bare.severity is Severity.MINOR and bare.state is AlertState.ACTIVE
    assert Alert.from_json({"id": "c", "type": "command"}).state is AlertState.DONE
    assert Alert.from_json({"id": "x", "type": "noise_cleared", "at": 1764036000}).state is AlertState.CLEARED
    assert Alert.from_json({"id": "x", "type": "ai_capture", "at": "1764036000.5"}).raised_ts == 1764036000.5


@pytest.mark.parametrize("bad", [
    "[1, 2]", {"type": "sla_overdue"}, {"id": "x"}, {"id": "x", "type": "mystery"}, {"id": "x", "type": "_exceedance"},
    {"id": "x", "type": "sla_overdue", "at": "yesterday"}, {"id": "x", "type": "sla_overdue", "severity": "huge"},
    {"id": "x", "type": "ai_capture", "lon": [1]}, {"id": 7, "type": "command"},
])
def test_what_is_no_alert_is_refused_with_a_reason(bad):
    with pytest.raises(ValueError):
        Alert.from_json(bad if isinstance(bad, str) else orjson.dumps(bad))


def test_ids_and_their_kinds():
    assert alerts.sla_alert_id("C:1", "handle", 1764036000.9) == "sla:C:1:handle:1764036000"
    assert alerts.sensor_alert_id("S1", 4) == "sensor:S1:4"
    assert alerts.offline_alert_id("S1", 1764035000.5) == "offline:S1:1764035000"
    assert alerts.capture_alert_id("e1") == "capture:e1" and alerts.command_alert_id("c1") == "command:c1"
    built = [_sla(), _exceedance(), _offline(), _capture(), _command()]
    assert [alerts.kind_of_id(a.id) for a in built] == [a.kind for a in built]
    assert all(a.id.startswith(alerts.id_prefix(a.kind)) for a in built)
    assert alerts.kind_of_id("a-1") is None
    assert alerts.exceedance_type("gas_pressure") == "gas_pressure_exceedance"
    assert Alert.from_json({"id": "x", "type": "gas_pressure_exceedance"}).sensor_kind == "gas_pressure"
