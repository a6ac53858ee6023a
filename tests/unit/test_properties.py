"""Property-based tests (hypothesis) of the pure logic every hostile message goes through.

Why properties and not more examples: the contract's promise is about *all* inputs ("anything that breaks
the contract is refused with a reason, nothing else ever escapes"), and example tests only cover the cases
someone thought of. Hypothesis searches byte strings, JSON documents and event sequences for a
counter-example. Runs are derandomized (the same examples on every machine, so CI is deterministic) and
bounded so that the file stays well under 30 s.
"""

from __future__ import annotations

import asyncio
import math
import string
from datetime import UTC, datetime, timedelta
from functools import cache
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import orjson
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from cityops.catalogue import get_catalogue
from cityops.schemas import (
    DEAD_LETTER_PAYLOAD_BYTES,
    LAT_MAX,
    LAT_MIN,
    LON_MAX,
    LON_MIN,
    MAX_MESSAGE_BYTES,
    CaseAction,
    CaseEvent,
    CaseSource,
    ContractError,
    DeadLetter,
    Detection,
    OperatorCommand,
    ParkKind,
    SensorEnvelope,
    dead_letter,
    decode,
    decode_sensor_envelope,
    encode,
)
from cityops.workcalendar import WorkCalendar
from fixtures.xiamen import load_cameras, load_city
from streams import lifecycle as lc
from streams.case_projection import CaseContext, CaseView, ProjectionError, project_case_event
from streams.command_projection import CommandRefused, project_command
from streams.detection_projection import DetectionContext, project_detection

TZ = ZoneInfo("Asia/Shanghai")
MODELS = (CaseEvent, Detection, OperatorCommand, SensorEnvelope)
# derandomize: the same examples on every run and machine; database=None: nothing remembered between runs either
FAST = settings(max_examples=150, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow])
SLOW = settings(max_examples=40, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow])

# ------------------------------------------------------------------------------------------ strategies

ID_ALPHABET = string.ascii_letters + string.digits + "_.:@/+-"
ids = st.text(ID_ALPHABET, min_size=1, max_size=40)
long_ids = st.text(ID_ALPHABET, min_size=120, max_size=128)
# free text: anything Unicode but NUL and lone surrogates (which JSON cannot carry as UTF-8); HTML included
free_text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=60) | \
    st.sampled_from(["<script>alert(1)</script>", "<img src=x onerror=alert(1)>", "'; DROP TABLE x; --", "网格员"])
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
# allow_imaginary=False: no wall-clock times inside a summer-time gap (02:30 on the day clocks jump from 02:00
# to 03:00), which no clock shows and so no producer sends; they cannot round-trip through a UTC offset.
times = st.datetimes(min_value=datetime(2000, 1, 2), max_value=datetime(2026, 11, 1),
                     timezones=st.sampled_from([UTC, TZ, ZoneInfo("America/Los_Angeles")]), allow_imaginary=False)
lons = st.floats(min_value=LON_MIN, max_value=LON_MAX, allow_nan=False)
lats = st.floats(min_value=LAT_MIN, max_value=LAT_MAX, allow_nan=False)
json_scalars = st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False,
                                                                                    allow_infinity=False) | st.text()
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=12)


def _json(value: object) -> bytes:
    """JSON of a generated value (the standard library writes integers orjson refuses)."""
    import json

    return json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass")


@st.composite
def case_events(draw: st.DrawFn, action: CaseAction | None = None) -> CaseEvent:
    action = action or draw(st.sampled_from(list(CaseAction)))
    located = draw(st.booleans())
    data: dict[str, object] = {
        "event_id": draw(ids), "case_id": draw(ids), "action": action, "event_time": draw(times),
        "source": draw(st.sampled_from(list(CaseSource))) if action is CaseAction.REPORT or draw(st.booleans())
        else None,
        "category_code": draw(st.sampled_from(sorted(c.code for c in get_catalogue())))
        if action is CaseAction.REPORT else None,
        "lon": draw(lons) if located else None, "lat": draw(lats) if located else None,
        "department_id": draw(ids) if action is CaseAction.DISPATCH else None,
        "extension": draw(st.from_regex(r"[1-9][0-9]{0,2}[mhd]", fullmatch=True))
        if action is CaseAction.EXTEND else None,
        "approver": draw(free_text.filter(str.strip)) if action in (CaseAction.EXTEND, CaseAction.PARK) else None,
        "park_kind": draw(st.sampled_from(list(ParkKind))) if action is CaseAction.PARK else None,
        "actor": draw(free_text), "address": draw(free_text),
        "description": draw(free_text.filter(str.strip) if action is CaseAction.RETURN else free_text),
        "urgent": draw(st.booleans()),
    }
    return CaseEvent.model_validate(data)


@st.composite
def detections(draw: st.DrawFn) -> Detection:
    w, h = draw(st.integers(2, 4096)), draw(st.integers(2, 4096))
    x1, y1 = draw(st.integers(0, w - 2)), draw(st.integers(0, h - 2))
    x2, y2 = draw(st.integers(x1 + 1, w)), draw(st.integers(y1 + 1, h))
    first = draw(times)
    return Detection.model_validate({
        "event_id": draw(ids), "camera_id": draw(ids), "ai_type": "illegal_parking",
        "confidence": draw(st.floats(0, 1)), "box": [float(x1), float(y1), float(x2), float(y2)],
        "frame_width": w, "frame_height": h, "track_id": draw(ids), "first_seen": first,
        "last_seen": first + timedelta(seconds=draw(st.integers(0, 3600))), "dwell_s": draw(st.floats(0, 3600)),
        "evidence_ref": "cam/x.jpg", "detector": draw(free_text.filter(lambda t: len(t) <= 64))})


@st.composite
def readings(draw: st.DrawFn) -> dict:
    kind = draw(st.sampled_from(["noise", "dust", "smoke"]))
    value = {"noise": st.floats(0, 160), "dust": st.floats(0, 5000), "smoke": st.sampled_from([0.0, 1.0])}[kind]
    unit = {"noise": "dB(A)", "dust": "ug/m3", "smoke": "state"}[kind]
    return {"sensor_id": draw(ids), "kind": kind, "value": draw(value), "unit": unit,
            "time": draw(times).isoformat()}


def _case_base() -> dict:
    return {"v": 1, "event_id": "e-1", "case_id": "C-1", "action": "report", "event_time": "2026-11-24T10:00:00+08:00",
            "source": "grid_patrol", "category_code": "E0102", "lon": 118.09, "lat": 24.48, "address": "中山路"}


def _bases() -> dict[type, dict]:
    t = "2026-11-24T10:00:00+08:00"
    return {
        CaseEvent: _case_base(),
        Detection: {"event_id": "d-1", "camera_id": "CAM-0001", "ai_type": "illegal_parking", "confidence": 0.9,
                    "box": [1.0, 2.0, 30.0, 40.0], "frame_width": 640, "frame_height": 360, "track_id": "7",
                    "first_seen": t, "last_seen": t, "dwell_s": 30.0, "evidence_ref": "c/x.jpg", "detector": "t"},
        OperatorCommand: {"command_id": "k-1", "action": "acknowledge", "target_kind": "case", "target_id": "C-1",
                          "user": "u", "role": "duty", "issued_at": t},
        SensorEnvelope: {"envelope_id": "env-1", "gateway_id": "GW-1", "sent_at": t, "readings": [
            {"sensor_id": "NS-1", "kind": "noise", "value": 60.0, "unit": "dB(A)", "time": t}]},
    }


def _refused(model: type, raw: bytes) -> ContractError | None:
    """Decode; the refusal if refused. Anything other than a clean refusal fails the test by propagating."""
    try:
        if model is SensorEnvelope:
            decode_sensor_envelope(raw)
        else:
            decode(model, raw)
    except ContractError as err:
        assert err.reason and isinstance(err.reason, str)
        return err
    return None


# --------------------------------------------------------------------------- decode: only clean refusals


@FAST
@given(raw=st.binary(max_size=400), model=st.sampled_from(MODELS))
def test_arbitrary_bytes_are_refused_cleanly(raw: bytes, model: type) -> None:
    err = _refused(model, raw)
    assert err is not None  # no byte string short of a real message passes
    dl = dead_letter("t", raw, err.reason, "validate")
    assert dl.raw_payload() == raw and DeadLetter.model_validate_json(encode(dl)).raw_payload() == raw


@FAST
@given(value=json_values, model=st.sampled_from(MODELS))
def test_arbitrary_json_is_refused_cleanly(value: object, model: type) -> None:
    assert _refused(model, _json(value)) is not None


@FAST
@given(model=st.sampled_from(MODELS), data=st.data())
def test_any_field_replaced_by_any_json_value_is_decoded_or_refused_cleanly(model: type, data: st.DataObject) -> None:
    base = _bases()[model]
    fieldname = data.draw(st.sampled_from(sorted(base) + ["v", "extra"]))
    body = base | {fieldname: data.draw(json_values)}
    err = _refused(model, _json(body))
    if err is not None and fieldname not in ("event_id", "envelope_id", "command_id"):
        # the refusal names the message's id, so the dead letter can be traced to its producer
        assert err.event_id == next(base[k] for k in ("event_id", "envelope_id", "command_id") if k in base)


@FAST
@given(text=st.text(max_size=50))
def test_decoding_python_text_never_raises_but_a_refusal(text: str) -> None:
    _refused(CaseEvent, text)  # str input, lone surrogates included


# ------------------------------------------------------------------------------------------ round trips


@FAST
@given(event=case_events())
def test_case_events_round_trip(event: CaseEvent) -> None:
    assert decode(CaseEvent, encode(event)) == event


@FAST
@given(det=detections())
def test_detections_round_trip(det: Detection) -> None:
    assert decode(Detection, encode(det)) == det


@FAST
@given(items=st.lists(readings(), min_size=1, max_size=20))
def test_sensor_envelopes_round_trip(items: list[dict]) -> None:
    raw = orjson.dumps({"envelope_id": "env-1", "gateway_id": "GW-1", "sent_at": "2026-11-24T10:00:00+08:00",
                        "readings": items})
    env = decode(SensorEnvelope, raw)
    assert decode(SensorEnvelope, encode(env)) == env
    _, good, bad = decode_sensor_envelope(raw)
    assert len(good) == len(items) and bad == []


# -------------------------------------------------------------------------- each rule, over its whole range


def _with_token(body: dict, fieldname: str, token: str) -> bytes:
    return orjson.dumps(body | {fieldname: "__T__"}).replace(b'"__T__"', token.encode())


@FAST
@given(model=st.sampled_from([CaseEvent, Detection]), token=st.sampled_from(["NaN", "Infinity", "-Infinity", "1e999",
                                                                              "-1e400"]),
       data=st.data())
def test_non_finite_numbers_are_refused(model: type, token: str, data: st.DataObject) -> None:
    fieldname = data.draw(st.sampled_from(["lon", "lat"] if model is CaseEvent else ["confidence", "dwell_s", "lon"]))
    body = _bases()[model] | ({"lon": 118.1, "lat": 24.4} if fieldname in ("lon", "lat") else {})
    err = _refused(model, _with_token(body, fieldname, token))
    assert err is not None and fieldname in err.reason and ("finite" in err.reason or "number" in err.reason)


@FAST
@given(token=st.sampled_from(["NaN", "Infinity", "-Infinity", "1e999"]), n=st.integers(0, 5))
def test_a_non_finite_reading_is_refused_alone(token: str, n: int) -> None:
    good = {"sensor_id": "NS-1", "kind": "noise", "value": 60.0, "unit": "dB(A)", "time": "2026-11-24T10:00:00+08:00"}
    bad = _with_token(good, "value", token)
    raw = (b'{"envelope_id":"e","gateway_id":"g","sent_at":"2026-11-24T10:00:00+08:00","readings":['
           + b",".join([orjson.dumps(good)] * n + [bad]) + b"]}")
    _, ok, refused = decode_sensor_envelope(raw)
    assert len(ok) == n and [i for i, _, _ in refused] == [n] and "value" in refused[0][2]


@FAST
@given(fieldname=st.sampled_from(["actor", "address", "description"]), extra=st.integers(1, 3000),
       char=st.sampled_from(["x", "字", "<", "\U0001f525"]))
def test_text_over_its_bound_is_refused_naming_the_field(fieldname: str, extra: int, char: str) -> None:
    limit = {"actor": 64, "address": 500, "description": 4000}[fieldname]
    err = _refused(CaseEvent, orjson.dumps(_case_base() | {fieldname: char * (limit + extra)}))
    assert err is not None and fieldname in err.reason and f"at most {limit} characters" in err.reason


@FAST
@given(extra=st.integers(1, 5000))
def test_messages_over_the_size_limit_are_refused_even_when_otherwise_valid(extra: int) -> None:
    for model, body in _bases().items():
        raw = orjson.dumps(body | {"padding": ""})
        raw = raw.replace(b'"padding":""', b'"padding":"' + b"x" * (MAX_MESSAGE_BYTES - len(raw) + extra) + b'"')
        assert len(raw) > MAX_MESSAGE_BYTES
        err = _refused(model, raw)
        assert err is not None and "exceeds" in err.reason


@FAST
@given(lon=st.floats(allow_nan=False, allow_infinity=False), lat=st.floats(allow_nan=False, allow_infinity=False))
def test_coordinates_outside_china_are_refused(lon: float, lat: float) -> None:
    inside = LON_MIN <= lon <= LON_MAX and LAT_MIN <= lat <= LAT_MAX
    err = _refused(CaseEvent, orjson.dumps(_case_base() | {"lon": lon, "lat": lat}))
    assert (err is None) == inside
    if err is not None:
        assert "lon" in err.reason or "lat" in err.reason


@FAST
@given(when=st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30),
                         timezones=st.sampled_from([UTC, TZ, ZoneInfo("Pacific/Kiritimati")])))
def test_times_before_2000_or_after_tomorrow_are_refused(when: datetime) -> None:
    now = datetime.now(UTC)
    assume(abs((when - (now + timedelta(hours=24))).total_seconds()) > 60)  # not on the moving edge
    err = _refused(CaseEvent, orjson.dumps(_case_base() | {"event_time": when.isoformat()}))
    valid = EARLIEST <= when <= now + timedelta(hours=24)
    assert (err is None) == valid
    if err is not None:
        assert "event_time" in err.reason
        if when.utcoffset().seconds % 60 == 0:  # (historic local mean times have offsets in seconds: unparseable)
            assert "outside 2000-01-01" in err.reason


@FAST
@given(text=st.text(max_size=30))
def test_times_that_are_not_iso_8601_with_an_offset_are_refused(text: str) -> None:
    try:
        parsed = datetime.fromisoformat(text)
        assume(parsed.tzinfo is None)  # a real ISO time with an offset is the one thing allowed
    except ValueError:
        pass
    err = _refused(CaseEvent, orjson.dumps(_case_base() | {"event_time": text}))
    assert err is not None and "event_time" in err.reason


@FAST
@given(version=json_values.filter(lambda v: not (type(v) is int and v == 1)))
def test_any_version_but_the_integer_1_is_refused(version: object) -> None:
    err = _refused(CaseEvent, _json(_case_base() | {"v": version}))
    assert err is not None and "unsupported schema version" in err.reason


@FAST
@given(code=st.from_regex(r"[CE][0-9]{4}", fullmatch=True))
def test_unknown_category_codes_are_refused(code: str) -> None:
    err = _refused(CaseEvent, orjson.dumps(_case_base() | {"category_code": code}))
    assert (err is None) == (code in get_catalogue())
    if err is not None:
        assert f"unknown category code {code!r}" in err.reason


@FAST
@given(value=free_text)
def test_html_and_script_in_free_text_are_kept_verbatim(value: str) -> None:
    ev = decode(CaseEvent, orjson.dumps(_case_base() | {"address": value, "description": value}))
    assert ev.address == value and ev.description == value


@FAST
@given(value=st.sampled_from(["<script>", "a b", "a\nb", "x" * 129, "", "é", "a;b", "a,b"]))
def test_ids_outside_their_alphabet_are_refused(value: str) -> None:
    err = _refused(CaseEvent, orjson.dumps(_case_base() | {"case_id": value}))
    assert err is not None and "case_id" in err.reason


# ----------------------------------------------------------------------------------------- dead letters


@FAST
@given(raw=st.binary(max_size=2000) | st.sampled_from([b"\x00" * 300_000, b"\x01" * (MAX_MESSAGE_BYTES + 10)]))
def test_a_dead_letter_always_fits_in_one_kafka_message(raw: bytes) -> None:
    dl = dead_letter("cityops.cases", raw, "reason", "validate", key=b"\xff\xfe")
    encoded = encode(dl)
    assert len(encoded) < 1_048_576  # the producer's request limit
    back = DeadLetter.model_validate_json(encoded)
    assert back.payload_size == len(raw) and back.raw_payload() == raw[:DEAD_LETTER_PAYLOAD_BYTES]
    assert back.payload_truncated == (len(raw) > DEAD_LETTER_PAYLOAD_BYTES)


@FAST
@given(item=json_values | st.text().map(lambda t: t + "\ud800") | st.integers(2**64, 2**200))
def test_a_dead_letter_can_carry_any_refused_reading(item: object) -> None:
    """A reading refused inside an envelope travels as the parsed item; whatever it holds, no crash."""
    dl = dead_letter("cityops.sensors", item, "reading 0: bad", "reading")
    assert DeadLetter.model_validate_json(encode(dl)).reason == "reading 0: bad"


@FAST
@given(value=st.integers(2**64, 2**300) | st.integers(-(2**300), -(2**64)))
def test_a_reading_with_a_huge_integer_is_refused_by_its_value(value: int) -> None:
    raw = (b'{"envelope_id":"e","gateway_id":"g","sent_at":"2026-11-24T10:00:00+08:00","readings":[{"sensor_id":"s",'
           b'"kind":"noise","unit":"dBA","time":"2026-11-24T10:00:00+08:00","value":' + str(value).encode() + b"}]}")
    _, good, bad = decode_sensor_envelope(raw)
    assert good == [] and len(bad) == 1 and "outside 0..160" in bad[0][2]
    dead_letter("cityops.sensors", bad[0][1], bad[0][2], "reading")


# ------------------------------------------------------------------------------------ lifecycle machine

actions = st.sampled_from(list(CaseAction))


@FAST
@given(path=st.lists(actions, max_size=25))
def test_lifecycle_follows_its_table_and_nothing_follows_a_final_state(path: list[CaseAction]) -> None:
    state: str | None = None
    for action in path:
        allowed, target = lc.TRANSITIONS[action]
        try:
            nxt = lc.next_state(state, action)
        except lc.IllegalTransition as err:
            assert state not in allowed and str(err)
            if state in lc.FINAL_STATES:
                assert f"after the case was {state} (final)" in str(err)
            continue
        assert state not in lc.FINAL_STATES, f"{action.value} accepted after {state}"
        assert state in allowed and nxt == (target or state)
        assert nxt in lc.OPEN_STATES | lc.FINAL_STATES
        if state is None:
            assert action is CaseAction.REPORT
        state = nxt


@FAST
@given(final=st.sampled_from(sorted(lc.FINAL_STATES)), action=actions)
def test_every_step_after_closed_voided_or_rejected_is_illegal(final: str, action: CaseAction) -> None:
    with pytest.raises(lc.IllegalTransition):
        lc.next_state(final, action)


@cache
def case_ctx() -> CaseContext:
    """A plain cached function, not a fixture: hypothesis would print a fixture's (large) value with each example."""
    return CaseContext(load_city(), get_catalogue(), WorkCalendar.load(tz=TZ), TZ)


@SLOW
@given(steps=st.lists(st.tuples(st.sampled_from(["A", "B"]), actions, st.integers(0, 600),
                                st.sampled_from(["DSAN-350203", "NO-SUCH-DEPT"]), st.booleans()),
                      min_size=1, max_size=20))
def test_case_projection_refuses_cleanly_and_never_moves_past_a_final_state(steps: list) -> None:
    """Any sequence of well-formed steps: each is applied or refused with ProjectionError, never crashes."""
    views: dict[str, CaseView | None] = {}
    start = datetime(2026, 11, 23, 9, 0, tzinfo=TZ)
    for n, (cid, action, minutes, dept, grid) in enumerate(steps):
        data: dict[str, object] = {"event_id": f"{cid}-{n}", "case_id": cid, "action": action,
                                   "event_time": start + timedelta(minutes=minutes), "department_id": dept,
                                   "extension": "2d", "approver": "值班长", "park_kind": ParkKind.POSTPONED,
                                   "description": "不属于本部门职责",
                                   "source": CaseSource.GRID_PATROL, "category_code": "E0102"}
        data |= {"grid_id": "999999999999999"} if not grid else {"lon": 118.0894, "lat": 24.4798}
        event = CaseEvent.model_validate(data)
        before = views.get(cid)
        try:
            _, after = project_case_event(event, before, case_ctx())
        except ProjectionError as err:
            assert str(err)
            continue
        assert before is None or before.state not in lc.FINAL_STATES
        views[cid] = after


# ---------------------------------------------------------------------------------------------- dedupe


@FAST
@given(batch=st.lists(st.sampled_from([f"e{i}" for i in range(8)]), max_size=30),
       applied=st.sets(st.sampled_from([f"e{i}" for i in range(8)])))
def test_drop_repeats_keeps_each_new_id_once_in_order(monkeypatch_writer, batch: list[str], applied: set[str]) -> None:
    from streams.agents.batch import drop_repeats

    monkeypatch_writer.applied = applied
    items = [(SimpleNamespace(n=i), SimpleNamespace(event_id=eid)) for i, eid in enumerate(batch)]
    kept = asyncio.run(drop_repeats(items, lambda m: m.event_id))
    kept_ids = [m.event_id for _, m in kept]
    first_new = [eid for i, eid in enumerate(batch) if eid not in applied and eid not in batch[:i]]
    assert kept_ids == first_new
    assert [e.n for e, _ in kept] == [batch.index(eid) for eid in first_new]  # the first copy, not a later one


class _FakeWriter:
    applied: set[str] = set()

    async def seen(self, event_ids) -> set[str]:  # noqa: ANN001 - mirrors EffectWriter.seen
        return {i for i in event_ids if i in self.applied}


@pytest.fixture(scope="module")
def monkeypatch_writer():
    from streams import runtime

    fake = _FakeWriter()
    original = runtime.writer
    runtime.writer = lambda: fake  # type: ignore[assignment]
    try:
        yield fake
    finally:
        runtime.writer = original  # type: ignore[assignment]


# ------------------------------------------------------- agents' projections: refusal, never an exception


@SLOW
@given(command_id=long_ids, action=st.sampled_from(["dispatch", "false_alarm", "close"]))
def test_any_valid_command_is_applied_or_refused_never_raises(command_id: str, action: str) -> None:
    cmd = decode(OperatorCommand, orjson.dumps({"command_id": command_id, "action": action, "target_kind": "case",
                                                "target_id": "C-1", "user": "u", "role": "admin",
                                                "department_id": "DSAN-350203",
                                                "issued_at": "2026-11-24T10:00:00+08:00"}))
    try:
        project_command(cmd, {"state": "verified", "case_id": "C-1"}, {}, received_at=cmd.issued_at,
                        tz=ZoneInfo("Asia/Shanghai"))
    except CommandRefused:
        pass


@cache
def detection_ctx() -> DetectionContext:
    return DetectionContext({c.id: c for c in load_cameras()}, load_city(), get_catalogue(), TZ)


@SLOW
@given(event_id=long_ids)
def test_any_valid_capture_is_accepted_or_set_aside_never_raises(event_id: str) -> None:
    ctx = detection_ctx()
    camera = next(iter(ctx.cameras.values()))
    det = decode(Detection, orjson.dumps(_bases()[Detection] | {"event_id": event_id, "camera_id": camera.id}))
    outcome = project_detection(det, [], ctx)
    assert outcome.effects is not None
    assert not math.isnan(det.confidence)
