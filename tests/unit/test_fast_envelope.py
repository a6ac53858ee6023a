"""The fast envelope decoder accepts only what the pydantic contract accepts, and reads it the same way."""

from __future__ import annotations

import copy
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cityops.fast_envelope import ReadingColumns, decode_canonical, decode_columns
from cityops.schemas import decode_sensor_envelope

TZ = ZoneInfo("Asia/Shanghai")
STAMP = (datetime.now(TZ) - timedelta(minutes=5)).replace(microsecond=0).isoformat()


def canonical() -> dict:
    return {"v": 1, "envelope_id": "GW-1-1", "gateway_id": "GW-1", "sent_at": STAMP, "readings": [
        {"sensor_id": "NS-0001-LAEQ", "kind": "noise", "metric": "laeq", "value": 63.5, "unit": "dB(A)", "time": STAMP},
        {"sensor_id": "DS-0001-PM10", "kind": "dust", "value": 80, "unit": "ug/m3", "time": STAMP},
        {"sensor_id": "SM-0001", "kind": "smoke", "metric": None, "value": 1.0, "unit": "state", "time": STAMP}]}


def _agree(raw: bytes) -> None:
    fast = decode_canonical(raw)
    columns = decode_columns(raw, {})
    assert (fast is None) == (columns is None)
    if fast is None:
        return
    assert columns[1].readings() == fast[1]
    try:
        envelope, good, bad = decode_sensor_envelope(raw)
    except Exception as err:  # noqa: BLE001
        raise AssertionError(f"fast path accepted what the contract refuses: {raw!r}: {err}") from None
    assert not bad, f"fast path accepted readings the contract refuses: {bad}"
    assert fast[0].envelope_id == envelope.envelope_id
    assert [r.model_dump() for r in fast[1]] == [
        {"sensor_id": g.sensor_id, "kind": g.kind.value, "metric": g.metric, "value": g.value, "unit": g.unit,
         "time": g.time.isoformat()} for g in good]


def test_canonical_envelope_takes_the_fast_path_and_reads_the_same():
    raw = orjson.dumps(canonical())
    assert decode_canonical(raw) is not None
    _agree(raw)


MUTATIONS = [
    ("v", True), ("v", 2), ("v", 1.0), ("envelope_id", "a b"), ("envelope_id", "x\n"), ("envelope_id", ""),
    ("gateway_id", 5), ("sent_at", "1764000000"), ("sent_at", "2026-11-24T09:30:00"),
    ("sent_at", "1999-01-01T00:00:00Z"),
    ("readings", []), ("extra", "ignored by the contract, slow path here"),
]
READING_MUTATIONS = [
    ("value", float("nan")), ("value", True), ("value", "63"), ("value", 161.0), ("value", -1), ("unit", "dB"),
    ("metric", "lamax"), ("metric", "pm10"), ("metric", 3), ("kind", "heat"), ("time", "2999-01-01T00:00:00+08:00"),
    ("time", STAMP.replace("T", " ")), ("sensor_id", "NS 1"), ("sensor_id", "x" * 129),
    ("time", "2026-11-24T25:00:00+08:00"), ("time", "2026-02-30T10:00:00+08:00"), ("time", "2026-11-24T10:00:00+99:00"),
]


def test_every_mutation_is_refused_or_agreed_on():
    for key, value in MUTATIONS:
        env = canonical()
        env[key] = value
        raw = orjson.dumps(env, option=orjson.OPT_SERIALIZE_NUMPY) if key != "extra" else orjson.dumps(env)
        _agree(raw)
    for key, value in READING_MUTATIONS:
        env = canonical()
        env["readings"][0][key] = value
        try:
            raw = orjson.dumps(env)
        except orjson.JSONEncodeError:
            raw = orjson.dumps(env, option=orjson.OPT_NON_STR_KEYS)
        assert decode_canonical(raw) is None or key == "metric" and value == "lamax", (key, value)
        _agree(raw)


json_values = st.one_of(st.none(), st.booleans(), st.integers(-10, 10**6), st.floats(allow_nan=False),
                        st.text(max_size=20), st.sampled_from([STAMP, "noise", "dust", "smoke", "dB(A)", "laeq"]))


@settings(max_examples=400, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(["sensor_id", "kind", "metric", "value", "unit", "time", "other"]), json_values,
       st.integers(0, 2))
def test_random_reading_changes_never_widen_the_contract(key, value, index):
    env = copy.deepcopy(canonical())
    env["readings"][index][key] = value
    _agree(orjson.dumps(env))


def test_columns_share_time_parses_across_a_batch_and_read_like_objects():
    times: dict = {}
    first, second = canonical(), canonical()
    second["envelope_id"] = "GW-1-2"
    a = decode_columns(orjson.dumps(first), times)
    b = decode_columns(orjson.dumps(second), times)
    assert a is not None and b is not None
    assert a[1].times[0] is b[1].times[0]  # one parse, one object: its hash is worked out once
    assert a[1].specs[1] == (a[1].specs[1][0], "pm10", "ug/m3")  # the default metric filled in
    again = ReadingColumns.from_readings(a[1].readings())
    assert again.readings() == a[1].readings() and again.specs == a[1].specs


def test_unhashable_fields_go_to_the_contract_path():
    for key in ("kind", "metric", "unit", "sensor_id", "time"):
        env = canonical()
        env["readings"][0][key] = ["noise"]
        assert decode_columns(orjson.dumps(env)) is None, key
