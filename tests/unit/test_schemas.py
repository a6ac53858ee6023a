"""The event contract: good payloads decode, bad ones are refused with a reason that names the problem."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from cityops.schemas import (
    CaseAction,
    CaseEvent,
    ContractError,
    Detection,
    OperatorCommand,
    SensorEnvelope,
    dead_letter,
    decode,
    decode_sensor_envelope,
    encode,
)

T = "2026-11-24T10:00:00+08:00"


def case(**over) -> bytes:
    base = {"v": 1, "event_id": "e-1", "case_id": "XM1", "action": "report", "event_time": T,
            "source": "grid_patrol", "category_code": "E0101", "lon": 118.09, "lat": 24.48}
    base.update(over)
    return orjson.dumps({k: v for k, v in base.items() if v is not ...})


def reading(**over) -> dict:
    base = {"sensor_id": "NS-1", "kind": "noise", "value": 61.5, "unit": "dB(A)", "time": T}
    base.update(over)
    return base


def envelope(readings: list) -> bytes:
    return orjson.dumps({"envelope_id": "env-1", "gateway_id": "GW-1", "sent_at": T, "readings": readings})


def test_good_case_report_round_trips():
    ev = decode(CaseEvent, case())
    assert ev.action is CaseAction.REPORT and ev.located
    again = decode(CaseEvent, encode(ev))
    assert again == ev


def test_unknown_fields_are_tolerated():
    ev = decode(CaseEvent, case(extra_field={"nested": 1}, another="x"))
    assert ev.case_id == "XM1"


@pytest.mark.parametrize(
    ("over", "expected"),
    [
        ({"lon": "118.09"}, "lon: Input should be a valid number"),
        ({"case_id": 12}, "case_id: Input should be a valid string"),
        ({"action": "teleport"}, "action: Input should be"),
        ({"event_time": "2026-11-24T10:00:00"}, "timezone"),
        ({"event_time": "1999-12-31T23:00:00+08:00"}, "outside 2000-01-01"),
        ({"lon": 200.0}, "lon: Input should be less than or equal to 136"),
        ({"lat": ...}, "lon and lat must be given together"),
        ({"category_code": "E9999"}, "unknown category code 'E9999'"),
        ({"category_code": "garbage"}, "category_code: String should match pattern"),
        ({"source": ...}, "a report needs its source channel"),
        ({"v": 2}, "unsupported schema version"),
        ({"address": "x" * 501}, "address: String should have at most 500 characters"),
        ({"description": "a\x00b"}, "NUL"),
        ({"evidence_ref": "../../etc/passwd"}, "relative path inside the evidence store"),
    ],
)
def test_bad_case_payloads_are_refused_with_reason(over, expected):
    with pytest.raises(ContractError) as err:
        decode(CaseEvent, case(**over))
    assert expected in str(err.value)
    assert err.value.event_id == "e-1"


def test_dispatch_needs_department_and_extend_needs_length():
    with pytest.raises(ContractError, match="department_id"):
        decode(CaseEvent, case(action="dispatch", source=..., category_code=...))
    with pytest.raises(ContractError, match="extension"):
        decode(CaseEvent, case(action="extend", source=..., category_code=...))
    with pytest.raises(ContractError, match="approver"):  # 延期 only with an approver's name
        decode(CaseEvent, case(action="extend", extension="2d", source=..., category_code=...))
    with pytest.raises(ContractError, match="approver"):
        decode(CaseEvent, case(action="extend", extension="2d", approver="  ", source=..., category_code=...))
    ok = decode(CaseEvent, case(action="extend", extension="2d", approver="王科长", source=..., category_code=...))
    assert ok.extension == "2d" and ok.approver == "王科长"


def test_parking_needs_its_approver_and_kind():
    with pytest.raises(ContractError, match="approver"):
        decode(CaseEvent, case(action="park", park_kind="postponed", source=..., category_code=...))
    with pytest.raises(ContractError, match="park_kind"):
        decode(CaseEvent, case(action="park", approver="王科长", source=..., category_code=...))
    ok = decode(CaseEvent, case(action="park", approver="王科长", park_kind="suspended", source=..., category_code=...))
    assert ok.park_kind == "suspended"


def test_non_json_and_nan_are_refused():
    with pytest.raises(ContractError, match="not valid JSON"):
        decode(CaseEvent, b"\xff\xfe garbage")
    with pytest.raises(ContractError, match="finite"):
        decode(SensorEnvelope, envelope([reading()]).replace(b"61.5", b"NaN"))
    with pytest.raises(ContractError, match="finite"):
        decode(SensorEnvelope, envelope([reading()]).replace(b"61.5", b"Infinity"))


def test_future_times_beyond_skew_are_refused():
    future = (datetime.now(UTC) + timedelta(days=3)).isoformat()
    with pytest.raises(ContractError, match="outside"):
        decode(CaseEvent, case(event_time=future))


def test_sensor_envelope_keeps_good_readings_and_names_bad_ones():
    readings = [reading(), reading(sensor_id="NS-2", value=999.0), reading(sensor_id="NS-3", kind="heat"),
                "garbage", reading(sensor_id="DS-1", kind="dust", metric="pm10", value=88.0, unit="ug/m3"),
                reading(sensor_id="DS-2", kind="dust", unit="dB(A)"), reading(sensor_id="SM-1", kind="smoke",
                                                                               value=0.5, unit="state")]
    env, good, bad = decode_sensor_envelope(envelope(readings))
    assert env.envelope_id == "env-1"
    assert [r.sensor_id for r in good] == ["NS-1", "DS-1"]
    assert good[0].metric == "laeq"  # default metric filled in
    reasons = {i: reason for i, _, reason in bad}
    assert set(reasons) == {1, 2, 3, 5, 6}
    assert "outside 0..160" in reasons[1]
    assert "kind" in reasons[2]
    assert "object" in reasons[3]
    assert "unit 'dB(A)' is not valid for dust" in reasons[5]
    assert "smoke value must be 0" in reasons[6]


def test_broken_envelope_is_refused_whole():
    with pytest.raises(ContractError, match="readings"):
        decode_sensor_envelope(orjson.dumps({"envelope_id": "e", "gateway_id": "g", "sent_at": T, "readings": []}))
    with pytest.raises(ContractError, match="gateway_id"):
        decode_sensor_envelope(orjson.dumps({"envelope_id": "e", "sent_at": T, "readings": [reading()]}))


def detection(**over) -> bytes:
    base = {"event_id": "cap-1", "camera_id": "CAM-0001", "ai_type": "illegal_parking", "confidence": 0.8,
            "box": [10, 20, 110, 220], "frame_width": 640, "frame_height": 360, "track_id": "7",
            "first_seen": T, "last_seen": T, "dwell_s": 130.0, "evidence_ref": "CAM-0001/20261124/cap-1.jpg",
            "detector": "classical"}
    base.update(over)
    return orjson.dumps(base)


def test_detection_rules():
    assert decode(Detection, detection()).ai_type == "illegal_parking"
    for over, msg in [({"box": [110, 20, 10, 220]}, "x1 < x2"), ({"box": [10, 20, 700, 220]}, "outside the frame"),
                      ({"confidence": 1.5}, "confidence"), ({"ai_type": "jaywalking"}, "ai_type"),
                      ({"evidence_ref": "/etc/passwd"}, "relative path"),
                      ({"first_seen": "2026-11-24T11:00:00+08:00"}, "last_seen is before first_seen")]:
        with pytest.raises(ContractError, match=msg):
            decode(Detection, detection(**over))


def test_operator_command_rules():
    cmd = {"command_id": "c-1", "action": "dispatch", "target_kind": "case", "target_id": "XM1",
           "user": "值班员张三", "role": "duty", "issued_at": T}
    with pytest.raises(ContractError, match="department_id"):
        decode(OperatorCommand, orjson.dumps(cmd))
    ok = decode(OperatorCommand, orjson.dumps(cmd | {"department_id": "DSQ-350203", "note": "<script>x</script>"}))
    assert ok.note == "<script>x</script>"  # kept as text; escaping is the display's job
    assert ok.kid is None and ok.sig is None  # unsigned passes the contract; the command agent refuses it (auth)


def test_operator_command_carries_a_known_role_and_a_well_formed_signature():
    cmd = {"command_id": "c-1", "action": "acknowledge", "target_kind": "case", "target_id": "XM1",
           "user": "值班员张三", "role": "duty", "issued_at": T}
    for bad, msg in [({"role": None}, "role"), ({"role": "root"}, "role"), ({"role": "Duty"}, "role"),
                     ({"kid": "k 1"}, "kid"), ({"kid": "k" * 33}, "kid"), ({"sig": "x" * 42}, "sig"),
                     ({"sig": "+" * 43}, "sig"), ({"sig": 1}, "sig")]:
        with pytest.raises(ContractError, match=msg):
            decode(OperatorCommand, orjson.dumps({k: v for k, v in (cmd | bad).items() if v is not None}))
    signed = decode(OperatorCommand, orjson.dumps(cmd | {"kid": "k2026", "sig": "A" * 42 + "w"}))
    assert signed.kid == "k2026"


def test_dead_letter_keeps_raw_bytes_exactly():
    raw = b"\x00\xffbinary"
    dl = dead_letter("cityops.cases", raw, "not valid JSON", "validate", partition=1, offset=5, key=b"k")
    assert dl.payload_encoding == "base64" and base64.b64decode(dl.payload) == raw
    assert dl.raw_payload() == raw
    assert decode(type(dl), encode(dl)).reason == "not valid JSON"
    text = dead_letter("t", "<b>html</b>", "r", "validate")
    assert text.payload == "<b>html</b>" and text.payload_encoding == "utf-8"
